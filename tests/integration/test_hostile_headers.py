"""Every request header that livetally echoes, logs or looks at, sent at the
largest size limits.max_header_bytes allows: the whole head (request line
to the empty line) exactly at the limit, and one byte over for 431.

Regression test for issue 7 point 1: an Origin of about 1,330 bytes used
to overflow the 1400-byte stack buffer of the response head (ASan:
stack-buffer-overflow, the worker died; a release build wrote past it).
CI runs this file in the ASan+UBSan build as well, where any overflow is a
report that fails the test at teardown (conftest.py). Each test also checks
here that the worker is the same process as before and still answers, and
that the answers are right (the echoed origin is exactly the long one).
"""

import json
import os
import re
import socket
import time

import pytest

import ltharness as h

DEFAULT_LIMIT = 8192


def request_at(limit, method, target, headers, pad=None, body=None, fill="a"):
    """Bytes of a request whose head is exactly `limit` bytes, reached by
    growing the value of header `pad` (or, with pad None, the target) with
    `fill`. Returns (bytes, the padded value)."""
    def build(extra):
        hs = []
        grown = None
        for k, v in headers:
            if k == pad:
                v = v + fill * extra
                grown = v
            hs.append((k, v))
        t = target
        if pad is None:
            t = target + fill * extra
            grown = t
        if body is not None:
            hs.append(("Content-Length", str(len(body))))
        return h.build_request(method, t, headers=hs, auto=False), grown

    base, _ = build(0)
    assert len(base) <= limit, "the request is over the limit before padding"
    data, grown = build(limit - len(base))
    assert len(data) == limit
    if body is not None:
        data += body.encode() if isinstance(body, str) else body
    return data, grown


def exchange(srv, data, head=False, timeout=10.0):
    with h.HttpConn(srv.host, srv.port, timeout=timeout) as c:
        c.send(data)
        return c.read_final(head=head, timeout=timeout)


def read_head(conn, timeout=10.0):
    """The status and headers of an answer whose body never ends (SSE) or
    that has none (101), read up to the empty line."""
    raw = conn._read_until(b"\r\n\r\n", limit=4 << 20, deadline=time.monotonic() + timeout)
    lines = raw[:-4].split(b"\r\n")
    m = re.match(rb"^HTTP/1\.1 (\d{3}) ", lines[0])
    assert m, "bad status line %r" % lines[0][:200]
    headers = []
    for line in lines[1:]:
        assert b"\r" not in line and b"\n" not in line
        name, sep, value = line.partition(b": ")
        assert sep, "not a header line: %r" % line[:200]
        headers.append((name.decode("latin-1"), value.decode("latin-1")))
    return int(m.group(1)), headers


def header(headers, name):
    vals = [v for k, v in headers if k.lower() == name.lower()]
    assert len(vals) <= 1, "%s %d times" % (name, len(vals))
    return vals[0] if vals else None


def alive_check(srv, workers_before):
    """The same worker still answers, and the master logged no death."""
    r = srv.get("/healthz")
    assert r.status == 200, r
    assert srv.workers() == workers_before, \
        "workers changed from %s to %s" % (workers_before, srv.workers())
    err = srv.stderr_text()
    assert " died " not in err and "AddressSanitizer" not in err \
        and "runtime error" not in err, h.tail(srv.stderr_path)


EMBED = "<p>{{STREAM}} {{LOCALE}} {{THEME}}</p>"


def server(lt, limit, extra=None):
    """A server with that header limit, 127.0.0.1 as a trusted proxy, and a
    web_root of its own (so the widget and embed answers do not depend on
    the build's web files)."""
    web = os.path.join(str(lt.tmp), "web")
    os.makedirs(web, exist_ok=True)
    for name, text in (("widget.js", "/* widget */\n"), ("embed.html", EMBED),
                       ("demo.html", EMBED)):
        with open(os.path.join(web, name), "w") as f:
            f.write(text)
    over = {"trusted_proxies": ["127.0.0.1"], "streams": {"auto_create": True},
            "web_root": web}
    if limit != DEFAULT_LIMIT:
        over["limits"] = {"max_header_bytes": limit}
    over.update(extra or {})
    return lt(over, operator=True)  # so that a bad Authorization is 401


