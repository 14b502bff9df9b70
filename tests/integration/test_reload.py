"""Config reload (issue 7, point 5): SIGHUP makes the master read and check
the file once and hand the result to every worker; a worker restarted later
starts with the reloaded config; a config with an error changes nothing and
says why; keys that need a restart keep their running value and say so; a
dead worker's online share is removed without the master talking to Redis.

Which worker answers is found from /proc (the server side of each client
connection and the worker holding its socket), so every check below is made
against every worker, not against whichever SO_REUSEPORT picked."""

import os
import signal
import time

import ltharness as h

SMALL = 4096   # limits.max_body_bytes before the reload
LARGE = 16384  # after
BODY = 6000    # between the two: 413 before, accepted by the HTTP layer after
ORIGIN_A = "https://a.example"
ORIGIN_B = "https://b.example"


def rewrite(srv, overrides):
    """Changes the server's config file in place (the next SIGHUP reads it)."""
    srv.config = h.deep_merge(srv.config, overrides)
    srv.write_config()


def settings_seen(c):
    """(body limit applied, origins allowed) as seen on connection c: the
    status of a BODY-byte POST (413 while the limit is SMALL; the JSON error
    after, since the body is not JSON) and which of ORIGIN_A/ORIGIN_B get
    Access-Control-Allow-Origin. The POST goes last: a 413 closes."""
    allowed = set()
    for origin in (ORIGIN_A, ORIGIN_B):
        r = c.request("GET", "/healthz", headers=[("Origin", origin)])
        assert r.status == 200, r
        acao = r.header("Access-Control-Allow-Origin")
        assert acao in (None, origin), r
        if acao == origin:
            allowed.add(origin)
    r = c.request("POST", "/v1/streams/rl-body/events", body=b"x" * BODY,
                  headers=[("Content-Type", "application/json")])
    return r.status, allowed


def assert_every_worker(srv, want_status, want_origins, pids=None, timeout=5.0):
    """Every worker (or those in pids) answers with the wanted body-limit
    status and allowed origins; a worker still on the old settings is given
    until timeout (the config travels to it on its loop). Returns the PIDs."""
    pids = sorted(pids or srv.workers())
    deadline = time.monotonic() + timeout
    while True:
        conns = h.conns_by_worker(srv, pids)
        try:
            seen = {pid: settings_seen(c) for pid, c in conns.items()}
        finally:
            for c in conns.values():
                c.close()
        wrong = {pid: s for pid, s in seen.items() if s != (want_status, want_origins)}
        if not wrong:
            return pids
        if time.monotonic() > deadline:
            raise AssertionError("workers not applying limit %s / origins %r: %r"
                                 % (want_status, sorted(want_origins), wrong))
        time.sleep(0.1)


def test_sighup_applies_limit_and_origin_in_every_worker_and_after_a_restart(lt):
    srv = lt({"workers": 2, "limits.max_body_bytes": SMALL,
              "cors.allowed_origins": [ORIGIN_A]})
    srv.worker_deaths_expected = True
    kids = h.wait_until(lambda: (lambda k: k if len(k) == 2 else None)(srv.workers()), 5,
                        desc="two workers")
    assert_every_worker(srv, 413, {ORIGIN_A}, kids, timeout=0)

    # A keep-alive connection opened before the reload stays open and sees
    # the new settings on its next request.
    before = h.conns_by_worker(srv, kids)
    rewrite(srv, {"limits.max_body_bytes": LARGE, "cors.allowed_origins": [ORIGIN_B]})
    srv.send_signal(signal.SIGHUP)
    h.wait_until(lambda: "checked and sent to 2 running workers" in srv.stderr_text(), 5,
                 desc="the master's reload line")
    h.wait_until(lambda: srv.stderr_text().count("config reloaded from") >= 2, 5,
                 desc="both workers' reload lines")
    assert_every_worker(srv, 400, {ORIGIN_B}, kids)
    for pid, c in before.items():
        try:
            assert settings_seen(c) == (400, {ORIGIN_B}), pid
        finally:
            c.close()
    assert sorted(srv.workers()) == kids, "the reload restarted workers"

    # A worker killed now is restarted with the reloaded config, not the
    # start-up one.
    victim = kids[0]
    os.kill(victim, signal.SIGKILL)
    new_kids = h.wait_until(
        lambda: (lambda k: k if len(k) == 2 and victim not in k else None)(srv.workers()), 5,
        desc="a worker replacing %d" % victim)
    fresh = [p for p in new_kids if p not in kids]
    assert len(fresh) == 1, (kids, new_kids)
    assert_every_worker(srv, 400, {ORIGIN_B}, fresh, timeout=0)
    assert_every_worker(srv, 400, {ORIGIN_B}, new_kids, timeout=0)


