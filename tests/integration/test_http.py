"""HTTP/1.1 behaviour of livetally (issue 2, point 3): keep-alive,
pipelining, bodies, Expect, HEAD, strict parsing, limits, errors, CORS and
trusted_proxies. Every request here is written byte by byte."""

import json
import select
import time

import pytest

import ltharness as h

UA = "livetally-tests/1.0"


def ev(type_, n=None, viewer=None, source=None):
    e = {"type": type_}
    if n is not None:
        e["n"] = n
    if viewer is not None:
        e["viewer"] = viewer
    if source is not None:
        e["source"] = source
    return e


def events_request(stream, events, host="x", extra=()):
    body = json.dumps(events).encode()
    return h.build_request("POST", "/v1/streams/%s/events" % stream, host=host,
                           headers=[("Content-Type", "application/json")] + list(extra),
                           body=body)


def assert_closed(conn, timeout=3.0):
    assert conn.wait_closed(timeout), \
        "connection still open %.1fs after the answer (buffered %r)" % (timeout, conn.buf[:200])


# ---------------------------------------------------------------------------
# keep-alive and pipelining


def test_keep_alive_two_requests_same_connection(lt):
    srv = lt()
    with srv.conn() as c:
        r1 = c.request("GET", "/healthz")
        assert r1.status == 200, r1
        assert "close" not in r1.header_tokens("connection"), r1
        r2 = c.request("GET", "/healthz")
        assert r2.status == 200, r2
        assert c.is_open_now()


def test_http10_keep_alive_and_close(lt):
    srv = lt()
    with srv.conn() as c:
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        r = c.read_final()
        assert r.status == 200, r
        assert_closed(c)
    with srv.conn() as c:
        c.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_final()
        assert r.status == 200, r
        assert "close" not in r.header_tokens("connection"), r
        r = c.request("GET", "/healthz")
        assert r.status == 200, r
    with srv.conn() as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = c.read_final()
        assert r.status == 200, r
        assert_closed(c)


def test_thousand_requests_on_one_connection(lt):
    """1,000 requests of four kinds on one keep-alive connection, each
    answered, in order; the 250 likes among them are all counted."""
    srv = lt()
    stream = "ka-1000"
    expected = []
    with srv.conn() as c:
        for i in range(1000):
            kind = i % 4
            if kind == 0:
                r = c.request("GET", "/healthz")
                assert r.status == 200, (i, r)
            elif kind == 1:
                r = c.request("GET", "/no/such/path/%d" % i)
                h.assert_error(r, 404, "not_found")
            elif kind == 2:
                r = c.request("POST", "/v1/streams/%s/events" % stream,
                              body=json.dumps(ev("like", viewer="viewer-%06d" % i)),
                              headers=[("Content-Type", "application/json")])
                assert r.status == 202, (i, r)
                assert r.json() == {"accepted": 1, "rejected": 0}, (i, r)
            else:
                r = c.request("HEAD", "/healthz")
                assert r.status == 200 and r.body == b"", (i, r)
            expected.append(r.status)
        assert c.is_open_now()
    srv.wait_totals(stream, {"likes": 250})


def test_pipelining_answers_in_order(lt):
    srv = lt()
    reqs = [
        (b"GET", h.build_request("GET", "/healthz", host="x"), 200),
        (b"POST", events_request("pipe-1", [ev("like", 3, viewer="viewer-pipe-a")]), 202),
        (b"GET", h.build_request("GET", "/nope", host="x"), 404),
        (b"HEAD", h.build_request("HEAD", "/healthz", host="x"), 200),
        (b"POST", events_request("pipe-1", [ev("like", 4, viewer="viewer-pipe-b"),
                                           ev("view", viewer="viewer-pipe-b")]), 202),
        (b"GET", h.build_request("GET", "/v1/streams/never-seen-pipe", host="x"), 404),
        (b"GET", h.build_request("GET", "/healthz", host="x"), 200),
    ]
    with srv.conn() as c:
        c.send(b"".join(r[1] for r in reqs))
        got = []
        for method, _, _ in reqs:
            got.append(c.read_final(head=(method == b"HEAD")))
        assert [g.status for g in got] == [r[2] for r in reqs], got
        assert got[1].json() == {"accepted": 1, "rejected": 0}
        assert got[4].json() == {"accepted": 2, "rejected": 0}
        assert h.assert_error(got[2], 404)["error"] == "not_found"
        assert h.assert_error(got[5], 404)["error"] == "unknown_stream"
        assert got[3].body == b""
    srv.wait_totals("pipe-1", {"likes": 7, "views": 1})


