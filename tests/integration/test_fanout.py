"""Fan-out (issue 3, points 4, 6 and 7): two livetally instances sharing one
Redis, two workers with sockets spread over them, coalescing under a burst
of likes with the exact final value pushed, online and peak as sockets come
and go, a killed worker's share dropped, the pub/sub connection coming back,
a slow subscriber dropped, SIGTERM closing with 1001 after the last flush,
and 1013 when over limits.max_connections."""

import asyncio
import json
import os
import re
import signal
import socket
import time

import pytest

import ltharness as h

try:
    import websockets
except ImportError:  # pragma: no cover
    websockets = None

FAST = {"push_interval_ms": 50}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def like_events(n, prefix):
    return [{"type": "like", "viewer": "%s-%04d" % (prefix, i)} for i in range(n)]


def create(srv, stream, likes=1):
    assert srv.post_events(stream, like_events(likes, "viewer-mk-" + stream)).status == 202
    srv.wait_totals(stream, {"likes": likes}, settle=0)


def client_port(c):
    return c.conn.sock.getsockname()[1]


def close_all(clients):
    for c in clients:
        c.close()


# ---------------------------------------------------------------------------
# instances and workers


def test_two_instances_share_one_redis(lt, redis):
    a = lt(FAST)
    b = lt(FAST)
    assert a.port != b.port
    with h.ws_connect(b, "/v1/streams/fo-two/ws") as on_b, \
            h.sse_connect(a, "/v1/streams/fo-two/live") as sse_a:
        on_b.wait_totals()
        sse_a.next_event()
        # A like posted to one instance reaches a subscriber of the other.
        assert a.post_events("fo-two", like_events(1, "viewer-two-a")).status == 202
        on_b.wait_totals(likes=1, timeout=3.0)
        # And a like sent over a WebSocket of b reaches a's SSE subscriber.
        on_b.send_json({"type": "like", "n": 5, "viewer": "viewer-two-b1"})
        sse_a.wait_event(lambda e: e["data"]["likes"] == 6, timeout=3.0)
        # online sums both instances; both answer the same totals.
        on_b.wait_totals(online=2, timeout=3.0)
        for srv in (a, b):
            srv.wait_totals("fo-two", {"likes": 6, "online": 2})


@pytest.mark.skipif(websockets is None, reason="python3-websockets not installed")
def test_two_instances_with_websockets_library(lt, redis):
    a = lt(FAST)
    b = lt(FAST)

    async def go():
        uri = "ws://%s:%d/v1/streams/fo-lib/ws" % (b.host, b.port)
        async with websockets.connect(uri, ping_interval=None, open_timeout=5) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 3))
            loop = asyncio.get_running_loop()
            r = await loop.run_in_executor(
                None, lambda: a.post_events("fo-lib", like_events(3, "viewer-lib")))
            assert r.status == 202, r
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 3))
                if m["likes"] == 3:
                    return first, m

    first, last = asyncio.run(asyncio.wait_for(go(), 10))
    assert first["likes"] == 0 and last["seq"] > first["seq"], (first, last)


def test_two_workers_twenty_sockets(lt, redis):
    srv = lt(dict(FAST, workers=2))
    assert len(srv.workers()) == 2
    create(srv, "fo-w2")
    clients = []
    try:
        for _ in range(20):
            c = h.ws_connect(srv, "/v1/streams/fo-w2/ws")
            clients.append(c)
        for c in clients:
            assert c.wait_totals()["likes"] == 1
        spread = h.connections_per_worker(srv, {client_port(c) for c in clients})
        assert sum(spread.values()) == 20, spread
        # SO_REUSEPORT hashes each connection to a worker: 20 land about
        # 10/10, but 2 or fewer on one worker happens by chance once in
        # ~2,500 runs (CI met an 18/2). What the rest needs is that both
        # workers hold some: all 20 on one happens once in ~500,000.
        assert len(spread) == 2 and min(spread.values()) >= 1, \
            "connections not spread over the workers: %r" % spread
        srv.wait_totals("fo-w2", {"online": 20})
        assert srv.post_events("fo-w2", like_events(3, "viewer-w2")).status == 202
        for c in clients:
            c.wait_totals(likes=4, timeout=3.0)
        for c in clients:
            c.send_close()
    finally:
        close_all(clients)
    srv.wait_totals("fo-w2", {"online": 0})


def numsub(redis, stream):
    with redis.client() as r:
        reply = r.cmd("PUBSUB", "NUMSUB", "lt:{%s}:totals" % stream)
    return int(reply[1])