def test_invalid_config_on_sighup_keeps_the_running_one_and_says_why(lt):
    srv = lt({"workers": 2, "limits.max_body_bytes": SMALL,
              "cors.allowed_origins": [ORIGIN_A]})
    kids = h.wait_until(lambda: (lambda k: k if len(k) == 2 else None)(srv.workers()), 5,
                        desc="two workers")
    # A wanted change and a bad value in the same file: nothing applies.
    rewrite(srv, {"limits.max_body_bytes": 10, "cors.allowed_origins": [ORIGIN_B]})
    srv.send_signal(signal.SIGHUP)
    line = h.wait_until(
        lambda: next((l for l in srv.stderr_text().splitlines() if "config not reloaded" in l),
                     None), 5, desc="the master's error line")
    assert "limits.max_body_bytes" in line and srv.config_path in line, line
    assert "10 is below the minimum 1024" in line, line
    time.sleep(0.3)
    assert srv.running() and sorted(srv.workers()) == kids
    assert "config reloaded from" not in srv.stderr_text()
    assert_every_worker(srv, 413, {ORIGIN_A}, kids, timeout=0)
    # Broken JSON: the same.
    with open(srv.config_path, "w") as f:
        f.write('{"limits": {"max_body_bytes": 16384},')
    srv.send_signal(signal.SIGHUP)
    h.wait_until(lambda: srv.stderr_text().count("config not reloaded") >= 2, 5,
                 desc="a second error line")
    assert "invalid JSON" in srv.stderr_text()
    assert_every_worker(srv, 413, {ORIGIN_A}, kids, timeout=0)
    # Fixed: it applies.
    rewrite(srv, {"limits.max_body_bytes": LARGE})
    srv.send_signal(signal.SIGHUP)
    assert_every_worker(srv, 400, {ORIGIN_B}, kids)


def test_restart_only_keys_are_kept_and_logged(lt, redis):
    srv = lt({"workers": 2, "limits.max_body_bytes": SMALL})
    kids = h.wait_until(lambda: (lambda k: k if len(k) == 2 else None)(srv.workers()), 5,
                        desc="two workers")
    port = srv.port
    rewrite(srv, {"workers": 3, "listen": "127.0.0.1:%d" % h.free_port(),
                  "redis.port": h.free_port(), "limits.max_body_bytes": LARGE})
    srv.send_signal(signal.SIGHUP)
    h.wait_until(lambda: srv.stderr_text().count("config reloaded from") >= 2, 5,
                 desc="both workers' reload lines")
    err = srv.stderr_text()
    for key in ("workers", "listen", "redis.port"):
        assert ("SIGHUP: %s changed from" % key) in err and "needs a restart" in err, err
    # The reloadable key applied (cors.allowed_origins is "*" throughout);
    # the others did not move.
    assert_every_worker(srv, 400, {ORIGIN_A, ORIGIN_B}, kids)
    assert srv.port == port and srv.get("/healthz").status == 200
    time.sleep(0.3)
    assert sorted(srv.workers()) == kids, "workers changed without a restart"
    # Still on the Redis it started with.
    assert srv.post_events("rl-redis", {"type": "like", "viewer": "viewer-rl-0001"}).status == 202
    srv.wait_totals("rl-redis", {"likes": 1})


