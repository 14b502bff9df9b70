"""Auth (issue 9, point 1): operator tokens and partner keys.

- No operator token configured: every operator endpoint answers 403
  forbidden, whatever the Authorization header says.
- Tokens configured: a missing, malformed or wrong token answers 401
  unauthorized with WWW-Authenticate: Bearer.
- Partner keys per source (auth.sources.<source>.key_env) work the same for
  that source's endpoint only: a source with no key set is 403, another
  source's key is 401.
- The WebSocket auth message uses the same check.
- SIGHUP reads the variables the reloaded config names again.
- No token or key ever appears in a log line or an error message."""

import json
import signal
import time

import ltharness as h
from conftest import OPERATOR_TOKEN

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-fedcba9876543210"
KEY_A2 = "key-a-rotated-5555"
TOKEN_NEW = "op-token-rotated-7777"
SECRETS = (OPERATOR_TOKEN, "op-token-2", KEY_A, KEY_B, KEY_A2, TOKEN_NEW)

SOURCES = {"auth": {"sources": {"partner-a": {"key_env": "LT_TEST_KEY_A"},
                                "partner-b": {"key_env": "LT_TEST_KEY_B"},
                                "partner-c": {"key_env": "LT_TEST_KEY_C_UNSET"}}}}
KEYS_ENV = {"LT_TEST_KEY_A": KEY_A, "LT_TEST_KEY_B": KEY_B, "LT_TEST_KEY_A2": KEY_A2,
            "LT_TEST_TOKENS_NEW": TOKEN_NEW}


def put(srv, path, body, headers=()):
    hdrs = [("Content-Type", "application/json")] + list(headers)
    return srv.request("PUT", path, body=json.dumps(body), headers=hdrs)


def bearer(token):
    return [("Authorization", "Bearer " + token)]


def report(srv, stream, source, headers=(), views=10, likes=5):
    return put(srv, "/v1/streams/%s/sources/%s" % (stream, source),
               {"views": views, "likes": likes}, headers)


# Authorization headers that are missing, malformed or wrong for anything.
BAD_HEADERS = [
    ("missing", []),
    ("basic", [("Authorization", "Basic b3AtdG9rZW4tMTp4")]),
    ("bearer-empty", [("Authorization", "Bearer ")]),
    ("bearer-no-space", [("Authorization", "Bearer" + OPERATOR_TOKEN)]),
    ("token-alone", [("Authorization", OPERATOR_TOKEN)]),
    ("wrong", bearer("not-a-token")),
    ("prefix", bearer(OPERATOR_TOKEN[:-1])),
    ("longer", bearer(OPERATOR_TOKEN + "x")),
    ("case", bearer(OPERATOR_TOKEN.upper())),
]


def assert_401(r):
    h.assert_error(r, 401, "unauthorized")
    assert r.header("WWW-Authenticate") == "Bearer", r


def assert_403(r):
    h.assert_error(r, 403, "forbidden")
    assert r.header("WWW-Authenticate") is None, r


def test_operator_none_configured_403_whatever_the_header(lt):
    srv = lt()  # LIVETALLY_OPERATOR_TOKENS unset
    for name, hdrs in BAD_HEADERS + [("good-elsewhere", bearer(OPERATOR_TOKEN))]:
        r = put(srv, "/v1/streams/auth-none", {"title": "x"}, hdrs)
        assert_403(r)
    # An empty variable is no token either.
    srv2 = lt(env={"LIVETALLY_OPERATOR_TOKENS": " , "})
    assert_403(put(srv2, "/v1/streams/auth-none", {"title": "x"}, bearer(" ")))
    h.assert_error(srv.get("/v1/streams/auth-none"), 404, "unknown_stream")


