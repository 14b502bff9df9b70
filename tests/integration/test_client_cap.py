"""limits.max_connections_per_client: connections counted per client
address (the TCP peer; behind trusted_proxies, the X-Forwarded-For client),
the one past the cap answered 503 overloaded with Retry-After (a WebSocket
upgrade: 101, then close 1013) and closed, the count dropping on every way a
connection ends. And the accept back-off on EMFILE: no busy loop when the
worker is out of descriptors, service again once they are freed."""
import resource
import select
import time

import ltharness as h

CAP = 5


def conn_from(srv, addr, timeout=5.0):
    return h.HttpConn(srv.host, srv.port, timeout=timeout, source_addr=(addr, 0))


def healthz(c):
    return c.request("GET", "/healthz", headers=[("Host", "x")])


def answer_of(c, xff=None, wait=0.3):
    """The answer a connection past the cap gets: the server answers its
    first request (it may already have written, it may be closing)."""
    headers = [("X-Forwarded-For", xff)] if xff else None
    r, _, _ = select.select([c.sock], [], [], wait)
    if not r:
        c.send(h.build_request("GET", "/healthz", host="x", headers=headers))
    return c.read_final(timeout=3)


def assert_refused(c, xff=None):
    r = answer_of(c, xff)
    h.assert_error(r, 503, "overloaded")
    assert (r.header("retry-after") or "").strip().isdigit(), r
    assert c.wait_closed(3.0), "a refused connection should be closed"


def metric_from(srv, addr, name):
    with conn_from(srv, addr) as c:
        r = healthz(c)
        assert r.status == 200, r
        r = c.request("GET", "/metrics", headers=[("Host", "x")])
    assert r.status == 200, r
    total = 0.0
    for line in r.body.decode().splitlines():
        parts = line.split()
        if not line.startswith("#") and len(parts) >= 2 and parts[0].endswith(name):
            total += float(parts[1])
    return total


def fresh_conn_ok(srv, addr="127.0.0.1"):
    try:
        with conn_from(srv, addr) as c:
            return answer_of(c).status == 200
    except (h.PeerClosed, OSError):
        return False


def test_cap_per_peer_address(lt):
    srv = lt({"limits.max_connections_per_client": CAP, "limits.idle_timeout_ms": 10000})
    held = [conn_from(srv, "127.0.0.1") for _ in range(CAP)]
    try:
        for c in held:
            assert healthz(c).status == 200
        before = metric_from(srv, "127.0.0.3", "http_connections_refused_per_client_total")
        sixth = conn_from(srv, "127.0.0.1")
        try:
            assert_refused(sixth)
        finally:
            sixth.close()
        after = metric_from(srv, "127.0.0.3", "http_connections_refused_per_client_total")
        assert after == before + 1, (before, after)
        # Another address has a count of its own.
        with conn_from(srv, "127.0.0.2") as other:
            assert healthz(other).status == 200
            assert other.is_open_now()
        # The held ones keep working, on the same connections.
        for c in held:
            assert healthz(c).status == 200
        # One leaves: a new one from the same address is let in.
        held.pop().close()
        h.wait_until(lambda: fresh_conn_ok(srv), 3, interval=0.05,
                     desc="a connection after one from the same address closed")
        c = conn_from(srv, "127.0.0.1")
        held.append(c)
        assert healthz(c).status == 200
        # And the cap holds again.
        with conn_from(srv, "127.0.0.1") as again:
            assert_refused(again)
    finally:
        for c in held:
            c.close()


def test_websocket_over_cap_closed_1013(lt):
    srv = lt({"limits.max_connections_per_client": CAP})
    held = [conn_from(srv, "127.0.0.1") for _ in range(CAP)]
    try:
        for c in held:
            assert healthz(c).status == 200
        ws = h.WsClient(srv.host, srv.port, "/v1/streams/cap-ws/ws")
        try:
            assert ws.response.status == 101, ws.response
            try:
                while True:
                    ws.recv_json(timeout=3.0)
            except h.WsClosed as e:
                assert e.code == 1013, (e.code, e.reason)
        finally:
            ws.close()
        # WebSockets count too, and their close drops the count.
        held.pop().close()
        h.wait_until(lambda: fresh_conn_ok(srv), 3, interval=0.05, desc="a free slot")
        ws = h.ws_connect(srv, "/v1/streams/cap-ws/ws")
        try:
            assert ws.recv_json(timeout=3.0)["type"] == "totals"
            with conn_from(srv, "127.0.0.1") as c:
                assert_refused(c)
        finally:
            ws.send_close(1000)
            ws.wait_eof(3.0)
            ws.close()
        h.wait_until(lambda: fresh_conn_ok(srv), 3, interval=0.05,
                     desc="a free slot after the WebSocket closed")
    finally:
        for c in held:
            c.close()