def test_sighup_to_a_worker_alone_changes_nothing(lt):
    srv = lt({"workers": 1, "limits.max_body_bytes": SMALL})
    kid = h.wait_until(lambda: (lambda k: k if len(k) == 1 else None)(srv.workers()), 5,
                       desc="one worker")[0]
    rewrite(srv, {"limits.max_body_bytes": LARGE})
    os.kill(kid, signal.SIGHUP)
    h.wait_until(lambda: "SIGHUP ignored: send it to the master" in srv.stderr_text(), 5,
                 desc="the worker's warning")
    assert srv.workers() == [kid], "the worker died of SIGHUP"
    assert_every_worker(srv, 413, {ORIGIN_A, ORIGIN_B}, [kid], timeout=0)


def test_single_worker_killed_its_online_share_goes(lt, redis):
    """With one worker there is no other to remove the dead one's share:
    its replacement does, well before the share would expire (10 s)."""
    srv = lt({"workers": 1, "push_interval_ms": 50})
    srv.worker_deaths_expected = True
    assert srv.post_events("rl-online", {"type": "like", "viewer": "viewer-rl-0002"}).status == 202
    srv.wait_totals("rl-online", {"likes": 1}, settle=0)
    clients = [h.ws_connect(srv, "/v1/streams/rl-online/ws") for _ in range(3)]
    try:
        srv.wait_totals("rl-online", {"online": 3})
        kid = srv.workers()[0]
        os.kill(kid, signal.SIGKILL)
        start = time.monotonic()
        h.wait_until(lambda: (lambda k: k if len(k) == 1 and kid not in k else None)(
            srv.workers()), 5, desc="a new worker")
        def online():
            r = srv.get("/v1/streams/rl-online")
            return r.json()["online"] if r.status == 200 else None  # 503: Redis not up yet
        h.wait_until(lambda: online() == 0, 5, desc="online back to 0")
        took = time.monotonic() - start
        assert took < 5, "the dead worker's share stayed %.1f s" % took
        assert "remove online share" in srv.stderr_text()
        assert "removed online share" in srv.stderr_text()
    finally:
        for c in clients:
            c.close()


def test_master_restarts_a_worker_while_redis_hangs(lt, redis):
    """The master's supervision loop does no Redis I/O: with Redis frozen
    (SIGSTOP: connections are accepted, nothing is answered), a killed worker
    is replaced at once, not after a Redis timeout."""
    srv = lt({"workers": 2, "redis.command_timeout_ms": 5000})
    srv.worker_deaths_expected = True
    kids = h.wait_until(lambda: (lambda k: k if len(k) == 2 else None)(srv.workers()), 5,
                        desc="two workers")
    time.sleep(1.1)  # past the crash window: restarted without delay
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        os.kill(kids[0], signal.SIGKILL)
        start = time.monotonic()
        h.wait_until(lambda: (lambda k: len(k) == 2 and kids[0] not in k)(srv.workers()), 5,
                     interval=0.01, desc="a worker replacing %d" % kids[0])
        took = time.monotonic() - start
        assert took < 1.0, "the master took %.2f s to restart a worker with Redis frozen" % took
        assert srv.get("/healthz").status == 200
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)


def test_signal_to_a_starting_worker_is_handled_not_fatal(lt):
    """A worker that is still starting when SIGTERM comes handles it like the
    others (the signal waits until its loop has a handler) instead of dying
    of the default action."""
    srv = lt({"workers": 1}, check_exit=False)
    srv.worker_deaths_expected = True
    kid = h.wait_until(lambda: (lambda k: k if len(k) == 1 else None)(srv.workers()), 5,
                       desc="one worker")[0]
    time.sleep(1.1)  # past the crash window: restarted without delay
    os.kill(kid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    new = []
    while not new and time.monotonic() < deadline:
        new = [p for p in h.children_of(srv.pid) if p != kid]
    assert new, "no new worker"
    os.kill(new[0], signal.SIGTERM)  # most likely before its loop runs
    h.wait_until(lambda: not h.pid_alive(new[0]), 5, desc="the new worker exits")
    err = srv.stderr_text()
    assert "died (signal 15)" not in err, h.tail(srv.stderr_path)
    assert srv.stop(signal.SIGTERM, timeout=10) == 0, h.tail(srv.stderr_path)
