"""Config and process model (issue 2, points 2 and 4): --check-config,
messages naming file and key, --help, command-line overrides, the ready
line, worker processes, SIGTERM flushing, SIGHUP, a killed worker."""

import json
import os
import signal
import time

import pytest

import ltharness as h

CONTRACT_KEYS = [
    "listen", "workers", "redis.host", "redis.port", "redis.password_env", "redis.db",
    "redis.cluster", "flush_interval_ms", "push_interval_ms", "streams.auto_create",
    "views.dedup_seconds", "likes.max_per_message", "likes.rate_per_second", "likes.burst",
    "likes.per_client_rate_per_second", "likes.per_client_burst",
    "counters", "cors.allowed_origins", "auth.operator_tokens_env", "auth.sources",
    "trusted_proxies", "limits.max_connections", "limits.max_connections_per_client",
    "limits.max_body_bytes",
    "limits.max_header_bytes", "limits.max_ws_message_bytes", "limits.header_timeout_ms",
    "limits.idle_timeout_ms",
]
EXTRA_KEYS = ["redis.connect_timeout_ms", "redis.command_timeout_ms", "redis.max_backlog",
              "shutdown_timeout_ms", "log_level", "web_root", "metrics.token_env"]
OPTIONS = ["--config", "--listen", "--redis", "--workers", "--check-config", "--help"]


def ev(type_, n=None, viewer=None):
    e = {"type": type_}
    if n is not None:
        e["n"] = n
    if viewer is not None:
        e["viewer"] = viewer
    return e


def write(tmp_path, name, obj):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(p)


# ---------------------------------------------------------------------------
# --check-config and messages


def test_check_config_good_file(lt_binary, tmp_path):
    path = write(tmp_path, "good.json", {
        "listen": "127.0.0.1:0", "workers": 2, "redis": {"host": "127.0.0.1", "port": 6390, "cluster": []},
        "counters": ["shares"], "cors": {"allowed_origins": ["https://a.example"]},
        "limits": {"max_connections": 10, "idle_timeout_ms": 100},
        "views": {"dedup_seconds": 1}, "trusted_proxies": ["127.0.0.1", "10.0.0.0/8", "::1"],
        "auth": {"operator_tokens_env": "MY_TOKENS", "sources": {}},
    })
    rc, out, err = h.run_binary(lt_binary, ["--config", path, "--check-config"])
    assert rc == 0, (rc, out, err)


def test_check_config_does_not_need_redis(lt_binary, tmp_path):
    path = write(tmp_path, "good.json", {"redis": {"port": h.free_port()}})
    rc, out, err = h.run_binary(lt_binary, ["--config", path, "--check-config"], timeout=5)
    assert rc == 0, (rc, out, err)


BAD_CONFIGS = [
    ("unknown_top", {"bogus_key": 1}, "bogus_key"),
    ("unknown_nested", {"limits": {"max_body_byte": 1000}}, "limits.max_body_byte"),
    ("unknown_section", {"redis": {"tls": True}}, "redis.tls"),
    ("wrong_type_int", {"workers": "two"}, "workers"),
    ("wrong_type_bool", {"streams": {"auto_create": "yes"}}, "streams.auto_create"),
    ("wrong_type_list", {"counters": "shares"}, "counters"),
    ("wrong_type_section", {"limits": 5}, "limits"),
    ("float_for_int", {"flush_interval_ms": 50.5}, "flush_interval_ms"),
    ("out_of_range_low", {"views": {"dedup_seconds": 0}}, "views.dedup_seconds"),
    ("out_of_range_timeout", {"limits": {"idle_timeout_ms": 50}}, "limits.idle_timeout_ms"),
    ("out_of_range_negative", {"workers": -1}, "workers"),
    ("out_of_range_port", {"redis": {"port": 70000}}, "redis.port"),
    ("bad_listen", {"listen": "nonsense"}, "listen"),
    ("bad_counter_name", {"counters": ["Bad Name"]}, "counters"),
    ("counter_shadows_like", {"counters": ["like"]}, "counters"),
    ("bad_proxy", {"trusted_proxies": ["not-an-address"]}, "trusted_proxies"),
    ("bad_header_timeout", {"limits": {"header_timeout_ms": 99}}, "limits.header_timeout_ms"),
    ("bad_source_id", {"auth": {"sources": {"Partner A": {"key_env": "K"}}}}, "auth.sources"),
    ("bad_source_env", {"auth": {"sources": {"partner-a": {"key_env": "K-1"}}}},
     "auth.sources.partner-a.key_env"),
    ("source_without_env", {"auth": {"sources": {"partner-a": {}}}},
     "auth.sources.partner-a.key_env"),
    ("redis_cluster_seed", {"redis": {"cluster": ["10.0.0.5"]}}, "redis.cluster"),
    ("redis_cluster_db", {"redis": {"cluster": ["10.0.0.5:7000"], "db": 3}}, "redis.db"),
]


