"""The drain after SIGTERM (two workers): the port refuses new connections at
once while the workers still flush (Redis paused with CLIENT PAUSE WRITE),
so a proxy sends them to another instance instead of to a queue that is
reset at exit; connections already in the workers' accept queues when
SIGTERM comes are answered, not reset; WebSockets get 1001 after the last
flush and the process exits 0 with every accepted event in Redis."""

import json
import os
import signal
import socket

import ltharness as h


def like_events(n, prefix):
    return [{"type": "like", "viewer": "%s-%04d" % (prefix, i)} for i in range(n)]


def create(srv, stream):
    assert srv.post_events(stream, like_events(1, "viewer-mk-" + stream)).status == 202
    srv.wait_totals(stream, {"likes": 1}, settle=0)


def redis_likes(redis, stream):
    with redis.client() as r:
        return int(r.cmd("HGET", "lt:{%s}:totals" % stream, "likes") or 0)


def draining_workers(srv):
    """How many workers have begun their drain (their log line)."""
    return srv.stderr_text().count("draining connections and flushing")


def closed_listeners(srv):
    """How many workers have closed their listening socket (their log line)."""
    return srv.stderr_text().count("listening socket closed")


def connect_outcome(srv):
    """'refused', or what happened instead: a connect that succeeds means
    some socket of the port is still in its SO_REUSEPORT group (the kernel
    completes the handshake and queues the connection)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5.0)
    try:
        s.connect((srv.host, srv.port))
        return "connected"
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return "error %r" % e
    finally:
        s.close()


def test_drain_refuses_new_connections_while_flushing(lt, redis):
    stream = "dr-refuse"
    srv = lt({"workers": 2, "push_interval_ms": 50, "shutdown_timeout_ms": 20000})
    create(srv, stream)
    ws = h.ws_connect(srv, "/v1/streams/%s/ws?viewer=viewer-dr-ws" % stream)
    idle = srv.conn()
    try:
        ws.wait_totals(likes=1)
        assert idle.request("GET", "/healthz").status == 200
        with redis.client() as r:
            assert r.cmd("CLIENT", "PAUSE", "30000", "WRITE") == "OK"
        try:
            # Accepted while Redis holds every write: still in the workers
            # (and their spools) when SIGTERM comes. Forty connections: each
            # worker surely takes some, so neither can end its drain early.
            for i in range(40):
                r = srv.post_events(stream, like_events(2, "viewer-dr-%02d" % i))
                assert r.status == 202, r
            kids = srv.workers()
            assert len(kids) == 2, kids
            srv.send_signal(signal.SIGTERM)
            h.wait_until(lambda: draining_workers(srv) >= 2, 5.0,
                         desc="both workers draining")
            # The flush cannot end while Redis is paused: the drain is under
            # way, and the port soon refuses every new connection (a connect
            # that succeeds is queued on a socket that stays in the group).
            h.wait_until(lambda: connect_outcome(srv) == "refused", 5.0,
                         desc="a connect refused")
            h.wait_until(lambda: closed_listeners(srv) == 2, 5.0,
                         desc="both workers logging their closed listening socket")
            outcomes = [connect_outcome(srv) for _ in range(20)]
            assert outcomes == ["refused"] * 20, (outcomes, h.tail(srv.stderr_path))
            assert srv.running() and all(h.pid_alive(p) for p in kids), \
                "the drain ended before the check: %s" % h.tail(srv.stderr_path)
            assert ws.quiet_for(0.2) is not None  # no close yet (WsClosed otherwise)
            assert redis_likes(redis, stream) == 1, "flushed while Redis was paused?"
            # An idle keep-alive connection is closed by the drain.
            assert idle.wait_closed(3.0), "idle keep-alive connection left open"
        finally:
            with redis.client() as r:
                r.cmd("CLIENT", "UNPAUSE")
        code, reason = ws.wait_close(timeout=10.0, reply=True)
        assert code == 1001, (code, reason)
        assert ws.wait_eof(5.0)
        assert srv.wait_exit(15.0) == 0, h.tail(srv.stderr_path)
    finally:
        ws.close()
        idle.close()
    assert not any(h.pid_alive(p) for p in kids)
    assert redis_likes(redis, stream) == 1 + 80


def test_drain_answers_connections_already_queued(lt, redis):
    """Both workers stopped (SIGSTOP) while 300 connections arrive and send
    their POST: the kernel queues them on the workers' listening sockets.
    SIGTERM, then SIGCONT: whatever each worker's first loop pass does, more
    than one pass of accepts (64) waits in each queue, and the drain takes
    them all and answers them (Connection: close) instead of closing the
    socket over them."""
    stream = "dr-queue"
    n = 300
    srv = lt({"workers": 2, "limits.max_connections_per_client": 0})
    create(srv, stream)
    kids = srv.workers()
    assert len(kids) == 2, kids
    conns = []
    for p in kids:
        os.kill(p, signal.SIGSTOP)
    try:
        for i in range(n):
            c = h.HttpConn(srv.host, srv.port, timeout=10.0)
            conns.append(c)
            body = json.dumps(like_events(1, "viewer-dq-%03d" % i))
            c.send(h.build_request("POST", "/v1/streams/%s/events" % stream, body=body,
                                   headers=[("Content-Type", "application/json")]))
        # The master forwards SIGTERM too; sent here as well, it is surely
        # pending in both workers before they go on.
        srv.send_signal(signal.SIGTERM)
        for p in kids:
            os.kill(p, signal.SIGTERM)
        h.wait_until(lambda: "SIGTERM: stopping workers" in srv.stderr_text(), 5.0,
                     desc="the master forwarding SIGTERM")
    finally:
        for p in kids:
            os.kill(p, signal.SIGCONT)
    try:
        for i, c in enumerate(conns):
            r = c.read_response(timeout=10.0)
            assert r.status == 202, (i, r)
            assert "close" in r.header_tokens("Connection"), (i, r)
            assert c.wait_closed(5.0), i
    finally:
        for c in conns:
            c.close()
    assert srv.wait_exit(15.0) == 0, h.tail(srv.stderr_path)
    assert redis_likes(redis, stream) == 1 + n