def test_one_channel_subscription_per_worker_with_local_subscribers(lt, redis):
    srv = lt(dict(FAST, workers=2))
    assert numsub(redis, "fo-chan") == 0
    clients = []
    try:
        spread = {}
        while len(clients) < 40:
            clients.append(h.ws_connect(srv, "/v1/streams/fo-chan/ws"))
            clients[-1].wait_totals()
            spread = h.connections_per_worker(srv, {client_port(c) for c in clients})
            if len(clients) >= 6 and min(spread.values()) >= 2:
                break
        assert min(spread.values()) >= 2, spread
        # Each worker has one subscriber connection, subscribed once however
        # many local sockets it has.
        h.wait_until(lambda: numsub(redis, "fo-chan") == 2, 3.0, desc="NUMSUB 2")
        # A worker whose local subscribers all left unsubscribes.
        w0 = min(spread)
        inodes = h.socket_inodes(w0)
        ports = {rport for ino, rport in h.server_side_sockets(srv.port).items() if ino in inodes}
        for c in [c for c in clients if client_port(c) in ports]:
            c.send_close()
            c.wait_close(reply=False)
            c.close()
        h.wait_until(lambda: numsub(redis, "fo-chan") == 1, 3.0, desc="NUMSUB 1")
        for c in clients:
            c.close()
        h.wait_until(lambda: numsub(redis, "fo-chan") == 0, 3.0, desc="NUMSUB 0")
        assert numsub(redis, "fo-other") == 0
    finally:
        close_all(clients)


def test_dead_instance_stops_counting_within_about_10s(lt, redis):
    a = lt(FAST)
    b = lt(FAST, check_exit=False)
    create(a, "fo-dead")
    with h.ws_connect(a, "/v1/streams/fo-dead/ws") as on_a:
        on_b = h.ws_connect(b, "/v1/streams/fo-dead/ws")
        try:
            on_a.wait_totals(online=2, timeout=3.0)
            # The whole instance dies at once: no master is left to clean up.
            kids = b.workers()
            os.kill(b.pid, signal.SIGKILL)
            for pid in kids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            start = time.monotonic()
            a.wait_totals("fo-dead", {"online": 1}, timeout=12.0, settle=0)
            took = time.monotonic() - start
            assert took <= 11.5, "online counted a dead instance for %.1fs" % took
            on_a.wait_totals(online=1, timeout=5.0)
        finally:
            on_b.close()
            b.stop(sig=signal.SIGKILL)


# ---------------------------------------------------------------------------
# pushes


def test_coalescing_under_a_burst(lt, redis):
    srv = lt({"push_interval_ms": 500, "flush_interval_ms": 50})
    create(srv, "fo-burst")
    with h.ws_connect(srv, "/v1/streams/fo-burst/ws") as c:
        c.wait_totals(online=1, timeout=3.0)
        c.quiet_for(0.6)
        seen = list(c.messages)
        pushes = []
        start = time.monotonic()
        with srv.conn() as http:
            for i in range(200):
                r = http.post_json("/v1/streams/fo-burst/events",
                                   {"type": "like", "viewer": "viewer-burst-%04d" % i})
                assert r.status == 202, r
                time.sleep(0.005)
                # Keep reading so that arrival times are right.
                try:
                    m = c.recv_json(timeout=0.002)
                    pushes.append((time.monotonic(), m))
                except (socket.timeout, TimeoutError, BlockingIOError):
                    pass
        burst = time.monotonic() - start
        deadline = time.monotonic() + 3.0
        while not pushes or pushes[-1][1]["likes"] != 201:
            left = deadline - time.monotonic()
            assert left > 0, "no push with the final likes 201: %r" % [m for _, m in pushes]
            try:
                m = c.recv_json(timeout=left)
                pushes.append((time.monotonic(), m))
            except (socket.timeout, TimeoutError):
                pass
        extra_until = time.monotonic() + 1.0
        while True:
            left = extra_until - time.monotonic()
            if left <= 0:
                break
            try:
                m = c.recv_json(timeout=left)
                pushes.append((time.monotonic(), m))
            except (socket.timeout, TimeoutError):
                pass
    msgs = [m for _, m in pushes]
    assert all(m["type"] == "totals" for m in msgs), msgs
    assert 1 <= len(msgs) <= 6, "%d pushes for 200 likes over %.1fs with push_interval_ms " \
        "500: %r" % (len(msgs), burst, [(m["seq"], m["likes"]) for m in msgs])
    seqs = [m["seq"] for m in seen + msgs]
    assert all(x < y for x, y in zip(seqs, seqs[1:])), "seq not strictly rising: %r" % seqs
    assert msgs[-1]["likes"] == 201, msgs[-1]
    times = [t for t, _ in pushes]
    gaps = [y - x for x, y in zip(times, times[1:])]
    assert not gaps or min(gaps) >= 0.4, "pushes closer than push_interval_ms 500: gaps %r, pushes %r" % (
        gaps, [(round(t - start, 3), m["seq"], m["likes"], m["online"], m["ts"]) for t, m in pushes])
    srv.wait_totals("fo-burst", {"likes": 201})