def test_operator_configured_401(lt):
    srv = lt(operator=True)
    for name, hdrs in BAD_HEADERS:
        r = put(srv, "/v1/streams/auth-op", {"title": "x"}, hdrs)
        assert r.status == 401, (name, r)
        assert_401(r)
    h.assert_error(srv.get("/v1/streams/auth-op"), 404, "unknown_stream")
    # Both configured tokens work; "bearer" in any case is the scheme.
    for token in (OPERATOR_TOKEN, "op-token-2"):
        r = put(srv, "/v1/streams/auth-op", {"title": "x"}, bearer(token))
        assert r.status == 200, r
    r = put(srv, "/v1/streams/auth-op", {"title": "y"},
            [("Authorization", "bEARER " + OPERATOR_TOKEN)])
    assert r.status == 200, r
    # A partner key is not an operator token.
    srv2 = lt(SOURCES, env=KEYS_ENV, operator=True)
    assert_401(put(srv2, "/v1/streams/auth-op2", {"title": "x"}, bearer(KEY_A)))


def test_partner_keys(lt):
    srv = lt(SOURCES, env=KEYS_ENV, operator=True)
    assert put(srv, "/v1/streams/auth-p", {"title": "x"}, bearer(OPERATOR_TOKEN)).status == 200
    # Its own key opens its own source's endpoint.
    r = report(srv, "auth-p", "partner-a", bearer(KEY_A))
    assert r.status == 200, r
    r = report(srv, "auth-p", "partner-b", bearer(KEY_B))
    assert r.status == 200, r
    # Another source's key, an operator token, or a bad header: 401.
    for hdrs in [bearer(KEY_B), bearer(OPERATOR_TOKEN), bearer(KEY_A + "x"), bearer(KEY_A[:-1]),
                 [("Authorization", KEY_A)], []]:
        assert_401(report(srv, "auth-p", "partner-a", hdrs))
    assert_401(report(srv, "auth-p", "partner-b", bearer(KEY_A)))
    # A configured source whose variable is unset, or a source not
    # configured at all: 403 whatever the header.
    for source in ("partner-c", "partner-z", "direct"):
        for hdrs in ([], bearer(KEY_A), bearer(OPERATOR_TOKEN)):
            assert_403(report(srv, "auth-p", source, hdrs))
    # No source configured: every source is 403.
    srv2 = lt(operator=True)
    assert_403(report(srv2, "auth-p", "partner-a", bearer(KEY_A)))
    # Auth comes before the stream: an unknown stream says nothing to a
    # caller without the key.
    assert_401(report(srv, "auth-unknown", "partner-a", bearer(KEY_B)))
    h.assert_error(report(srv, "auth-unknown", "partner-a", bearer(KEY_A)), 404,
                   "unknown_stream")
    # The reports made it, and the refused ones did not.
    t = srv.totals("auth-p")
    assert t["sources"]["partner-a"]["reported"]["views"] == 10, t
    assert set(t["sources"]) == {"partner-a", "partner-b"}, t


def test_ws_auth_same_check(lt):
    srv = lt(operator=True)
    with h.ws_connect(srv, "/v1/ws") as ws:
        ws.send_json({"type": "auth", "token": "wrong"})
        assert ws.wait_error()["code"] == "unauthorized"
        ws.send_json({"type": "auth"})
        assert ws.wait_error()["code"] == "unauthorized"
        ws.send_json({"type": "auth", "token": OPERATOR_TOKEN[:-1]})
        assert ws.wait_error()["code"] == "unauthorized"
        ws.send_json({"type": "auth", "token": "op-token-2"})
        assert ws.wait_message(lambda m: m.get("type") == "auth") == {"type": "auth", "ok": True}
    none = lt()
    with h.ws_connect(none, "/v1/ws") as ws:
        ws.send_json({"type": "auth", "token": OPERATOR_TOKEN})
        assert ws.wait_error()["code"] == "forbidden"


def rewrite(srv, overrides):
    srv.config = h.deep_merge(srv.config, overrides)
    srv.write_config()


