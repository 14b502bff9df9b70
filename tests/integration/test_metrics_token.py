"""/metrics behind a token (issue 10, point 3): metrics.token_env names the
variable holding the one bearer token GET /metrics needs.

- null (the default): /metrics is open, operator tokens or not.
- set: no Authorization, a malformed one, a wrong token or an operator token
  answer 401 unauthorized (the contract's body, WWW-Authenticate: Bearer);
  the token answers 200 with the Prometheus text. HEAD the same.
- set but the variable unset or empty: --check-config and start-up refuse
  the config naming the key and the variable; a SIGHUP to such a config is
  refused and the running one (and its token) stays.
- SIGHUP applies a change in every worker: open -> token -> another token
  (rotation through another variable) -> open.
The servers here log at debug, and the tokens are recorded for the suite's
log grep (conftest.py)."""

import json
import signal
import time

import ltharness as h
from conftest import OPERATOR_TOKEN

METRICS_TOKEN = "metrics-token-3141592653"
METRICS_TOKEN_2 = "metrics-token-rotated-2718281828"
ENV = {"LT_TEST_METRICS_TOKEN": METRICS_TOKEN, "LT_TEST_METRICS_TOKEN_2": METRICS_TOKEN_2,
       "LT_TEST_METRICS_EMPTY": ""}
DEBUG = {"log_level": "debug"}
TOKEN_CFG = {"log_level": "debug", "metrics.token_env": "LT_TEST_METRICS_TOKEN"}


def bearer(token):
    return [("Authorization", "Bearer " + token)]


# Every way of not presenting the metrics token.
REFUSED = [
    ("missing", []),
    ("basic", [("Authorization", "Basic bWV0cmljczp4")]),
    ("bearer-empty", [("Authorization", "Bearer ")]),
    ("token-alone", [("Authorization", METRICS_TOKEN)]),
    ("wrong", bearer("not-the-metrics-token")),
    ("prefix", bearer(METRICS_TOKEN[:-1])),
    ("longer", bearer(METRICS_TOKEN + "0")),
    ("operator", bearer(OPERATOR_TOKEN)),
    ("other-token", bearer(METRICS_TOKEN_2)),
]


def assert_401(r):
    h.assert_error(r, 401, "unauthorized")
    assert r.header("WWW-Authenticate") == "Bearer", r
    assert b"livetally_" not in r.body, r


def assert_metrics(r):
    assert r.status == 200, r
    assert r.header("Content-Type", "").startswith("text/plain"), r
    assert b"\nlivetally_" in r.body, r.body[:300]


def get_metrics(c, headers=(), method="GET"):
    return c.request(method, "/metrics", headers=list(headers))


def expect_on(c, token):
    """On connection c: /metrics open (token None) or needing `token`."""
    if token is None:
        assert_metrics(get_metrics(c))
        assert_metrics(get_metrics(c, bearer("anything")))
        return
    for name, hdrs in REFUSED:
        if hdrs and hdrs[0][1] == "Bearer " + token:
            continue
        r = get_metrics(c, hdrs)
        try:
            assert_401(r)
        except AssertionError as e:
            raise AssertionError("%s: %s" % (name, e))
    assert_metrics(get_metrics(c, bearer(token)))


def expect_every_worker(srv, pids, token, timeout=5.0):
    """Every worker in pids answers /metrics as expect_on(token) says; a
    worker still on the old config is given until timeout."""
    last = None
    deadline = time.monotonic() + timeout
    while True:
        conns = h.conns_by_worker(srv, pids)
        try:
            for c in conns.values():
                expect_on(c, token)
            return
        except AssertionError as e:
            last = e
        finally:
            for c in conns.values():
                c.close()
        if time.monotonic() > deadline:
            raise AssertionError("not every worker applied the metrics token: %s" % last)
        time.sleep(0.1)


def rewrite(srv, overrides):
    srv.config = h.deep_merge(srv.config, overrides)
    srv.write_config()


def two_workers(srv):
    return h.wait_until(lambda: (lambda k: k if len(k) == 2 else None)(srv.workers()), 5,
                        desc="two workers")


def test_open_by_default(lt):
    srv = lt(DEBUG, operator=True)
    with srv.conn() as c:
        expect_on(c, None)
        assert_metrics(get_metrics(c, bearer(OPERATOR_TOKEN)))
        assert get_metrics(c, method="HEAD").status == 200