def test_online_and_peak_as_sockets_come_and_go(lt, redis):
    srv = lt(FAST)
    create(srv, "fo-peak")
    t = srv.totals("fo-peak")
    assert t["online"] == 0 and t["peak_online"] == 0, t
    socks = [h.ws_connect(srv, "/v1/streams/fo-peak/ws") for _ in range(3)]
    try:
        start = time.monotonic()
        m = socks[0].wait_totals(online=3, timeout=2.5)
        assert time.monotonic() - start < 2.5
        assert m["peak_online"] == 3, m
        t = srv.wait_totals("fo-peak", {"online": 3, "peak_online": 3})
        assert RFC3339.match(t.get("peak_at") or ""), t
        peak_at = t["peak_at"]
        for c in socks[1:]:
            c.send_close()
            c.wait_close(reply=False)
        m = socks[0].wait_totals(online=1, timeout=2.5)
        assert m["peak_online"] == 3, m
        t = srv.wait_totals("fo-peak", {"online": 1, "peak_online": 3})
        assert t["peak_at"] == peak_at, t
        # Two tabs of one viewer count twice.
        with h.ws_connect(srv, "/v1/streams/fo-peak/ws?viewer=viewer-tabs-01") as t1, \
                h.ws_connect(srv, "/v1/streams/fo-peak/ws?viewer=viewer-tabs-01") as t2:
            t1.wait_totals(online=3, timeout=2.5)
            t2.send_close()
            t1.wait_totals(online=2, timeout=2.5)
    finally:
        close_all(socks)
    t = srv.wait_totals("fo-peak", {"online": 0, "peak_online": 3})
    assert t["peak_at"] == peak_at, t


def test_killed_worker_share_dropped_and_worker_restarted(lt, redis):
    srv = lt(dict(FAST, workers=2))
    srv.worker_deaths_expected = True
    create(srv, "fo-kill")
    clients = []
    try:
        spread = {}
        while len(clients) < 40:
            clients.append(h.ws_connect(srv, "/v1/streams/fo-kill/ws"))
            if len(clients) >= 10:
                spread = h.connections_per_worker(srv, {client_port(c) for c in clients})
                if min(spread.values()) >= 2:
                    break
        assert min(spread.values()) >= 2, spread
        n = len(clients)
        srv.wait_totals("fo-kill", {"online": n})
        victim = max(spread, key=lambda p: spread[p])
        victim_ports = set()
        inodes = h.socket_inodes(victim)
        for ino, rport in h.server_side_sockets(srv.port).items():
            if ino in inodes:
                victim_ports.add(rport)
        survivors = [c for c in clients if client_port(c) not in victim_ports]
        gone = [c for c in clients if client_port(c) in victim_ports]
        assert len(gone) == spread[victim], (spread, victim_ports)
        for c in clients:
            c.quiet_for(0.05)
        os.kill(victim, signal.SIGKILL)
        start = time.monotonic()
        srv.wait_totals("fo-kill", {"online": len(survivors)}, timeout=3.0, settle=0)
        took = time.monotonic() - start
        assert took < 3.0, took
        for c in gone:
            assert c.wait_eof(2.0), "a socket of the killed worker stayed open"
        survivors[0].wait_totals(online=len(survivors), timeout=3.0)
        # The master starts a new worker, which serves.
        kids = h.wait_until(lambda: (lambda k: k if len(k) == 2 and victim not in k else None)(
            srv.workers()), 5.0, desc="a second worker again")
        assert victim not in kids
        late = []
        for _ in range(12):
            late.append(h.ws_connect(srv, "/v1/streams/fo-kill/ws"))
        clients += late
        for c in late:
            c.wait_totals()
        srv.wait_totals("fo-kill", {"online": len(survivors) + len(late)})
    finally:
        close_all(clients)


def test_pubsub_reconnect_resubscribes_and_takes_a_snapshot(lt, redis):
    srv = lt(FAST)
    create(srv, "fo-resub")
    with h.ws_connect(srv, "/v1/streams/fo-resub/ws") as c:
        c.wait_totals(online=1)
        with redis.client() as r:
            killed = r.cmd("CLIENT", "KILL", "TYPE", "pubsub")
        assert killed >= 1, "no pub/sub connection to kill"
        # Likes while the subscriber connection is away: their publishes may
        # be lost; the fresh snapshot after the reconnect must carry them.
        assert srv.post_events("fo-resub", like_events(4, "viewer-resub")).status == 202
        c.wait_totals(likes=5, timeout=5.0)
        # Later changes are pushed again (re-subscribed).
        assert srv.post_events("fo-resub", like_events(2, "viewer-resub2")).status == 202
        c.wait_totals(likes=7, timeout=3.0)