def host_of(srv):
    return "%s:%d" % (srv.host, srv.port)


def long_origin(n=1330):
    return "http://" + "a" * n


LIMITS = [DEFAULT_LIMIT, 65536]


# ---------------------------------------------------------------------------
# The original report, as a user would send it.


def test_origin_of_1330_bytes_on_healthz(lt):
    srv = server(lt, DEFAULT_LIMIT)
    before = srv.workers()
    origin = long_origin(1330)
    for _ in range(3):  # it used to kill each replacement worker too
        r = srv.get("/healthz", headers=[("Origin", origin)])
        assert r.status == 200, r
        assert r.header("Access-Control-Allow-Origin") == origin
        assert r.header("Vary") == "Origin"
    alive_check(srv, before)


# ---------------------------------------------------------------------------
# Origin, echoed on every kind of answer, with the head exactly at the limit.


@pytest.mark.parametrize("limit", LIMITS)
def test_origin_at_the_limit_on_every_kind_of_answer(lt, limit):
    srv = server(lt, limit)
    before = srv.workers()
    hp = host_of(srv)
    cases = [
        # (method, target, extra headers, body, expected status)
        ("GET", "/healthz", [], None, 200),
        ("HEAD", "/healthz", [], None, 200),
        ("GET", "/no/such/endpoint", [], None, 404),
        ("DELETE", "/healthz", [], None, 405),
        ("GET", "/v1/streams/.bad-id", [], None, 400),
        ("POST", "/v1/streams/hostile/events", [("Content-Type", "application/json")],
         "{not json", 400),
        ("POST", "/v1/streams/hostile/events", [("Content-Type", "application/json")],
         json.dumps({"type": "like", "n": 2, "viewer": "viewer-0001"}), 202),
        ("OPTIONS", "/v1/streams/hostile/events",
         [("Access-Control-Request-Method", "POST"),
          ("Access-Control-Request-Headers", "content-type")], None, 204),
        ("GET", "/v1/streams/hostile", [], None, 200),
    ]
    for method, target, extra, body, status in cases:
        if target == "/v1/streams/hostile" and status == 200:
            # The like's batch goes to Redis once its seal is in the spool
            # (an fsync): the new stream may not exist a moment after 202.
            h.wait_until(lambda: srv.totals("hostile"), 5, desc="the stream created")
        hdrs = [("Host", hp)] + extra + [("Origin", "http://o")]
        data, origin = request_at(limit, method, target, hdrs, pad="Origin", body=body)
        r = exchange(srv, data, head=(method == "HEAD"))
        assert r.status == status, (method, target, r)
        assert r.header("Access-Control-Allow-Origin") == origin, (method, target)
        assert len(r.header_all("Access-Control-Allow-Origin")) == 1
        if status >= 400:
            assert "error" in r.json(), r
        if method == "OPTIONS":
            assert "post" in r.header_tokens("Access-Control-Allow-Methods")
        # One byte over: 431, and no origin echoed from a head never parsed.
        data, _ = request_at(limit + 1, method, target, hdrs, pad="Origin", body=body)
        r = exchange(srv, data)
        h.assert_error(r, 431, "headers_too_large")
        assert r.header("Access-Control-Allow-Origin") is None
    h.wait_until(lambda: srv.totals("hostile") and srv.totals("hostile")["likes"] == 2,
                 5, desc="the like counted")
    alive_check(srv, before)


