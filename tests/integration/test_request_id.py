"""Request ids (issue 10, point 3): every kind of answer carries a
well-formed X-Request-Id, ids differ across requests, a trusted proxy's id
is echoed and an untrusted client's is not, a hostile id is replaced, CORS
answers expose the header, and the log line about a bad request names the
same id as its answer."""

import re
import select
import time

import pytest

import ltharness as h

# What the server generates: 16 lowercase hex digits.
GENERATED = re.compile(r"^[0-9a-f]{16}$")
# What it may echo from a trusted proxy: 1..64 of A-Z a-z 0-9 - _ .
SAFE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def rid(resp):
    values = resp.header_all("x-request-id")
    assert len(values) == 1, "expected one X-Request-Id, got %r in %r" % (values, resp)
    assert SAFE.match(values[0]), "malformed X-Request-Id %r in %r" % (values[0], resp)
    return values[0]


def generated_rid(resp):
    v = rid(resp)
    assert GENERATED.match(v), "not a generated id: %r in %r" % (v, resp)
    return v


def events(stream="rid-1"):
    return "/v1/streams/%s/events" % stream


def test_every_kind_of_answer_has_a_request_id(lt):
    srv = lt()
    seen = []
    # 200
    r = srv.get("/healthz")
    assert r.status == 200, r
    seen.append(generated_rid(r))
    # 202
    r = srv.post_events("rid-1", [{"type": "view", "viewer": "viewer-rid-1"}])
    assert r.status == 202, r
    seen.append(generated_rid(r))
    # 404
    r = srv.get("/nope")
    assert r.status == 404, r
    seen.append(generated_rid(r))
    # 405
    r = srv.request("DELETE", "/healthz")
    assert r.status == 405, r
    seen.append(generated_rid(r))
    # 400: bad JSON (a handler's answer) and a malformed head (the parser's)
    r = srv.post_events("rid-1", "{not json")
    assert r.status == 400, r
    seen.append(generated_rid(r))
    r = h.raw_exchange(srv.host, srv.port, b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n")
    assert r.status == 400, r
    seen.append(generated_rid(r))
    # 413: a body over limits.max_body_bytes, refused from its Content-Length
    r = h.raw_exchange(srv.host, srv.port,
                       b"POST /v1/streams/rid-1/events HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n")
    assert r.status == 413, r
    seen.append(generated_rid(r))
    # 431: a header section over limits.max_header_bytes
    r = h.raw_exchange(srv.host, srv.port,
                       b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000 +
                       b"\r\n\r\n")
    assert r.status == 431, r
    seen.append(generated_rid(r))
    # HEAD answers too
    with srv.conn() as c:
        c.send(h.build_request("HEAD", "/healthz", host="x"))
        r = c.read_final(head=True)
    assert r.status == 200, r
    seen.append(generated_rid(r))
    assert len(set(seen)) == len(seen), "ids repeat: %r" % seen


def test_ids_differ_on_one_keep_alive_connection(lt):
    srv = lt()
    with srv.conn() as c:
        ids = [generated_rid(c.request("GET", "/healthz")) for _ in range(50)]
    assert len(set(ids)) == 50, ids


def test_ids_differ_across_workers(lt):
    srv = lt({"workers": 2})
    ids = [generated_rid(srv.get("/healthz")) for _ in range(60)]
    assert len(set(ids)) == 60, ids


def test_websocket_101_and_sse_preamble(lt, redis):
    srv = lt({"push_interval_ms": 50})
    with h.WsClient(srv.host, srv.port, "/v1/streams/rid-ws/ws") as c:
        assert c.response.status == 101, c.response
        generated_rid(c.response)
    s = h.sse_connect(srv, "/v1/streams/rid-sse/live")
    try:
        assert s.response.status == 200, s.response
        generated_rid(s.response)
    finally:
        s.conn.close()


def test_503_over_max_connections(lt):
    srv = lt({"limits.max_connections": 1, "limits.idle_timeout_ms": 10000})
    held = srv.conn()
    try:
        assert held.request("GET", "/healthz").status == 200
        # Past max_connections: answered 503 on its request.
        with srv.conn() as extra:
            extra.send(h.build_request("GET", "/healthz", host="x"))
            r = extra.read_final(timeout=3)
        h.assert_error(r, 503, {"overloaded"})
        generated_rid(r)
        # Past max_connections plus the server's slack (64): refused at
        # accept with a canned answer, which carries an id too.
        crowd = []
        try:
            refused = None
            for _ in range(80):
                c = srv.conn()
                crowd.append(c)
                try:
                    ready, _, _ = select.select([c.sock], [], [], 0.05)
                    if ready:
                        refused = c.read_final(timeout=3)
                        break
                except h.PeerClosed:
                    continue
            assert refused is not None, "no connection was refused at accept"
            h.assert_error(refused, 503, {"overloaded"})
            generated_rid(refused)
        finally:
            for c in crowd:
                c.close()
    finally:
        held.close()


def test_trusted_proxy_id_is_echoed(lt):
    srv = lt({"trusted_proxies": ["127.0.0.1"]})
    for value in ("abc", "req-0123456789_ABC.def", "x" * 64):
        r = srv.get("/healthz", headers=[("X-Request-Id", value)])
        assert r.status == 200, r
        assert rid(r) == value, r
    # Error answers keep it too.
    r = srv.get("/nope", headers=[("X-Request-Id", "proxy-404")])
    assert r.status == 404 and rid(r) == "proxy-404", r
    # A 413 refused after its head was parsed keeps the proxy's id.
    r = h.raw_exchange(srv.host, srv.port,
                       b"POST /v1/streams/rid-1/events HTTP/1.1\r\nHost: x\r\n"
                       b"X-Request-Id: proxy-413\r\nContent-Length: 10000000\r\n\r\n")
    assert r.status == 413 and rid(r) == "proxy-413", r
    # And the WebSocket handshake.
    with h.WsClient(srv.host, srv.port, "/v1/streams/rid-ws2/ws",
                    headers=[("X-Request-Id", "proxy-ws")]) as c:
        assert c.response.status == 101, c.response
        assert rid(c.response) == "proxy-ws", c.response


def test_untrusted_client_id_is_not_echoed(lt):
    srv = lt({"trusted_proxies": []})
    r = srv.get("/healthz", headers=[("X-Request-Id", "client-chosen")])
    assert r.status == 200, r
    assert rid(r) != "client-chosen"
    generated_rid(r)


@pytest.mark.parametrize("value", [
    "x" * 65,                     # one over the limit
    "y" * 200,
    '"quoted"',
    "a b",
    "semi;colon",
    "<script>",
    "caf\u00e9",                  # obs-text bytes
    "a\tb",
])
def test_hostile_id_from_trusted_proxy_is_replaced(lt, value):
    srv = lt({"trusted_proxies": ["127.0.0.1"]})
    raw = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + value.encode("utf-8") +
           b"\r\nConnection: close\r\n\r\n")
    r = h.raw_exchange(srv.host, srv.port, raw)
    assert r.status == 200, r
    generated_rid(r)
    assert value.encode("utf-8") not in r.raw_head