def test_token_required(lt):
    srv = lt(TOKEN_CFG, env=ENV, operator=True)
    with srv.conn() as c:
        expect_on(c, METRICS_TOKEN)
        # HEAD is GET without the body: the same check.
        r = get_metrics(c, method="HEAD")
        assert r.status == 401 and r.header("WWW-Authenticate") == "Bearer", r
        r = get_metrics(c, bearer(METRICS_TOKEN), method="HEAD")
        assert r.status == 200, r
        # The scheme is case-insensitive (RFC 7235), the token is not.
        assert_metrics(get_metrics(c, [("Authorization", "bearer " + METRICS_TOKEN)]))
        assert_401(get_metrics(c, bearer(METRICS_TOKEN.upper())))
    # The rest of the API does not care about the metrics token.
    assert srv.get("/healthz").status == 200
    assert h.metric(srv, "events_accepted_total", token=METRICS_TOKEN) is not None


def test_missing_or_empty_variable_is_refused(lt_binary, lt, tmp_path):
    for var, env in (("LT_TEST_METRICS_UNSET", {}),
                     ("LT_TEST_METRICS_EMPTY", {"LT_TEST_METRICS_EMPTY": ""})):
        path = tmp_path / ("m-%s.json" % var)
        path.write_text(json.dumps({"listen": "127.0.0.1:0", "metrics": {"token_env": var}}))
        for args in (["--check-config"], []):
            rc, out, err = h.run_binary(lt_binary, ["--config", str(path)] + args, env=env)
            assert rc != 0 and "livetally ready" not in out, (var, args, rc, out, err)
            assert "%s: metrics.token_env: the environment variable %s is not set or is empty" \
                % (path, var) in err, err
    path = tmp_path / "m-ok.json"
    path.write_text(json.dumps({"metrics": {"token_env": "LT_TEST_METRICS_TOKEN"}}))
    rc, out, err = h.run_binary(lt_binary, ["--config", str(path), "--check-config"], env=ENV)
    assert rc == 0, (rc, out, err)
    assert METRICS_TOKEN not in out + err


def test_sighup_applies_and_rotates_the_token_in_every_worker(lt):
    srv = lt(h.deep_merge(DEBUG, {"workers": 2}), env=ENV, operator=True)
    kids = two_workers(srv)
    expect_every_worker(srv, kids, None, timeout=0)

    # A keep-alive connection from before the reload sees the token needed.
    before = h.conns_by_worker(srv, kids)
    rewrite(srv, {"metrics": {"token_env": "LT_TEST_METRICS_TOKEN"}})
    srv.send_signal(signal.SIGHUP)
    h.wait_until(lambda: srv.stderr_text().count("config reloaded from") >= 2, 5,
                 desc="both workers' reload lines")
    expect_every_worker(srv, kids, METRICS_TOKEN)
    for c in before.values():
        try:
            expect_on(c, METRICS_TOKEN)
        finally:
            c.close()

    # Rotation: another variable, set at start.
    rewrite(srv, {"metrics": {"token_env": "LT_TEST_METRICS_TOKEN_2"}})
    srv.send_signal(signal.SIGHUP)
    expect_every_worker(srv, kids, METRICS_TOKEN_2)

    # A variable that is empty: the reload is refused, the token stays.
    for var in ("LT_TEST_METRICS_EMPTY", "LT_TEST_METRICS_NOT_SET"):
        n = srv.stderr_text().count("config not reloaded")
        rewrite(srv, {"metrics": {"token_env": var}})
        srv.send_signal(signal.SIGHUP)
        line = h.wait_until(
            lambda: [l for l in srv.stderr_text().splitlines() if "config not reloaded" in l][n:],
            5, desc="the master's error line")[0]
        assert "metrics.token_env: the environment variable %s is not set or is empty" % var \
            in line, line
        expect_every_worker(srv, kids, METRICS_TOKEN_2, timeout=0)

    # Back to open.
    rewrite(srv, {"metrics": {"token_env": None}})
    srv.send_signal(signal.SIGHUP)
    expect_every_worker(srv, kids, None)
    assert sorted(srv.workers()) == kids, "a reload restarted workers"
    srv.stop()
    log = srv.stderr_text()
    for secret in (METRICS_TOKEN, METRICS_TOKEN_2, OPERATOR_TOKEN):
        assert secret not in log, "a token is in the log"