@pytest.mark.parametrize("limit", LIMITS)
def test_origin_at_the_limit_on_sse_and_websocket(lt, limit):
    srv = server(lt, limit)
    before = srv.workers()
    hp = host_of(srv)
    # SSE: the stream's own head echoes the origin (it used to drop one of
    # 256 bytes or more).
    hdrs = [("Host", hp), ("Accept", "text/event-stream"), ("Last-Event-ID", "7"),
            ("Origin", "http://o")]
    data, origin = request_at(limit, "GET", "/v1/streams/hostile/live", hdrs, pad="Origin")
    with h.HttpConn(srv.host, srv.port, timeout=10) as c:
        c.send(data)
        status, headers = read_head(c)
        assert status == 200
        assert header(headers, "Access-Control-Allow-Origin") == origin
        assert header(headers, "Content-Type").startswith("text/event-stream")
        assert c._read_until(b"\n\n") == b"retry: 3000\n\n"
    data, _ = request_at(limit + 1, "GET", "/v1/streams/hostile/live", hdrs, pad="Origin")
    h.assert_error(exchange(srv, data), 431, "headers_too_large")

    # WebSocket upgrades (no CORS echo, but the origin is read and checked).
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    for path in ("/v1/streams/hostile/ws", "/v1/ws"):
        hdrs = [("Host", hp), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13"),
                ("Origin", "http://o")]
        data, _ = request_at(limit, "GET", path, hdrs, pad="Origin")
        with h.HttpConn(srv.host, srv.port, timeout=10) as c:
            c.send(data)
            status, headers = read_head(c)
            assert status == 101, path
            assert header(headers, "Sec-WebSocket-Accept") == h.ws_accept_key(key)
            c.send(h.ws_frame(0x8, h.ws_close_payload(1000)))
        data, _ = request_at(limit + 1, "GET", path, hdrs, pad="Origin")
        h.assert_error(exchange(srv, data), 431, "headers_too_large")
    alive_check(srv, before)


def test_origin_at_the_largest_limit(lt):
    """limits.max_header_bytes at its maximum, 1 MiB: an origin of almost
    that much is echoed whole by lt_respond and by the SSE head."""
    limit = 1048576
    srv = server(lt, limit)
    before = srv.workers()
    hdrs = [("Host", host_of(srv)), ("Origin", "http://o")]
    data, origin = request_at(limit, "GET", "/healthz", hdrs, pad="Origin")
    r = exchange(srv, data, timeout=20)
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") == origin
    data, origin = request_at(limit, "GET", "/v1/streams/huge/live", hdrs, pad="Origin")
    with h.HttpConn(srv.host, srv.port, timeout=20) as c:
        c.send(data)
        status, headers = read_head(c, timeout=20)
        assert status == 200
        assert header(headers, "Access-Control-Allow-Origin") == origin
    data, _ = request_at(limit + 1, "GET", "/healthz", hdrs, pad="Origin")
    h.assert_error(exchange(srv, data, timeout=20), 431, "headers_too_large")
    alive_check(srv, before)


def test_origin_not_allowed_is_not_echoed(lt):
    srv = server(lt, DEFAULT_LIMIT, {"cors": {"allowed_origins": ["https://good.example"]}})
    before = srv.workers()
    hdrs = [("Host", host_of(srv)), ("Origin", "https://good.example")]
    data, origin = request_at(DEFAULT_LIMIT, "GET", "/healthz", hdrs, pad="Origin")
    r = exchange(srv, data)
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") is None
    r = srv.get("/healthz", headers=[("Origin", "https://good.example")])
    assert r.header("Access-Control-Allow-Origin") == "https://good.example"
    # A WebSocket from a long origin not on the list: 403, not a crash.
    hdrs = [("Host", host_of(srv)), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
            ("Origin", "https://evil.example")]
    data, _ = request_at(DEFAULT_LIMIT, "GET", "/v1/ws", hdrs, pad="Origin")
    h.assert_error(exchange(srv, data), 403, "forbidden")
    alive_check(srv, before)


# ---------------------------------------------------------------------------
# Every other header that is read, echoed or logged, each filling the head.