def test_cors_answers_expose_the_header(lt):
    srv = lt({"cors.allowed_origins": ["https://page.example"]})
    r = srv.get("/v1/streams/rid-none", headers=[("Origin", "https://page.example")])
    generated_rid(r)
    assert "x-request-id" in [t.lower() for t in
                              r.header_tokens("access-control-expose-headers")], r
    # Not for an origin that is not allowed (no CORS answer at all).
    r = srv.get("/healthz", headers=[("Origin", "https://other.example")])
    generated_rid(r)
    assert r.header("access-control-expose-headers") is None, r


def test_bad_request_log_line_names_its_id(lt):
    srv = lt({"limits.header_timeout_ms": 300})
    r = h.raw_exchange(srv.host, srv.port, b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n")
    assert r.status == 400, r
    id400 = generated_rid(r)
    # A timeout too: the header deadline's 408.
    with srv.conn() as c:
        c.send(b"GET /healthz HTTP/1.1\r\n")
        r = c.read_final(timeout=5)
    assert r.status == 408, r
    id408 = generated_rid(r)

    def line_for(i):
        for line in srv.stderr_text().splitlines():
            if line.endswith(" req=" + i):
                return line
        return None
    h.wait_until(lambda: line_for(id400) and line_for(id408), 5,
                 desc="log lines naming %s and %s" % (id400, id408))
    assert " 400 " in line_for(id400), line_for(id400)
    assert " 408 " in line_for(id408), line_for(id408)
    # A request that went well is not logged at info; other lines carry no
    # stale id of an earlier request.
    ok = generated_rid(srv.get("/healthz"))
    time.sleep(0.2)
    assert ("req=" + ok) not in srv.stderr_text()
    for line in srv.stderr_text().splitlines():
        if "req=" in line:
            assert line.endswith(" req=" + id400) or line.endswith(" req=" + id408), line
