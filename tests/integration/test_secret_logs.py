"""No secret in any log line (issue 10, point 3).

conftest.py greps every log the session kept for every secret the tests
handed out (ltharness.SECRETS, LOGS). Here: that grep itself (it finds a
planted secret, names the file and the line and never prints the secret),
what counts as a secret, and a server at log_level debug handed every kind
of secret at once (operator tokens, partner keys, the metrics token, a Redis
password) and driven through every path that reads one, right and wrong,
plus a Redis restart (AUTH again) and a wrong Redis password."""

import json
import signal
import time

import pytest

import ltharness as h
from conftest import OPERATOR_TOKEN

REDIS_PASSWORD = "redis-pass-8c1f0e22d9"
WRONG_REDIS_PASSWORD = "redis-pass-wrong-41b7"
METRICS_TOKEN = "metrics-token-77e0c4a1"
KEY_A = "partner-key-3f9a2b71"
ENV = {"LT_TEST_REDIS_PASSWORD": REDIS_PASSWORD, "LT_TEST_METRICS": METRICS_TOKEN,
       "LT_TEST_KEY_A": KEY_A}
ALL = (OPERATOR_TOKEN, "op-token-2", REDIS_PASSWORD, METRICS_TOKEN, KEY_A)


def bearer(token):
    return [("Authorization", "Bearer " + token)]


# ---------------------------------------------------------------------------
# the grep


def test_grep_names_file_and_line_and_masks_the_secret(tmp_path):
    log = tmp_path / "x.stderr"
    log.write_bytes(b"first line\nworker[0] info api: token=s3cret-value-123 seen\n"
                    b"\xff\xfe not utf-8, then s3cret-value-123")
    clean = tmp_path / "clean.stderr"
    clean.write_text("s3cret-value-12 (a prefix is not the secret)\n")
    secrets = {"s3cret-value-123": "LT_X to lt9"}
    found = h.secrets_in_logs([str(log), str(clean), str(tmp_path / "missing")], secrets)
    assert found == [(str(log), 2, "LT_X to lt9", "worker[0] info api: token=<secret> seen"),
                     (str(log), 3, "LT_X to lt9", found[1][3])], found
    assert "s3cret-value-123" not in h.describe_secret_findings(found)
    assert "%s:2: the secret LT_X to lt9:" % log in h.describe_secret_findings(found)
    assert h.secrets_in_logs([str(clean)], secrets) == []


def test_what_counts_as_a_secret():
    got = {}
    config = {"auth": {"sources": {"a": {"key_env": "PARTNER_A"}}},
              "redis": {"password_env": "R_PW"}, "metrics": {"token_env": "M_VAR"}}
    env = {"LIVETALLY_OPERATOR_TOKENS": " tok-one-111 , ,tok-two-222", "PARTNER_A": "key-a-12345",
           "R_PW": "redis-pw-1234", "M_VAR": "m-token-1234", "LT_TEST_KEY_LATER": "later-key-99",
           "FAKETIME_TIMESTAMP_FILE": "/tmp/not-a-secret", "LT_TEST_EMPTY_TOKEN": ""}
    h.record_env_secrets(env, "lt0", config, into=got)
    assert sorted(got) == ["key-a-12345", "later-key-99", "m-token-1234", "redis-pw-1234",
                           "tok-one-111", "tok-two-222"], got
    assert got["tok-two-222"] == "LIVETALLY_OPERATOR_TOKENS to lt0"
    # Without the config, the default operator variable still counts.
    got = {}
    h.record_env_secrets({"LIVETALLY_OPERATOR_TOKENS": "tok-one-111", "OTHER": "x" * 20}, "lt1",
                         into=got)
    assert got == {"tok-one-111": "LIVETALLY_OPERATOR_TOKENS to lt1"}
    with pytest.raises(AssertionError, match="shorter than"):
        h.record_secret("short", "LT_TEST_KEY to lt2", into={})


def test_the_harness_records_what_it_hands_out(lt):
    srv = lt({"metrics.token_env": "LT_TEST_METRICS"}, env={"LT_TEST_METRICS": METRICS_TOKEN},
             operator=True)
    for secret in (OPERATOR_TOKEN, "op-token-2", METRICS_TOKEN):
        assert secret in h.SECRETS, secret
    for path in (srv.stdout_path, srv.stderr_path):
        assert path in h.LOGS
    # A restart keeps the previous run's output beside the new one.
    srv.stop()
    srv.start()
    kept = [p for p in h.LOGS if p.endswith("/%s.1.stderr" % srv.name)]
    assert len(kept) == 1, h.LOGS[-6:]
    with open(kept[0]) as f:
        assert "all workers stopped" in f.read()
    assert "all workers stopped" not in srv.stderr_text()


# ---------------------------------------------------------------------------
# every secret at once, at debug