@pytest.mark.parametrize("limit", LIMITS)
def test_other_headers_at_the_limit(lt, limit):
    srv = server(lt, limit)
    before = srv.workers()
    hp = host_of(srv)
    ev = json.dumps({"type": "view"})
    cases = [
        # (method, target, headers, padded header, fill, body, expected status)
        ("OPTIONS", "/v1/streams/hostile/events",
         [("Host", hp), ("Origin", "http://o"), ("Access-Control-Request-Method", "POST"),
          ("Access-Control-Request-Headers", "content-type,")], "Access-Control-Request-Headers",
         "x", None, 204),
        ("OPTIONS", "/v1/streams/hostile/events",
         [("Host", hp), ("Origin", "http://o"), ("Access-Control-Request-Method", "POST")],
         "Access-Control-Request-Method", "P", None, 204),
        ("GET", "/healthz", [("Host", "h")], "Host", "h", None, 200),
        ("POST", "/v1/streams/hostile/events",
         [("Host", hp), ("Content-Type", "application/json"), ("User-Agent", "UA/")],
         "User-Agent", "u", ev, 202),
        ("POST", "/v1/streams/hostile/events",
         [("Host", hp), ("Content-Type", "application/json"),
          ("X-Forwarded-For", "203.0.113.9")], "X-Forwarded-For", ",", ev, 202),
        ("POST", "/v1/streams/hostile/events",
         [("Host", hp), ("Content-Type", "application/x-")], "Content-Type", "u", ev, 415),
        ("PUT", "/v1/streams/hostile",
         [("Host", hp), ("Content-Type", "application/json"), ("Authorization", "Bearer ")],
         "Authorization", "t", "{}", 401),
        ("GET", "/widget.js", [("Host", hp), ("Accept-Encoding", "gzip, x")],
         "Accept-Encoding", "x", None, 200),
        ("GET", "/widget.js", [("Host", hp), ("If-None-Match", "\"x")], "If-None-Match", "x",
         None, 200),
        ("GET", "/healthz", [("Host", hp), ("Cookie", "c=")], "Cookie", "c", None, 200),
        ("GET", "/healthz", [("Host", hp), ("Referer", "http://r/")], "Referer", "r", None, 200),
        ("GET", "/healthz", [("Host", hp), ("X-Padding", "")], "X-Padding", "p", None, 200),
        # The request target: a long path, and long query values of every
        # endpoint that reads one (the embed page escapes its into HTML).
        ("GET", "/no/such/", [("Host", hp)], None, "p", None, 404),
        ("GET", "/v1/streams?cursor=", [("Host", hp)], None, "c", None, 400),
        ("GET", "/v1/streams/hostile?locale=", [("Host", hp)], None, "l", None, 400),
        ("GET", "/embed/hostile?locale=en&theme=", [("Host", hp)], None, "t", None, 200),
        ("GET", "/demo?stream=", [("Host", hp)], None, "s", None, 200),  # too long: the default
    ]
    for method, target, hdrs, pad, fill, body, status in cases:
        data, _ = request_at(limit, method, target, hdrs, pad=pad, body=body, fill=fill)
        r = exchange(srv, data)
        assert r.status == status, (method, target, pad, r)
        if status >= 400:
            assert "error" in r.json(), r
        if pad == "Origin" or ("Origin", "http://o") in hdrs:
            assert r.header("Access-Control-Allow-Origin") == "http://o"
        if target.startswith("/embed/"):  # the too long theme: its default
            assert r.body == b"<p>hostile en auto</p>", r
        if target.startswith("/demo"):  # the too long stream: "demo"
            assert r.body == b"<p>demo  auto</p>", r
        data, _ = request_at(limit + 1, method, target, hdrs, pad=pad, body=body, fill=fill)
        h.assert_error(exchange(srv, data), 431, "headers_too_large")
    alive_check(srv, before)