def test_cluster_seed_errors_say_why(lt_binary, tmp_path):
    for cfg, key, why in (
            ({"redis": {"cluster": ["10.0.0.5"]}}, "redis.cluster[0]",
             '"10.0.0.5" is not HOST:PORT (the port is missing)'),
            ({"redis": {"cluster": ["10.0.0.5:7000"], "db": 3}}, "redis.db",
             "must be 0 with redis.cluster"),):
        path = write(tmp_path, "cluster.json", cfg)
        rc, out, err = h.run_binary(lt_binary, ["--config", path])
        assert rc != 0 and "livetally ready" not in out, (rc, out, err)
        assert "%s: %s" % (key, why) in err, err


@pytest.mark.parametrize("name,cfg,key", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_check_config_rejects(lt_binary, tmp_path, name, cfg, key):
    path = write(tmp_path, name + ".json", cfg)
    rc, out, err = h.run_binary(lt_binary, ["--config", path, "--check-config"])
    assert rc != 0, "accepted %r" % cfg
    msg = out + err
    assert path in msg or os.path.basename(path) in msg, "message does not name the file: %r" % msg
    assert key in msg, "message does not name the key %r: %r" % (key, msg)


def test_bad_config_stops_startup(lt_binary, tmp_path):
    path = write(tmp_path, "bad.json", {"listen": "127.0.0.1:0", "limits": {"max_connections": 0}})
    rc, out, err = h.run_binary(lt_binary, ["--config", path], timeout=10)
    assert rc != 0
    assert "livetally ready" not in out
    assert "limits.max_connections" in err and "bad.json" in err, err


def test_not_json_and_missing_file(lt_binary, tmp_path):
    path = write(tmp_path, "broken.json", '{"listen": "127.0.0.1:0",')
    rc, out, err = h.run_binary(lt_binary, ["--config", path, "--check-config"])
    assert rc != 0 and "broken.json" in out + err, (rc, out, err)
    missing = str(tmp_path / "missing.json")
    rc, out, err = h.run_binary(lt_binary, ["--config", missing, "--check-config"])
    assert rc != 0 and "missing.json" in out + err, (rc, out, err)
    path = write(tmp_path, "array.json", "[]")
    rc, out, err = h.run_binary(lt_binary, ["--config", path, "--check-config"])
    assert rc != 0 and "array.json" in out + err, (rc, out, err)


def test_bad_command_line(lt_binary, tmp_path):
    path = write(tmp_path, "good.json", {})
    for args, word in ((["--workers", "many"], "--workers"), (["--listen", "nohost"], "--listen"),
                       (["--redis", "127.0.0.1:99999"], "--redis"), (["--no-such-option"], "--no-such-option")):
        rc, out, err = h.run_binary(lt_binary, ["--config", path, "--check-config"] + args)
        assert rc != 0, args
        assert word in out + err, (args, out, err)


def test_help_lists_every_key(lt_binary):
    rc, out, err = h.run_binary(lt_binary, ["--help"])
    assert rc == 0, (rc, err)
    text = out + err
    missing = [k for k in CONTRACT_KEYS + EXTRA_KEYS + OPTIONS if k not in text]
    assert not missing, "--help does not mention %r" % missing


# ---------------------------------------------------------------------------
# overrides and the ready line


def test_ready_line_reports_real_port(lt):
    srv = lt({"listen": "127.0.0.1:0"})
    assert srv.port != 0
    lines = [l for l in srv.stdout_text().splitlines() if l.startswith("livetally ready")]
    assert lines == ["livetally ready on http://127.0.0.1:%d" % srv.port], lines
    assert srv.get("/healthz").status == 200


def test_listen_override(lt):
    port = h.free_port()
    srv = lt({"listen": "127.0.0.1:0"}, args=["--listen", "127.0.0.1:%d" % port])
    assert srv.port == port
    assert srv.get("/healthz").status == 200
    port2 = h.free_port()
    srv2 = lt({"listen": "127.0.0.1:%d" % port}, args=["--listen=127.0.0.1:%d" % port2])
    assert srv2.port == port2


def test_redis_override(lt, redis):
    dead = h.free_port()
    srv = lt({"redis": {"port": dead}, **{"redis.connect_timeout_ms": 200}},
             args=["--redis", "127.0.0.1:%d" % redis.port])
    h.wait_until(lambda: srv.get("/readyz").status == 200, 5, desc="/readyz 200 via --redis")
    assert srv.post_events("cfg-redis", ev("like", 2, viewer="viewer-cf-0001")).status == 202
    srv.wait_totals("cfg-redis", {"likes": 2})


def status_of(srv, path):
    try:
        return srv.get(path).status
    except (OSError, h.PeerClosed):
        return None


def wait_workers(srv, n, timeout=5.0):
    return h.wait_until(lambda: (lambda k: k if len(k) == n else None)(srv.workers()), timeout,
                        desc="%d worker processes (have %r)" % (n, srv.workers()))


def test_workers_override(lt):
    srv = lt({"workers": 1}, args=["--workers", "2"])
    wait_workers(srv, 2)


def test_two_workers_are_two_processes(lt):
    srv = lt({"workers": 2})
    kids = wait_workers(srv, 2)
    assert srv.pid not in kids
    # Both serve: many fresh connections are spread over the SO_REUSEPORT sockets.
    for i in range(20):
        assert srv.post_events("cfg-w2", ev("like", viewer="viewer-w2-%04d" % i)).status == 202
    srv.wait_totals("cfg-w2", {"likes": 20})
    time.sleep(0.5)
    lines = [l for l in srv.stdout_text().splitlines() if l.startswith("livetally ready")]
    assert len(lines) == 1, "ready line printed %d times" % len(lines)


def test_workers_zero_is_one_per_cpu(lt):
    srv = lt({"workers": 0})
    ncpu = {os.cpu_count(), len(os.sched_getaffinity(0))}
    h.wait_until(lambda: len(srv.workers()) in ncpu, 5,
                 desc="one worker per CPU (%r), have %r" % (ncpu, srv.workers()))


# ---------------------------------------------------------------------------
# signals


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_flushes_and_exits_0(lt, workers):
    """flush_interval_ms is long, so the likes are still in the workers'
    memory when SIGTERM comes; they must reach Redis before exit."""
    srv = lt({"workers": workers, "flush_interval_ms": 5000})
    stream = "cfg-term-%d" % workers
    want = 0
    with srv.conn() as c:
        for i in range(30):
            r = c.post_json("/v1/streams/%s/events" % stream, ev("like", 3, viewer="viewer-term-%04d" % i))
            assert r.status == 202, r
            want += 3
    for i in range(10):  # fresh connections, likely spread over workers
        assert srv.post_events(stream, ev("like", 1, viewer="viewer-tx-%04d" % i)).status == 202
        want += 1
    kids = srv.workers()
    start = time.monotonic()
    assert srv.stop(signal.SIGTERM, timeout=10) == 0, h.tail(srv.stderr_path)
    assert time.monotonic() - start < 5, "SIGTERM took %.1fs" % (time.monotonic() - start)
    assert not srv.leftover_workers, "workers %r outlived the master" % srv.leftover_workers
    assert all(not h.pid_alive(p) for p in kids)
    srv2 = lt()
    srv2.wait_totals(stream, {"likes": want}, timeout=5)


def test_sigterm_closes_listener(lt):
    srv = lt()
    with srv.conn() as c:
        assert c.request("GET", "/healthz").status == 200
        srv.send_signal(signal.SIGTERM)
        assert srv.wait_exit(10) == 0
    with pytest.raises(OSError):
        h.HttpConn(srv.host, srv.port, timeout=1).close()


def test_sighup_reloads_without_dropping_connections(lt):
    """SIGHUP applies a changed config (here: an allowed origin) and a
    connection open across it keeps being served, by the new settings.
    test_reload.py checks every worker and a restarted one."""
    srv = lt({"workers": 2, "cors.allowed_origins": ["https://a.example"]})
    kids = wait_workers(srv, 2)
    origin = [("Origin", "https://b.example")]
    with srv.conn() as c:
        r = c.request("GET", "/healthz", headers=origin)
        assert r.status == 200 and r.header("Access-Control-Allow-Origin") is None, r
        srv.config = h.deep_merge(srv.config, {"cors.allowed_origins": ["https://b.example"]})
        srv.write_config()
        srv.send_signal(signal.SIGHUP)
        h.wait_until(lambda: srv.stderr_text().count("config reloaded from") >= 2, 5,
                     desc="both workers reloaded")
        assert srv.running(), "SIGHUP ended the server"
        r = c.request("GET", "/healthz", headers=origin)
        assert r.status == 200, "a connection dropped by SIGHUP: %r" % r
        assert r.header("Access-Control-Allow-Origin") == "https://b.example", r
    assert sorted(srv.workers()) == sorted(kids), "SIGHUP restarted workers"


def test_killed_worker_is_restarted(lt):
    srv = lt({"workers": 2})
    srv.worker_deaths_expected = True
    kids = wait_workers(srv, 2)
    victim = kids[0]
    os.kill(victim, signal.SIGKILL)
    h.wait_until(lambda: (lambda k: len(k) == 2 and victim not in k)(srv.workers()), 5,
                 desc="a new worker replacing %d (have %r)" % (victim, srv.workers()))
    assert srv.running()
    for i in range(20):
        r = srv.post_events("cfg-kill", ev("like", viewer="viewer-kill-%04d" % i))
        assert r.status == 202, r
    srv.wait_totals("cfg-kill", {"likes": 20})
    lines = [l for l in srv.stdout_text().splitlines() if l.startswith("livetally ready")]
    assert len(lines) == 1, "ready line printed again after a worker restart: %r" % lines


def test_single_worker_killed_is_restarted(lt):
    srv = lt({"workers": 1})
    srv.worker_deaths_expected = True
    kids = wait_workers(srv, 1)
    os.kill(kids[0], signal.SIGKILL)
    h.wait_until(lambda: (lambda k: len(k) == 1 and kids[0] not in k)(srv.workers()), 5,
                 desc="a new worker")
    h.wait_until(lambda: status_of(srv, "/healthz") == 200, 5, desc="answers again")


def test_sigterm_does_not_wait_for_idle_connections(lt):
    """Idle keep-alive connections (idle timeout 60 s) do not hold up the
    exit."""
    srv = lt({"limits.idle_timeout_ms": 60000})
    conns = [srv.conn() for _ in range(3)]
    try:
        for c in conns:
            assert c.request("GET", "/healthz").status == 200
        start = time.monotonic()
        assert srv.stop(signal.SIGTERM, timeout=10) == 0
        assert time.monotonic() - start < 3, "SIGTERM took %.1fs with idle connections" % (
            time.monotonic() - start)
        for c in conns:
            assert c.wait_closed(2), "idle connection left open after exit"
    finally:
        for c in conns:
            c.close()