def test_count_drops_on_timeouts_and_errors(lt):
    srv = lt({"limits.max_connections_per_client": CAP, "limits.idle_timeout_ms": 300,
              "limits.header_timeout_ms": 300})
    # Idle timeouts, header timeouts (a partial head) and bad requests close
    # connections; each time the address gets its whole budget back.
    for round_ in range(3):
        conns = [conn_from(srv, "127.0.0.1") for _ in range(CAP)]
        try:
            for i, c in enumerate(conns):
                if round_ == 1:
                    c.send(b"GET /healthz HTTP/1.1\r\nHo")
                elif round_ == 2:
                    c.send(b"BROKEN\r\n\r\n")
            for c in conns:
                assert c.wait_closed(3.0), "round %d: not closed by the server" % round_
        finally:
            for c in conns:
                c.close()
    held = [conn_from(srv, "127.0.0.1") for _ in range(CAP)]
    try:
        for c in held:
            assert healthz(c).status == 200
    finally:
        for c in held:
            c.close()


def test_behind_trusted_proxy_counted_by_forwarded_client(lt):
    srv = lt({"limits.max_connections_per_client": 2, "trusted_proxies": ["127.0.0.1"],
              "limits.idle_timeout_ms": 10000})
    held = []
    try:
        # The proxy itself may hold many connections: each counts for the
        # client its request names.
        for client in ("10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2", "10.0.0.3"):
            c = conn_from(srv, "127.0.0.1")
            held.append(c)
            r = c.request("GET", "/healthz", headers=[("Host", "x"), ("X-Forwarded-For", client)])
            assert r.status == 200, (client, r)
        # A third connection for 10.0.0.1 is refused; 10.0.0.3 has room.
        with conn_from(srv, "127.0.0.1") as c:
            assert_refused(c, xff="10.0.0.1")
        with conn_from(srv, "127.0.0.1") as c:
            r = c.request("GET", "/healthz", headers=[("Host", "x"), ("X-Forwarded-For", "10.0.0.3")])
            assert r.status == 200, r
        # A connection whose next request is for another client moves its
        # count: 10.0.0.1 gets a slot back, 10.0.0.4 takes one.
        r = held[0].request("GET", "/healthz",
                            headers=[("Host", "x"), ("X-Forwarded-For", "10.0.0.4")])
        assert r.status == 200, r
        with conn_from(srv, "127.0.0.1") as c:
            r = c.request("GET", "/healthz", headers=[("Host", "x"), ("X-Forwarded-For", "10.0.0.1")])
            assert r.status == 200, r
    finally:
        for c in held:
            c.close()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat; fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / float(resource_ticks())


def resource_ticks():
    import os
    return os.sysconf(os.sysconf_names["SC_CLK_TCK"])


def test_emfile_backs_off_without_busy_loop(lt):
    def low_nofile():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    srv = lt({"limits.idle_timeout_ms": 60000}, preexec=low_nofile)
    worker = srv.workers()[0]
    conns = []
    try:
        for _ in range(100):
            conns.append(conn_from(srv, "127.0.0.1"))
        # The worker accepted what it could; the rest wait in the backlog.
        h.wait_until(lambda: "accept:" in srv.stderr_text(), 5, desc="the EMFILE warning")
        time.sleep(0.3)
        t0 = cpu_seconds(worker)
        time.sleep(2.0)
        spent = cpu_seconds(worker) - t0
        assert spent < 0.5, "worker spent %.2f s of CPU in 2 s out of descriptors" % spent
    finally:
        for c in conns:
            c.close()
    h.wait_until(lambda: fresh_conn_ok(srv), 10, interval=0.1,
                 desc="an answer once the descriptors are free")