@pytest.mark.parametrize("limit", LIMITS)
def test_live_headers_at_the_limit(lt, limit):
    """Last-Event-ID, User-Agent (the derived viewer id) and the WebSocket
    handshake's own headers, each filling the head."""
    srv = server(lt, limit)
    before = srv.workers()
    hp = host_of(srv)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    sse = [("Host", hp), ("Accept", "text/event-stream"), ("Origin", "http://o"),
           ("Last-Event-ID", "1"), ("User-Agent", "UA/")]
    for pad, fill in (("Last-Event-ID", "9"), ("User-Agent", "u")):
        data, _ = request_at(limit, "GET", "/v1/streams/hostile/live", sse, pad=pad, fill=fill)
        with h.HttpConn(srv.host, srv.port, timeout=10) as c:
            c.send(data)
            status, headers = read_head(c)
            assert status == 200, pad
            assert header(headers, "Access-Control-Allow-Origin") == "http://o"
        data, _ = request_at(limit + 1, "GET", "/v1/streams/hostile/live", sse, pad=pad,
                             fill=fill)
        h.assert_error(exchange(srv, data), 431, "headers_too_large")

    ws = [("Host", hp), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
          ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13"),
          ("Sec-WebSocket-Protocol", "p"), ("User-Agent", "UA/"), ("Origin", "http://o")]
    cases = [
        ("Sec-WebSocket-Protocol", "p", 101),
        ("User-Agent", "u", 101),
        ("Sec-WebSocket-Key", "A", 400),
        ("Sec-WebSocket-Version", "3", 426),
        ("Upgrade", "x", 400),
        ("Connection", "x", 400),
    ]
    for pad, fill, status in cases:
        data, _ = request_at(limit, "GET", "/v1/ws", ws, pad=pad, fill=fill)
        with h.HttpConn(srv.host, srv.port, timeout=10) as c:
            c.send(data)
            if status == 101:
                got, headers = read_head(c)
                assert got == 101, pad
                assert header(headers, "Sec-WebSocket-Accept") == h.ws_accept_key(key)
                c.send(h.ws_frame(0x8, h.ws_close_payload(1000)))
            else:
                r = c.read_final(timeout=10)
                assert r.status == status, (pad, r)
                assert "error" in r.json()
                if status == 426:
                    assert r.header("Sec-WebSocket-Version") == "13"
        data, _ = request_at(limit + 1, "GET", "/v1/ws", ws, pad=pad, fill=fill)
        h.assert_error(exchange(srv, data), 431, "headers_too_large")
    alive_check(srv, before)


def test_many_headers_filling_the_limit(lt):
    """64 header fields (the parser's most) that together fill the head,
    all echoed-or-read names among them."""
    srv = server(lt, DEFAULT_LIMIT)
    before = srv.workers()
    names = ["Origin", "User-Agent", "X-Forwarded-For", "Last-Event-ID", "Accept-Encoding",
             "If-None-Match", "Access-Control-Request-Method", "Access-Control-Request-Headers"]
    hdrs = [("Host", host_of(srv))]
    for i in range(63 - len(names)):
        hdrs.append(("X-F%d" % i, "v"))
    hdrs += [(n, "http://o" if n == "Origin" else "127.0.0.1" if n == "X-Forwarded-For"
              else "v") for n in names]
    data, origin = request_at(DEFAULT_LIMIT, "OPTIONS", "/healthz", hdrs, pad="Origin")
    r = exchange(srv, data)
    assert r.status == 204, r
    assert r.header("Access-Control-Allow-Origin") == origin
    alive_check(srv, before)


def test_header_values_cannot_split_the_answer(lt):
    """A CR or LF inside a value is refused by the parser (400), so nothing
    a client sends can add a line to our answer."""
    srv = server(lt, DEFAULT_LIMIT)
    before = srv.workers()
    for raw in (b"http://o\rSet-Cookie: a=b", b"http://o\nSet-Cookie: a=b",
                b"http://o\x00x"):
        data = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nOrigin: " + raw + b"\r\n\r\n")
        with h.HttpConn(srv.host, srv.port, timeout=5) as c:
            c.send(data)
            try:
                r = c.read_final(timeout=5)
            except (h.PeerClosed, socket.timeout):
                continue
            assert r.status == 400, r
            assert r.header("Set-Cookie") is None
            assert r.header("Access-Control-Allow-Origin") is None
    alive_check(srv, before)