def test_every_secret_at_debug_level(lt, redis, tmp_path):
    rs = h.RedisServer(redis.binary, tmp_path / "redis-pw", password=REDIS_PASSWORD)
    rs.start()
    try:
        srv = lt({"log_level": "debug", "workers": 2,
                  "redis": {"port": rs.port, "password_env": "LT_TEST_REDIS_PASSWORD"},
                  "auth": {"sources": {"partner-a": {"key_env": "LT_TEST_KEY_A"}}},
                  "metrics": {"token_env": "LT_TEST_METRICS"}},
                 env=ENV, operator=True)
        drive(srv)
        # Redis goes away and comes back: reconnect attempts and a new AUTH
        # are logged at debug and info.
        rs.kill()
        h.wait_until(lambda: "reconnecting" in srv.stderr_text(), 5, desc="a reconnect line")
        rs.start()
        wait_every_worker_ready(srv)
        drive(srv)
        srv.send_signal(signal.SIGHUP)
        h.wait_until(lambda: srv.stderr_text().count("config reloaded from") >= 2, 5,
                     desc="both workers reloaded")
        srv.stop()
    finally:
        rs.stop()
    log = srv.stderr_text()
    assert " debug " in log and " info " in log, log[-1500:]
    assert "connection back after" in log or "connected" in log, log[-1500:]
    logs = [srv.stdout_path, srv.stderr_path, rs.log, rs.stdout_path, rs.stderr_path]
    found = h.secrets_in_logs(logs, {s: "test" for s in ALL})
    assert not found, h.describe_secret_findings(found)


def wait_every_worker_ready(srv, timeout=10.0):
    """/readyz 200 from each worker (each has reconnected to Redis)."""
    pids = h.wait_until(lambda: (lambda k: k if len(k) == 2 else None)(srv.workers()), 5,
                        desc="two workers")
    conns = h.conns_by_worker(srv, pids)
    try:
        for pid, c in conns.items():
            h.wait_until(lambda: c.request("GET", "/readyz").status == 200, timeout,
                         interval=0.1, desc="worker %d ready again" % pid)
    finally:
        for c in conns.values():
            c.close()


def drive(srv):
    """Every path that reads a secret, with the right one and wrong ones."""
    assert srv.put_stream("sec-s", {"title": "t"}, token=OPERATOR_TOKEN).status == 200
    for token in (OPERATOR_TOKEN + "x", KEY_A, METRICS_TOKEN):
        assert srv.put_stream("sec-s", {"title": "t"}, token=token).status == 401
    for key, want in ((KEY_A, 200), (OPERATOR_TOKEN, 401), (KEY_A[:-1], 401)):
        r = srv.request("PUT", "/v1/streams/sec-s/sources/partner-a",
                        body=json.dumps({"views": 5, "likes": 1}),
                        headers=[("Content-Type", "application/json")] + bearer(key))
        assert r.status == want, (key == KEY_A, r)
    for token, want in ((METRICS_TOKEN, 200), (OPERATOR_TOKEN, 401), (METRICS_TOKEN + "x", 401)):
        assert srv.get("/metrics", headers=bearer(token)).status == want
    with h.ws_connect(srv, "/v1/ws") as ws:
        for token in (KEY_A, OPERATOR_TOKEN[:-1]):
            ws.send_json({"type": "auth", "token": token})
            ws.wait_error()
        ws.send_json({"type": "auth", "token": OPERATOR_TOKEN})
        ws.wait_message(lambda m: m == {"type": "auth", "ok": True}, timeout=3, desc="auth ok")
    assert srv.post_events("sec-s", [{"type": "like", "n": 2, "viewer": "v-%f" % time.time()}],
                           headers=bearer(OPERATOR_TOKEN)).status == 202


def test_wrong_redis_password_is_not_logged(lt, redis, tmp_path):
    """A password Redis refuses (WRONGPASS) and one sent to a Redis that
    wants none: the error is logged, the password is not."""
    rs = h.RedisServer(redis.binary, tmp_path / "redis-pw2", password=REDIS_PASSWORD)
    rs.start()
    try:
        for port in (rs.port, redis.port):
            srv = lt({"log_level": "debug",
                      "redis": {"port": port, "password_env": "LT_TEST_REDIS_PASSWORD"}},
                     env={"LT_TEST_REDIS_PASSWORD": WRONG_REDIS_PASSWORD}, check_exit=False)
            h.wait_until(lambda: "AUTH failed" in srv.stderr_text(), 5, desc="the AUTH error")
            assert srv.get("/readyz").status == 503
            srv.stop()
            found = h.secrets_in_logs([srv.stdout_path, srv.stderr_path],
                                      {WRONG_REDIS_PASSWORD: "test", REDIS_PASSWORD: "test"})
            assert not found, h.describe_secret_findings(found)
    finally:
        rs.stop()