def test_slow_subscriber_dropped_with_a_logged_reason(lt, redis):
    srv = lt(FAST)
    with h.ws_connect(srv, "/v1/streams/fo-slow/ws") as fast:
        fast.wait_totals()
        slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.settimeout(5.0)
        slow.connect((srv.host, srv.port))
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        slow.sendall(h.build_request("GET", "/v1/streams/fo-slow/ws", headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
        # Never read: every ping's pong piles up in the server's output.
        ping = h.ws_frame(h.OP_PING, b"p" * 125)
        dropped = False
        deadline = time.monotonic() + 20.0
        try:
            while time.monotonic() < deadline:
                slow.sendall(ping * 64)
                if "output pending" in srv.stderr_text():
                    dropped = True
                    break
        except OSError:
            dropped = True  # reset by the server
        finally:
            slow.close()
        assert dropped, "a reader that never reads was not dropped"
        assert h.wait_until(lambda: "output pending" in srv.stderr_text(), 3.0,
                            desc="the drop logged with its reason")
        # The others are unaffected.
        assert srv.post_events("fo-slow", like_events(1, "viewer-slow")).status == 202
        fast.wait_totals(likes=1)


# ---------------------------------------------------------------------------
# shutdown and overload


def test_sigterm_closes_1001_after_the_last_flush(lt, redis):
    # A long flush interval keeps the likes in memory until the shutdown flush.
    srv = lt({"push_interval_ms": 50, "flush_interval_ms": 1000, "workers": 2})
    create(srv, "fo-term")
    clients = [h.ws_connect(srv, "/v1/streams/fo-term/ws?viewer=viewer-term-%04d" % i)
               for i in range(4)]
    try:
        for c in clients:
            c.wait_totals()
        assert srv.post_events("fo-term", like_events(5, "viewer-termh")).status == 202
        for c in clients:
            c.send_json({"type": "like", "n": 2})
        time.sleep(0.15)  # read by the workers, not flushed yet
        srv.send_signal(signal.SIGTERM)
        for c in clients:
            code, reason = c.wait_close(timeout=5.0, reply=True)
            assert code == 1001, (code, reason)
            # Closed after the last flush: Redis has every like already.
            with redis.client() as r:
                likes = int(r.cmd("HGET", "lt:{fo-term}:totals", "likes") or 0)
            assert likes == 1 + 5 + 8, "1001 came before the last flush: likes %d" % likes
        for c in clients:
            assert c.wait_eof(5.0)
        assert srv.wait_exit(15.0) == 0, srv.stderr_text()[-2000:]
    finally:
        close_all(clients)
    again = lt(FAST)
    again.wait_totals("fo-term", {"likes": 14, "views": 4})


def test_over_max_connections_closes_1013(lt, redis):
    srv = lt(dict(FAST, **{"limits.max_connections": 3}))
    kept, refused = [], None
    try:
        for _ in range(8):
            c = h.ws_connect(srv, "/v1/streams/fo-over/ws")
            try:
                m = c.recv_json(timeout=2.0)
                assert m["type"] == "totals", m
                kept.append(c)
            except h.WsClosed as e:
                refused = (c, e.code, e.reason)
                break
        assert refused is not None, "no 1013 with %d sockets and max_connections 3" % len(kept)
        c, code, reason = refused
        assert code == 1013, (code, reason)
        assert "retry" in reason.lower(), "the reason should mention a retry: %r" % reason
        c.send_close(1013)
        assert c.wait_eof(3.0)
        c.close()
        assert len(kept) <= 3, len(kept)
        # The sockets already open keep working.
        for k in kept:
            k.send_frame(h.OP_PING, b"still-there")
            fin, rsv, op, payload = k.recv_frame(timeout=3.0)
            while op != h.OP_PONG:
                fin, rsv, op, payload = k.recv_frame(timeout=3.0)
            assert payload == b"still-there"
        # One leaves: a new socket is welcome again.
        kept[0].send_close()
        kept[0].wait_close(reply=False)
        kept[0].close()
        kept.pop(0)

        def admitted():
            d = h.ws_connect(srv, "/v1/streams/fo-over/ws")
            try:
                m = d.recv_json(timeout=2.0)
            except h.WsClosed:
                d.close()
                return None
            kept.append(d)
            return m
        m = h.wait_until(admitted, 3.0, interval=0.1, desc="a socket admitted after one left")
        assert m["type"] == "totals", m
    finally:
        close_all(kept)