def wait_status(fn, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        r = fn()
        if r.status == want:
            return r
        if time.monotonic() > deadline:
            raise AssertionError("expected %s, still %r" % (want, r))
        time.sleep(0.05)


def test_sighup_picks_up_changed_tokens_and_keys(lt):
    """A running process' environment cannot change, so tokens and keys are
    rotated by naming other variables (set at start) and sending SIGHUP;
    every worker reads them again."""
    srv = lt(h.deep_merge(SOURCES, {"workers": 2}), env=KEYS_ENV, operator=True)
    assert put(srv, "/v1/streams/auth-hup", {"title": "x"}, bearer(OPERATOR_TOKEN)).status == 200
    assert report(srv, "auth-hup", "partner-a", bearer(KEY_A)).status == 200
    assert_403(report(srv, "auth-hup", "partner-d", bearer(KEY_A2)))
    srv.config["auth"]["sources"] = {}  # replaced whole, not merged
    rewrite(srv, {"auth": {"operator_tokens_env": "LT_TEST_TOKENS_NEW",
                           "sources": {"partner-a": {"key_env": "LT_TEST_KEY_A2"},
                                       "partner-d": {"key_env": "LT_TEST_KEY_A"}}}})
    srv.send_signal(signal.SIGHUP)
    # Every worker: several fresh connections each time.
    for _ in range(8):
        wait_status(lambda: put(srv, "/v1/streams/auth-hup", {"title": "y"}, bearer(TOKEN_NEW)),
                    200)
        assert_401(put(srv, "/v1/streams/auth-hup", {"title": "y"}, bearer(OPERATOR_TOKEN)))
        wait_status(lambda: report(srv, "auth-hup", "partner-a", bearer(KEY_A2)), 200)
        assert_401(report(srv, "auth-hup", "partner-a", bearer(KEY_A)))
        assert report(srv, "auth-hup", "partner-d", bearer(KEY_A)).status == 200
        # partner-b was dropped from the config: 403 now.
        assert_403(report(srv, "auth-hup", "partner-b", bearer(KEY_B)))
    # Back to no token at all: 403 for operators.
    rewrite(srv, {"auth": {"operator_tokens_env": "LT_TEST_NOT_SET"}})
    srv.send_signal(signal.SIGHUP)
    for _ in range(8):
        assert_403(wait_status(
            lambda: put(srv, "/v1/streams/auth-hup", {"title": "z"}, bearer(TOKEN_NEW)), 403))


def test_no_secret_in_logs_or_errors(lt):
    srv = lt(h.deep_merge(SOURCES, {"log_level": "debug"}), env=KEYS_ENV, operator=True)
    bodies = []
    assert put(srv, "/v1/streams/auth-log", {"title": "x"}, bearer(OPERATOR_TOKEN)).status == 200
    # Right and wrong tokens and keys, on every endpoint that takes them.
    for token in SECRETS + ("wrong-" + KEY_A,):
        for r in (put(srv, "/v1/streams/auth-log", {"title": "x"}, bearer(token)),
                  report(srv, "auth-log", "partner-a", bearer(token)),
                  report(srv, "auth-log", "partner-b", bearer(token)),
                  report(srv, "auth-log", "partner-c", bearer(token)),
                  report(srv, "auth-log", "partner-a", bearer(token), views=-1),
                  report(srv, "auth-unknown", "partner-a", bearer(token))):
            bodies.append(r.body.decode("utf-8", "replace"))
            bodies.append(str(r.headers))
    # A lower report logs a warning: it names the stream and source only.
    assert report(srv, "auth-log", "partner-a", bearer(KEY_A), views=100).status == 200
    assert report(srv, "auth-log", "partner-a", bearer(KEY_A), views=50).status == 200
    with h.ws_connect(srv, "/v1/ws") as ws:
        for token in (OPERATOR_TOKEN + "x", KEY_A):
            ws.send_json({"type": "auth", "token": token})
            bodies.append(json.dumps(ws.wait_error()))
    # A reload logs what it did, and nothing secret.
    srv.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    srv.stop()
    log = srv.stderr_text()
    assert "lower than its previous report" in log, log[-2000:]
    for secret in SECRETS:
        assert secret not in log, "a secret is in the log"
        for b in bodies:
            assert secret not in b, "a secret is in an answer: %s" % b