def test_pipelining_many_in_one_send(lt):
    """60 pipelined event posts in one send, bigger than one read."""
    srv = lt()
    data = b"".join(events_request("pipe-2", [ev("like", 2, viewer="viewer-p2-%04d" % i)])
                    for i in range(60))
    with srv.conn() as c:
        c.send(data)
        for i in range(60):
            r = c.read_final()
            assert r.status == 202, (i, r)
    srv.wait_totals("pipe-2", {"likes": 120})


# ---------------------------------------------------------------------------
# bodies


def test_content_length_body_in_pieces(lt):
    srv = lt()
    body = json.dumps([ev("like", 5, viewer="viewer-cl-0001"), ev("view", viewer="viewer-cl-0001")]).encode()
    head = ("POST /v1/streams/cl-1/events HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)).encode()
    with srv.conn() as c:
        c.send(head[:10])
        time.sleep(0.05)
        c.send(head[10:] + body[:7])
        time.sleep(0.05)
        c.send(body[7:])
        r = c.read_final()
        assert r.status == 202, r
        assert r.json() == {"accepted": 2, "rejected": 0}
    srv.wait_totals("cl-1", {"likes": 5, "views": 1})


def test_chunked_request_body(lt):
    srv = lt()
    body = json.dumps([ev("like", 6, viewer="viewer-ch-0001"), ev("view", viewer="viewer-ch-0002")])
    data = ("POST /v1/streams/ch-1/events HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    data += h.chunked(body, sizes=(5, 1, 16, 3), trailers=[("X-Trailer", "yes")])
    with srv.conn() as c:
        # Sent in small pieces so chunk headers are split across reads.
        for i in range(0, len(data), 9):
            c.send(data[i:i + 9])
            time.sleep(0.002)
        r = c.read_final()
        assert r.status == 202, r
        assert r.json() == {"accepted": 2, "rejected": 0}
        # The connection is still usable: chunked framing was consumed exactly.
        r = c.request("GET", "/healthz")
        assert r.status == 200, r
    srv.wait_totals("ch-1", {"likes": 6, "views": 1})


def test_expect_100_continue(lt):
    srv = lt()
    body = json.dumps(ev("like", 2, viewer="viewer-ex-0001")).encode()
    head = ("POST /v1/streams/ex-1/events HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nExpect: 100-continue\r\n"
            "Content-Length: %d\r\n\r\n" % len(body)).encode()
    with srv.conn() as c:
        c.send(head)
        interim = c.read_response(timeout=3)
        assert interim.status == 100, "expected 100 Continue before the body, got %r" % interim
        assert interim.raw_head.startswith(b"HTTP/1.1 100 Continue\r\n"), interim.raw_head
        c.send(body)
        r = c.read_response()
        assert r.status == 202, r
        assert r.json() == {"accepted": 1, "rejected": 0}
    srv.wait_totals("ex-1", {"likes": 2})


def test_expect_100_continue_too_large_is_refused_without_body(lt):
    """With Expect and a Content-Length over the limit, the final 413 comes
    without the client sending the body."""
    srv = lt()
    head = ("POST /v1/streams/ex-2/events HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nExpect: 100-continue\r\n"
            "Content-Length: 10000000\r\n\r\n").encode()
    with srv.conn() as c:
        c.send(head)
        r = c.read_final(timeout=3)
        h.assert_error(r, 413, "too_large")


def test_head_has_headers_and_no_body(lt):
    srv = lt()
    assert srv.post_events("head-1", [ev("like", viewer="viewer-hd-0001")]).status == 202
    srv.wait_totals("head-1", {"likes": 1})
    for path in ("/healthz", "/v1/streams/head-1"):
        with srv.conn() as c:
            g = c.request("GET", path)
            assert g.status == 200, g
            c.send(h.build_request("HEAD", path, host="x") + h.build_request("GET", "/healthz", host="x"))
            r = c.read_final(head=True)
            assert r.status == 200, r
            assert r.header("content-type") == g.header("content-type"), (r, g)
            # No body bytes: the next answer starts right after the head.
            nxt = c.read_final()
            assert nxt.status == 200, nxt
            assert nxt.version == "HTTP/1.1"


# ---------------------------------------------------------------------------
# strict parsing: 400 and close

STRICT_CASES = {
    "duplicate_content_length_differing":
        b"POST /v1/streams/s1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
    "duplicate_content_length_same":
        b"POST /v1/streams/s1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5\r\nContent-Length: 5\r\n\r\n",
    "content_length_abc":
        b"POST /v1/streams/s1/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "content_length_negative":
        b"POST /v1/streams/s1/events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "content_length_list":
        b"POST /v1/streams/s1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1,1\r\n\r\n",
    "content_length_plus":
        b"POST /v1/streams/s1/events HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n",
    "content_length_inner_space":
        b"POST /v1/streams/s1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1 1\r\n\r\n",
    "content_length_with_transfer_encoding":
        b"POST /v1/streams/s1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    "transfer_encoding_with_content_length":
        b"POST /v1/streams/s1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
    "http11_without_host":
        b"GET /healthz HTTP/1.1\r\nUser-Agent: t\r\n\r\n",
    "two_host_headers":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    "obs_fold":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
    "obs_fold_tab":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n\tb\r\n\r\n",
    "space_before_colon":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test : 1\r\n\r\n",
    "tab_before_colon":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test\t: 1\r\n\r\n",
    "space_before_colon_host":
        b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n",
    "header_name_at":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX@Y: 1\r\n\r\n",
    "header_name_paren":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX(Y): 1\r\n\r\n",
    "header_name_slash":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX/Y: 1\r\n\r\n",
    "header_name_non_ascii":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-\xc3\xa9: 1\r\n\r\n",
    "header_name_empty":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n: 1\r\n\r\n",
    "header_without_colon":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    "nul_in_value":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test: a\x00b\r\n\r\n",
    "ctl_01_in_value":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test: a\x01b\r\n\r\n",
    "esc_in_value":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test: a\x1bb\r\n\r\n",
    "del_in_value":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test: a\x7fb\r\n\r\n",
    "bare_cr_in_value":
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Test: a\rb\r\n\r\n",
    "bare_lf_line_end":
        b"GET /healthz HTTP/1.1\r\nHost: x\nX-Test: 1\r\n\r\n",
    "nul_in_host":
        b"GET /healthz HTTP/1.1\r\nHost: x\x00y\r\n\r\n",
    "garbage_request_line":
        b"GARBAGE\r\n\r\n",
    "request_line_missing_version":
        b"GET /healthz\r\nHost: x\r\n\r\n",
    "request_line_extra_token":
        b"GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    "request_line_double_space":
        b"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "request_line_lowercase_version":
        b"GET /healthz http/1.1\r\nHost: x\r\n\r\n",
    "request_line_binary":
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    "request_target_not_origin_form":
        b"GET healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "http_2_0":
        b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n",
    "http_0_9_style":
        b"GET /healthz HTTP/0.9\r\nHost: x\r\n\r\n",
    "chunk_size_garbage":
        b"POST /v1/streams/s1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
}


@pytest.fixture(scope="module")
def strict_server(lt_binary, redis_server, tmp_path_factory):
    """One server for all the strictness cases (it must survive them all)."""
    from conftest import ServerFactory
    redis_server.running() or redis_server.start()
    factory = ServerFactory(lt_binary, redis_server, tmp_path_factory.mktemp("strict"))
    srv = factory()
    yield srv
    problems = factory.teardown(False)
    assert not problems, problems


@pytest.mark.parametrize("case", sorted(STRICT_CASES))
def test_strict_parsing_400_and_close(strict_server, case):
    with strict_server.conn() as c:
        c.send(STRICT_CASES[case])
        r = c.read_final(timeout=3)
        h.assert_error(r, 400)
        assert_closed(c)
    # The server is still fine.
    assert strict_server.get("/healthz").status == 200


def test_400_says_connection_close(strict_server):
    """RFC 9112 9.6: a server that is about to close says so."""
    with strict_server.conn() as c:
        c.send(STRICT_CASES["two_host_headers"])
        r = c.read_final(timeout=3)
        h.assert_error(r, 400)
        assert "close" in r.header_tokens("connection"), r


def test_bad_request_then_pipelined_request_is_not_answered(lt):
    """A smuggling attempt: after the 400 nothing more is answered on that
    connection, even though a valid request follows in the same packet."""
    srv = lt()
    with srv.conn() as c:
        c.send(b"POST /v1/streams/s1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
               b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_final(timeout=3)
        h.assert_error(r, 400)
        assert_closed(c)
        assert b"HTTP/1.1" not in c.buf, "a second answer followed the 400: %r" % c.buf


def test_unsupported_transfer_coding(lt):
    srv = lt()
    with srv.conn() as c:
        c.send(b"POST /v1/streams/s1/events HTTP/1.1\r\nHost: x\r\n"
               b"Transfer-Encoding: gzip\r\n\r\n")
        r = c.read_final(timeout=3)
        assert r.status in (400, 501), r
        h.assert_error(r, r.status)
        assert_closed(c)


# ---------------------------------------------------------------------------
# limits


def test_header_section_too_large_431(lt):
    srv = lt({"limits.max_header_bytes": 2048})
    with srv.conn() as c:
        r = c.request("GET", "/healthz", headers=[("X-Small", "a" * 1500)])
        assert r.status == 200, r
    with srv.conn() as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n")
        r = c.read_final(timeout=3)
        h.assert_error(r, 431, "headers_too_large")
    with srv.conn() as c:
        # Many small headers that add up, and a head that never ends.
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-A: bbbbbbbbbbbbbbbbbbbb\r\n" * 200)
        r = c.read_final(timeout=3)
        h.assert_error(r, 431, "headers_too_large")


def test_body_too_large_413(lt):
    srv = lt({"limits.max_body_bytes": 4096})
    small = json.dumps([ev("like", viewer="viewer-b413-01")]).encode() + b" " * 3000
    r = srv.request("POST", "/v1/streams/b413/events", body=small,
                    headers=[("Content-Type", "application/json")])
    assert r.status == 202, r
    big = json.dumps([ev("like", viewer="viewer-b413-02")]).encode() + b" " * 5000
    r = srv.request("POST", "/v1/streams/b413/events", body=big,
                    headers=[("Content-Type", "application/json")])
    h.assert_error(r, 413, "too_large")
    # Same with chunked framing: the size is only known while reading.
    with srv.conn() as c:
        c.send(b"POST /v1/streams/b413/events HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
               + h.chunked(big, sizes=(1000,)))
        r = c.read_final(timeout=3)
        h.assert_error(r, 413, "too_large")
    srv.wait_totals("b413", {"likes": 1})


def test_header_deadline_cannot_be_extended_by_trickling(lt):
    """limits.header_timeout_ms=500: a client sending one header byte every
    150 ms is cut off around 0.5 s, long before its 40 bytes would be done."""
    srv = lt({"limits.header_timeout_ms": 500, "limits.idle_timeout_ms": 10000})
    data = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40
    with srv.conn() as c:
        start = time.monotonic()
        closed_at = None
        for i in range(len(data)):
            try:
                c.send(data[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
            if not c.is_open_now():
                closed_at = time.monotonic()
                break
            time.sleep(0.15)
            if time.monotonic() - start > 4.0:
                break
        if closed_at is None:
            if c.wait_closed(0.1):
                closed_at = time.monotonic()
        assert closed_at is not None, "trickling client still connected after %.1fs" % (
            time.monotonic() - start)
        elapsed = closed_at - start
        assert 0.35 <= elapsed <= 2.5, "closed after %.2fs, expected about 0.5s" % elapsed
        if c.buf:
            # An answer before closing is optional; if there is one it is 408/400 JSON.
            assert c.buf.startswith(b"HTTP/1.1 4"), c.buf


def test_header_deadline_counts_from_first_byte_of_a_keep_alive_request(lt):
    """After one request, the next head must also complete within the
    header deadline."""
    srv = lt({"limits.header_timeout_ms": 300, "limits.idle_timeout_ms": 5000})
    with srv.conn() as c:
        assert c.request("GET", "/healthz").status == 200
        c.send(b"GET /healthz HTTP/1.1\r\n")
        start = time.monotonic()
        for _ in range(30):
            try:
                c.send(b"X-A: b\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            if not c.is_open_now():
                break
            time.sleep(0.1)
        assert c.wait_closed(2.0), "still open %.1fs into a trickled head" % (time.monotonic() - start)
        assert time.monotonic() - start < 2.5


def test_idle_keep_alive_connection_closed(lt):
    srv = lt({"limits.idle_timeout_ms": 300, "limits.header_timeout_ms": 10000})
    with srv.conn() as c:
        assert c.request("GET", "/healthz").status == 200
        start = time.monotonic()
        assert c.wait_closed(3.0), "idle connection not closed within 3s"
        elapsed = time.monotonic() - start
        assert 0.2 <= elapsed <= 2.5, "idle connection closed after %.2fs, expected ~0.3s" % elapsed


def test_activity_keeps_connection_alive(lt):
    srv = lt({"limits.idle_timeout_ms": 400, "limits.header_timeout_ms": 10000})
    with srv.conn() as c:
        for _ in range(6):
            assert c.request("GET", "/healthz").status == 200
            time.sleep(0.2)
        assert c.is_open_now()


def _read_answer_or_send(conn, data, wait=0.3):
    """For a connection past max_connections: the server may answer at once
    or after reading the request."""
    r, _, _ = select.select([conn.sock], [], [], wait)
    if not r:
        conn.send(data)
    return conn.read_final(timeout=3)


def test_max_connections_503_retry_after(lt):
    srv = lt({"limits.max_connections": 5, "limits.idle_timeout_ms": 10000})
    held = [srv.conn() for _ in range(5)]
    try:
        for c in held:
            assert c.request("GET", "/healthz").status == 200
        extra = srv.conn()
        try:
            r = _read_answer_or_send(extra, h.build_request("GET", "/healthz", host="x"))
            h.assert_error(r, 503, {"overloaded", "not_ready"})
            assert r.header("retry-after") is not None, r
            assert r.header("retry-after").strip().isdigit(), r
            assert_closed(extra)
        finally:
            extra.close()
        # Held connections still work.
        assert held[0].request("GET", "/healthz").status == 200
        # Freeing one slot lets a new connection in.
        held.pop().close()
        def new_conn_ok():
            with srv.conn() as c:
                try:
                    return _read_answer_or_send(c, h.build_request("GET", "/healthz", host="x")).status == 200
                except h.PeerClosed:
                    return False
        h.wait_until(new_conn_ok, 3, interval=0.05, desc="a slot after closing a connection")
    finally:
        for c in held:
            c.close()


# ---------------------------------------------------------------------------
# routing errors


def test_unknown_path_404_json(lt):
    srv = lt()
    for path in ("/nope", "/v1", "/v1/", "/v1/nothing", "/v1/streams/a/b/c/d", "/v2/streams"):
        r = srv.get(path)
        h.assert_error(r, 404, "not_found")


def test_wrong_method_405_with_allow(lt):
    srv = lt()
    cases = [
        ("POST", "/healthz", {"get"}),
        ("DELETE", "/readyz", {"get"}),
        ("GET", "/v1/streams/m405/events", {"post"}),
        ("PUT", "/v1/streams/m405/events", {"post"}),
        ("POST", "/v1/streams/m405", {"get", "put"}),
        ("DELETE", "/v1/streams", {"get"}),
    ]
    for method, path, must in cases:
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        hdrs = [("Content-Type", "application/json")] if body else []
        r = srv.request(method, path, body=body, headers=hdrs)
        h.assert_error(r, 405, "method_not_allowed")
        allow = set(r.header_tokens("allow"))
        assert must <= allow, "%s %s: Allow %r lacks %r" % (method, path, allow, must)
        assert method.lower() not in allow


def test_unknown_method_token(lt):
    srv = lt()
    r = srv.request("BREW", "/healthz")
    assert r.status in (405, 501), r
    h.assert_error(r, r.status)


def test_error_bodies_have_json_content_type(lt):
    """Spot check across several producers of errors."""
    srv = lt()
    h.assert_error(srv.get("/v1/streams/bad!id"), 400, "bad_stream_id")
    h.assert_error(srv.get("/v1/streams/never-seen-ct"), 404, "unknown_stream")
    h.assert_error(srv.post_events("ct1", b"{nope"), 400, "bad_json")
    h.assert_error(srv.post_events("ct1", b"{}", content_type="application/xml"), 415,
                   "unsupported_media_type")


# ---------------------------------------------------------------------------
# CORS


def test_cors_listed_origin(lt):
    srv = lt({"cors.allowed_origins": ["https://a.example"]})
    assert srv.post_events("cors-1", [ev("view", viewer="viewer-cors-01")]).status == 202
    srv.wait_totals("cors-1", {"views": 1})
    for method, path, body in (("GET", "/v1/streams/cors-1", None),
                               ("POST", "/v1/streams/cors-1/events",
                                json.dumps(ev("like", viewer="viewer-cors-02")))):
        hdrs = [("Origin", "https://a.example")]
        if body:
            hdrs.append(("Content-Type", "text/plain"))
        r = srv.request(method, path, body=body, headers=hdrs)
        assert r.status in (200, 202), r
        assert r.header("access-control-allow-origin") == "https://a.example", r
        assert "origin" in r.header_tokens("vary"), r

        hdrs = [("Origin", "https://b.example")]
        if body:
            hdrs.append(("Content-Type", "text/plain"))
        r = srv.request(method, path, body=body, headers=hdrs)
        assert r.header("access-control-allow-origin") is None, r
        assert "origin" in r.header_tokens("vary"), \
            "answer to another origin lacks Vary: Origin (caches would mix them): %r" % r

    # Without Origin (not a browser): answered, no ACAO needed.
    r = srv.get("/v1/streams/cors-1")
    assert r.status == 200, r


def test_cors_error_answers_carry_acao(lt):
    """A browser can only read an error body when ACAO is on it too."""
    srv = lt({"cors.allowed_origins": ["https://a.example"]})
    r = srv.get("/v1/streams/never-seen-cors", headers=[("Origin", "https://a.example")])
    h.assert_error(r, 404, "unknown_stream")
    assert r.header("access-control-allow-origin") == "https://a.example", r


def test_cors_preflight(lt):
    srv = lt({"cors.allowed_origins": ["https://a.example"]})
    r = srv.request("OPTIONS", "/v1/streams/cors-2/events", headers=[
        ("Origin", "https://a.example"),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "content-type"),
    ])
    assert r.status == 204, r
    assert r.body == b""
    assert r.header("access-control-allow-origin") == "https://a.example", r
    assert "post" in r.header_tokens("access-control-allow-methods"), r
    assert "content-type" in r.header_tokens("access-control-allow-headers"), r
    assert "origin" in r.header_tokens("vary"), r

    r = srv.request("OPTIONS", "/v1/streams/cors-2/events", headers=[
        ("Origin", "https://evil.example"),
        ("Access-Control-Request-Method", "POST"),
    ])
    assert r.header("access-control-allow-origin") is None, r


def test_cors_wildcard(lt):
    srv = lt({"cors.allowed_origins": ["*"]})
    assert srv.post_events("cors-3", [ev("view", viewer="viewer-cors-03")]).status == 202
    srv.wait_totals("cors-3", {"views": 1})
    for origin in ("https://anything.example", "http://localhost:3000"):
        r = srv.get("/v1/streams/cors-3", headers=[("Origin", origin)])
        assert r.status == 200, r
        assert r.header("access-control-allow-origin") in ("*", origin), r
    r = srv.request("OPTIONS", "/v1/streams/cors-3/events", headers=[
        ("Origin", "https://anything.example"),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "content-type"),
    ])
    assert r.status == 204, r
    assert r.header("access-control-allow-origin") in ("*", "https://anything.example"), r
    assert "post" in r.header_tokens("access-control-allow-methods"), r


# ---------------------------------------------------------------------------
# trusted_proxies


def _anonymous_views(srv, stream, xffs):
    for xff in xffs:
        r = srv.post_events(stream, [ev("view")], headers=[
            ("User-Agent", UA), ("X-Forwarded-For", xff)])
        assert r.status == 202, r
        assert r.json() == {"accepted": 1, "rejected": 0}, r


def test_x_forwarded_for_ignored_from_untrusted_peer(lt):
    srv = lt({"trusted_proxies": []})
    _anonymous_views(srv, "xff-1", ["203.0.113.1", "203.0.113.2"])
    srv.wait_totals("xff-1", {"views": 1, "uniques": 1})


def test_x_forwarded_for_believed_from_trusted_peer(lt):
    srv = lt({"trusted_proxies": ["127.0.0.1"]})
    _anonymous_views(srv, "xff-2", ["203.0.113.1", "203.0.113.2", "203.0.113.1"])
    srv.wait_totals("xff-2", {"views": 2, "uniques": 2})


def test_x_forwarded_for_cidr(lt):
    srv = lt({"trusted_proxies": ["127.0.0.0/8"]})
    _anonymous_views(srv, "xff-3", ["198.51.100.7", "198.51.100.8"])
    srv.wait_totals("xff-3", {"views": 2})


def test_user_agent_is_part_of_derived_viewer(lt):
    srv = lt()
    for ua in ("agent-one", "agent-two", "agent-one"):
        r = srv.post_events("ua-1", [ev("view")], headers=[("User-Agent", ua)])
        assert r.status == 202, r
    srv.wait_totals("ua-1", {"views": 2})


@pytest.mark.parametrize("size", [20000, 40000, 65536])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_large_bodies_in_pieces(lt, size, framing):
    """Bodies up to limits.max_body_bytes, arriving in pieces (the input
    buffer grows while the head is already parsed), followed by a pipelined
    request that must still be framed right."""
    srv = lt()
    stream = "big-%s-%d" % (framing[0], size)
    events = []
    viewer = 0
    body = b""
    while len(events) < 900:
        viewer += 1
        events.append(ev("view", viewer="viewer-big-%06d" % viewer))
        nxt = json.dumps(events).encode()
        if len(nxt) > size:
            events.pop()
            break
        body = nxt
    body = body + b" " * (size - len(body))
    assert len(body) == size
    head = ("POST /v1/streams/%s/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            % stream).encode()
    if framing == "chunked":
        data = head + b"Transfer-Encoding: chunked\r\n\r\n" + h.chunked(body, sizes=(4000, 1, 9000))
    else:
        data = head + b"Content-Length: %d\r\n\r\n" % size + body
    data += h.build_request("GET", "/healthz", host="x")
    with srv.conn() as c:
        step = max(1, len(data) // 7)
        for i in range(0, len(data), step):
            c.send(data[i:i + step])
            time.sleep(0.01)
        r = c.read_final()
        assert r.status == 202, r
        assert r.json() == {"accepted": len(events), "rejected": 0}, r
        r = c.read_final()
        assert r.status == 200, r
    srv.wait_totals(stream, {"views": len(events)})


def test_connection_stays_open_after_request_errors(lt):
    """Errors about the request's content (not its framing) leave a
    keep-alive connection usable."""
    srv = lt()
    with srv.conn() as c:
        h.assert_error(c.request("GET", "/nope"), 404, "not_found")
        h.assert_error(c.request("POST", "/healthz", body=b"{}",
                                 headers=[("Content-Type", "application/json")]), 405)
        h.assert_error(c.request("POST", "/v1/streams/ka-err/events", body=b"{nope",
                                 headers=[("Content-Type", "application/json")]), 400, "bad_json")
        h.assert_error(c.request("GET", "/v1/streams/bad!id"), 400, "bad_stream_id")
        r = c.request("GET", "/healthz")
        assert r.status == 200, r
