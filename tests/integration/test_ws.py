"""WebSocket (issue 3, points 1 and 3): the handshake and origin policy, each
close code, fragmentation, ping/pong and idle drops, a protocol error closing
only its own connection, and livetally's messages (views, likes and their
budget, sources, subscriptions and their cap, unknown and ended streams,
operator sockets, no Redis keys from subscribing).

Raw sockets (ltharness.WsClient) where exact frames matter; Debian's
python3-websockets (asyncio API) as an independent real client."""

import asyncio
import json
import socket
import time

import pytest

import ltharness as h
from conftest import OPERATOR_TOKEN

try:
    import websockets
    import websockets.exceptions
except ImportError:  # pragma: no cover - Debian's python3-websockets
    websockets = None

FAST = {"push_interval_ms": 50}


def url(srv, path):
    return "ws://%s:%d%s" % (srv.host, srv.port, path)


def run(coro, timeout=10.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def like_events(n, prefix):
    return [{"type": "like", "viewer": "%s-%04d" % (prefix, i)} for i in range(n)]


def assert_totals_msg(m, stream):
    assert m["type"] == "totals", m
    assert m["stream"] == stream, m
    for k in ("views", "uniques", "likes", "online", "peak_online", "seq", "ts"):
        assert isinstance(m.get(k), int) and not isinstance(m.get(k), bool), (k, m)
    assert abs(m["ts"] - time.time() * 1000) < 60000, m


def assert_close(c, code, timeout=3.0):
    """The server sends a close frame with `code` and then closes TCP."""
    got, reason = c.wait_close(timeout=timeout, reply=False)
    assert got == code, "close code %s (%r), expected %s" % (got, reason, code)
    assert c.wait_eof(3.0), "TCP still open 3 s after the close frame %s" % code
    return reason


# ---------------------------------------------------------------------------
# handshake


def test_handshake_accept_key_and_first_totals(lt, redis):
    srv = lt(FAST)
    with h.WsClient(srv.host, srv.port, "/v1/streams/ws-hs/ws",
                    key="dGhlIHNhbXBsZSBub25jZQ==") as c:
        r = c.response
        assert r.status == 101, r
        # RFC 6455's own example key and answer.
        assert r.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", r
        assert "websocket" in r.header_tokens("Upgrade"), r
        assert "upgrade" in r.header_tokens("Connection"), r
        m = c.wait_message(timeout=3.0)
        assert_totals_msg(m, "ws-hs")
        # A stream never seen: zeros and seq 0.
        assert {k: m[k] for k in ("views", "uniques", "likes", "peak_online", "seq")} == \
            {"views": 0, "uniques": 0, "likes": 0, "peak_online": 0, "seq": 0}, m


@pytest.mark.skipif(websockets is None, reason="python3-websockets not installed")
def test_handshake_with_websockets_library(lt, redis):
    srv = lt(FAST)
    assert srv.post_events("ws-lib", like_events(2, "viewer-lib")).status == 202
    srv.wait_totals("ws-lib", {"likes": 2})

    async def go():
        async with websockets.connect(url(srv, "/v1/streams/ws-lib/ws"), ping_interval=None,
                                      open_timeout=5, close_timeout=3) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 3))
            await ws.send(json.dumps({"type": "like", "n": 3, "viewer": "viewer-lib-ws1"}))
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 3))
                if m["type"] == "totals" and m["likes"] == 5:
                    return first, m

    first, last = run(go())
    assert_totals_msg(first, "ws-lib")
    assert first["likes"] == 2 and first["seq"] >= 1, first
    assert last["seq"] > first["seq"], (first, last)
    srv.wait_totals("ws-lib", {"likes": 5})


def test_handshake_missing_upgrade_is_426(lt, redis):
    srv = lt(FAST)
    r = srv.get("/v1/streams/ws-x/ws")
    h.assert_error(r, 426)
    r = srv.get("/v1/ws")
    h.assert_error(r, 426)


def test_handshake_bad_upgrades_are_400(lt, redis):
    srv = lt(FAST)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    base = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13"}
    cases = {
        "no Connection: Upgrade": dict(base, Connection="keep-alive"),
        "Upgrade is not websocket": dict(base, Upgrade="h2c"),
        "no key": {k: v for k, v in base.items() if k != "Sec-WebSocket-Key"},
        "short key": dict(base, **{"Sec-WebSocket-Key": "c2hvcnQ="}),
        "key not base64 of 16 bytes": dict(base, **{"Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!=="}),
    }
    for what, hdrs in cases.items():
        c = h.WsClient(srv.host, srv.port, "/v1/streams/ws-x/ws", connect=False)
        try:
            r = c.connect(headers=list(hdrs.items()))
            assert r.status == 400, "%s: %r" % (what, r)
            h.assert_error(r, 400)
        finally:
            c.close()
    # HTTP/1.0 cannot upgrade.
    data = h.build_request("GET", "/v1/ws", version="HTTP/1.0",
                           headers=[("Host", "x")] + list(base.items()))
    r = h.raw_exchange(srv.host, srv.port, data)
    assert r.status == 400, r


def test_handshake_wrong_version_is_426_with_version_13(lt, redis):
    srv = lt(FAST)
    for version in ("8", "14"):
        c = h.WsClient(srv.host, srv.port, "/v1/streams/ws-x/ws", connect=False)
        try:
            hdrs = [(k, version if k == "Sec-WebSocket-Version" else v)
                    for k, v in c.upgrade_headers()]
            r = c.connect(headers=hdrs)
            assert r.status == 426, r
            assert r.header("Sec-WebSocket-Version") == "13", r
        finally:
            c.close()


def test_origin_policy(lt, redis):
    srv = lt(dict(FAST, **{"cors.allowed_origins": ["https://good.example"]}))
    for path in ("/v1/streams/ws-origin/ws", "/v1/ws"):
        # A browser origin that is not allowed: 403 before the upgrade.
        c = h.WsClient(srv.host, srv.port, path, headers=[("Origin", "https://evil.example")])
        try:
            assert c.response.status == 403, c.response
            h.assert_error(c.response, 403)
            assert c.response.header("Sec-WebSocket-Accept") is None
        finally:
            c.close()
        # The allowed origin and no Origin at all (not a browser) upgrade.
        for hdrs in ([("Origin", "https://good.example")], []):
            with h.ws_connect(srv, path, headers=hdrs):
                pass


@pytest.mark.skipif(websockets is None, reason="python3-websockets not installed")
def test_origin_policy_with_websockets_library(lt, redis):
    srv = lt(dict(FAST, **{"cors.allowed_origins": ["https://good.example"]}))

    async def attempt(origin):
        try:
            async with websockets.connect(url(srv, "/v1/streams/ws-o2/ws"), origin=origin,
                                          ping_interval=None, open_timeout=5) as ws:
                m = json.loads(await asyncio.wait_for(ws.recv(), 3))
                return m["type"]
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code

    assert run(attempt("https://evil.example")) == 403
    assert run(attempt("https://good.example")) == "totals"


# ---------------------------------------------------------------------------
# frames and close codes


def fresh(srv, stream="ws-frames"):
    c = h.ws_connect(srv, "/v1/streams/%s/ws" % stream)
    c.wait_totals()
    return c


@pytest.mark.parametrize("what,frame", [
    ("unmasked frame", h.ws_frame(h.OP_TEXT, '{"type":"like"}', mask=False)),
    ("reserved opcode 3", h.ws_frame(0x3, b"x")),
    ("reserved opcode 0xB", h.ws_frame(0xB, b"")),
    ("RSV1 without an extension", h.ws_frame(h.OP_TEXT, '{"type":"like"}', rsv=4)),
    ("ping payload of 126 bytes", h.ws_frame(h.OP_PING, b"p" * 126)),
    ("fragmented ping", h.ws_frame(h.OP_PING, b"x", fin=False)),
    ("continuation without a start", h.ws_frame(h.OP_CONT, b"abc")),
    ("text inside a fragmented text", h.ws_frame(h.OP_TEXT, b"{", fin=False)
     + h.ws_frame(h.OP_TEXT, b"}")),
    ("close payload of 1 byte", h.ws_frame(h.OP_CLOSE, b"\x03")),
])
def test_protocol_errors_close_1002(lt, redis, what, frame):
    srv = lt(FAST)
    with fresh(srv) as c:
        c.send_raw(frame)
        assert_close(c, 1002)


def test_binary_frame_closes_1003(lt, redis):
    srv = lt(FAST)
    with fresh(srv) as c:
        c.send_frame(h.OP_BINARY, b'{"type":"like"}')
        assert_close(c, 1003)


@pytest.mark.parametrize("frames", [
    [h.ws_frame(h.OP_TEXT, b'{"type":"like","x":"\xff"}')],
    [h.ws_frame(h.OP_TEXT, b'{"a":"\xed\xa0\x80"}')],           # a surrogate
    [h.ws_frame(h.OP_TEXT, b'{"a":"\xc0\xaf"}')],               # overlong
    # a character cut between fragments is fine; a bad one across them is not
    [h.ws_frame(h.OP_TEXT, b'{"a":"\xe2\x82', fin=False),
     h.ws_frame(h.OP_CONT, b'\x28"}')],
], ids=["0xff", "surrogate", "overlong", "across fragments"])
def test_invalid_utf8_closes_1007(lt, redis, frames):
    srv = lt(FAST)
    with fresh(srv) as c:
        for f in frames:
            c.send_raw(f)
        assert_close(c, 1007)


def test_utf8_split_across_fragments_is_fine(lt, redis):
    srv = lt(FAST)
    with fresh(srv, "ws-utf8") as c:
        euro = "€".encode()
        c.send_raw(h.ws_frame(h.OP_TEXT, b'{"type":"nope","x":"' + euro[:1], fin=False))
        c.send_raw(h.ws_frame(h.OP_CONT, euro[1:] + b'"}'))
        err = c.wait_error("bad_message")
        assert isinstance(err.get("message"), str) and err["message"], err


def test_message_over_limit_closes_1009_from_the_header(lt, redis):
    srv = lt(dict(FAST, **{"limits.max_ws_message_bytes": 1024}))
    # Only the header of a 2000-byte frame: the server must not wait for
    # the payload to refuse it.
    with fresh(srv) as c:
        c.send_raw(h.ws_frame(h.OP_TEXT, b"", length=2000))
        assert_close(c, 1009, timeout=2.0)
    # A 64-bit length far beyond anything.
    with fresh(srv) as c:
        c.send_raw(h.ws_frame(h.OP_TEXT, b"", length=1 << 40))
        assert_close(c, 1009, timeout=2.0)
    # Fragments that add up to more than the limit.
    with fresh(srv) as c:
        c.send_raw(h.ws_frame(h.OP_TEXT, b" " * 600, fin=False))
        c.send_raw(h.ws_frame(h.OP_CONT, b"", fin=True, length=600))
        assert_close(c, 1009, timeout=2.0)


def test_message_at_the_limit_is_accepted(lt, redis):
    srv = lt(dict(FAST, **{"limits.max_ws_message_bytes": 1024}))
    with fresh(srv, "ws-at-limit") as c:
        head = '{"type":"like","n":2,"viewer":"viewer-limit-01"'
        text = head + " " * (1024 - len(head) - 1) + "}"
        assert len(text.encode()) == 1024
        c.send_text(text)
        c.wait_totals(likes=2)
    srv.wait_totals("ws-at-limit", {"likes": 2})


def test_fragmented_message_with_ping_inside(lt, redis):
    srv = lt(FAST)
    with fresh(srv, "ws-frag") as c:
        msg = json.dumps({"type": "like", "n": 4, "viewer": "viewer-frag-001"}).encode()
        c.send_raw(h.ws_frame(h.OP_TEXT, msg[:5], fin=False))
        c.send_raw(h.ws_frame(h.OP_PING, b"in-between"))
        c.send_raw(h.ws_frame(h.OP_CONT, msg[5:12], fin=False))
        c.send_raw(h.ws_frame(h.OP_PONG, b"unsolicited"))  # ignored
        c.send_raw(h.ws_frame(h.OP_CONT, msg[12:], fin=True))
        fin, rsv, op, payload = c.recv_frame(timeout=3.0)
        while op == h.OP_TEXT:  # a push may come first
            fin, rsv, op, payload = c.recv_frame(timeout=3.0)
        assert (fin, op, payload) == (True, h.OP_PONG, b"in-between")
        c.wait_totals(likes=4)
    srv.wait_totals("ws-frag", {"likes": 4})


def test_ping_answered_with_pong(lt, redis):
    srv = lt(FAST)
    with fresh(srv) as c:
        for payload in (b"", b"hello", b"x" * 125):
            c.send_frame(h.OP_PING, payload)
            fin, rsv, op, got = c.recv_frame(timeout=3.0)
            while op == h.OP_TEXT:
                fin, rsv, op, got = c.recv_frame(timeout=3.0)
            assert (fin, rsv, op, got) == (True, 0, h.OP_PONG, payload)


def test_close_handshake_server_echoes_and_closes_tcp(lt, redis):
    srv = lt(FAST)
    with fresh(srv) as c:
        c.send_close(1000, "bye")
        code, _ = c.wait_close(timeout=3.0, reply=False)
        assert code == 1000
        assert c.wait_eof(3.0), "the server did not close TCP after the close handshake"
    with fresh(srv) as c:
        c.send_frame(h.OP_CLOSE, b"")  # no status code
        fin, rsv, op, payload = c.recv_frame(timeout=3.0)
        while op == h.OP_TEXT:
            fin, rsv, op, payload = c.recv_frame(timeout=3.0)
        assert op == h.OP_CLOSE and payload in (b"", b"\x03\xe8"), payload
        assert c.wait_eof(3.0)


def test_protocol_error_closes_only_its_own_connection(lt, redis):
    srv = lt(FAST)
    with fresh(srv, "ws-iso") as good, fresh(srv, "ws-iso") as bad, \
            h.ws_connect(srv, "/v1/ws") as other:
        other.send_json({"type": "subscribe", "stream": "ws-iso"})
        other.wait_totals()
        bad.send_raw(h.ws_frame(h.OP_TEXT, b"{}", mask=False))
        assert_close(bad, 1002)
        assert srv.post_events("ws-iso", like_events(3, "viewer-iso")).status == 202
        good.wait_totals(likes=3)
        other.wait_totals(likes=3)
        # Both still take messages.
        good.send_json({"type": "like", "viewer": "viewer-iso-good"})
        other.send_json({"type": "like", "stream": "ws-iso", "viewer": "viewer-iso-other"})
        good.wait_totals(likes=5)
        other.wait_totals(likes=5)


def test_idle_connection_is_pinged_and_dropped(lt, redis):
    srv = lt(dict(FAST, **{"limits.idle_timeout_ms": 400}))
    c = h.ws_connect(srv, "/v1/streams/ws-idle/ws", auto_pong=False)
    try:
        start = time.monotonic()
        c.wait_totals()
        # Never answer: a ping after about 200 ms, then TCP closed at about 400 ms.
        try:
            while True:
                c.recv(timeout=3.0)
        except h.WsClosed:
            pass  # a close frame before dropping is fine too
        except h.PeerClosed:
            pass
        except (socket.timeout, TimeoutError):
            raise AssertionError("an idle connection that ignores pings was not dropped "
                                 "within 3 s (idle_timeout_ms 400)")
        took = time.monotonic() - start
        assert c.pings, "dropped without a ping first"
        assert 0.3 <= took <= 1.5, "dropped after %.2fs (idle_timeout_ms 400)" % took
        assert c.wait_eof(2.0)
    finally:
        c.close()


def test_idle_connection_that_answers_pings_stays(lt, redis):
    srv = lt(dict(FAST, **{"limits.idle_timeout_ms": 400}))
    with h.ws_connect(srv, "/v1/streams/ws-alive/ws") as c:  # answers pings
        c.wait_totals()
        got = c.quiet_for(1.5)
        assert len(c.pings) >= 2, "expected pings every ~200 ms of silence, got %r" % c.pings
        assert c.close_frame is None, c.close_frame
        assert srv.post_events("ws-alive", like_events(1, "viewer-alive")).status == 202
        c.wait_totals(likes=1)
        assert not [m for m in got if m.get("type") == "error"], got


@pytest.mark.skipif(websockets is None, reason="python3-websockets not installed")
def test_websockets_client_answering_pings_stays_open(lt, redis):
    srv = lt(dict(FAST, **{"limits.idle_timeout_ms": 400}))

    async def go():
        # ping_interval=None: the client never pings itself, it only
        # answers the server's pings.
        async with websockets.connect(url(srv, "/v1/streams/ws-lib-idle/ws"),
                                      ping_interval=None, open_timeout=5) as ws:
            await asyncio.wait_for(ws.recv(), 3)
            await asyncio.sleep(1.5)
            assert ws.open, "closed: %s %s" % (ws.close_code, ws.close_reason)
            await ws.send(json.dumps({"type": "like", "viewer": "viewer-lib-idle"}))
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 3))
                if m["type"] == "totals" and m["likes"] == 1:
                    return m

    run(go())


# ---------------------------------------------------------------------------
# messages


def test_bad_messages_get_errors_and_the_socket_stays_open(lt, redis):
    srv = lt(FAST)
    with h.ws_connect(srv, "/v1/streams/ws-bad/ws?viewer=viewer-bad-0001") as c:
        c.wait_totals()
        bad = [
            "not json",
            "{\"type\":\"like\"",
            "[1,2]",
            "\"like\"",
            "{}",
            '{"type":"teleport"}',
            '{"type":42}',
            '{"type":"like","n":0}',
            '{"type":"like","n":-1}',
            '{"type":"like","n":1.5}',
            '{"type":"like","n":"3"}',
            '{"type":"like","n":51}',             # likes.max_per_message 50
            '{"type":"like","viewer":"short"}',
            '{"type":"like","source":"Bad Source"}',
            '{"type":"like","stream":".dot"}',
            '{"type":"view","viewer":7}',
            '{"type":"subscribe","stream":"ws-other"}',   # not on /v1/streams/{id}/ws
            '{"type":"unsubscribe","stream":"ws-bad"}',
        ]
        for text in bad:
            c.send_text(text)
            err = c.wait_error(timeout=3.0)
            assert err.get("code") == "bad_message", (text, err)
            assert isinstance(err.get("message"), str) and err["message"], (text, err)
        # Still open and still counting.
        c.send_json({"type": "like", "n": 7})
        c.wait_totals(likes=7)
    srv.wait_totals("ws-bad", {"likes": 7, "views": 1})


def test_like_via_ws_counted_exactly_and_implied_view(lt, redis):
    srv = lt(FAST)
    with h.ws_connect(srv, "/v1/streams/ws-like/ws?viewer=viewer-like-0001") as c:
        c.wait_totals()
        for n in (3, 2, 1, 50):
            c.send_json({"type": "like", "n": n})
        c.send_json({"type": "like", "n": 4, "stream": "ws-like"})
        c.wait_totals(likes=60, views=1)
    srv.wait_totals("ws-like", {"likes": 60, "views": 1, "uniques": 1,
                                "sources.direct.likes": 60, "sources.direct.views": 1})
    # The same viewer again within the dedup window: no second view.
    with h.ws_connect(srv, "/v1/streams/ws-like/ws?viewer=viewer-like-0001") as c:
        c.wait_totals()
    srv.wait_totals("ws-like", {"views": 1})
    # Another viewer: its view counts.
    with h.ws_connect(srv, "/v1/streams/ws-like/ws?viewer=viewer-like-0002") as c:
        c.wait_totals(views=2)


def test_view_message_and_source_attribution(lt, redis):
    srv = lt(FAST)
    with h.ws_connect(srv, "/v1/streams/ws-src/ws?viewer=viewer-src-0001&source=partner1") as a, \
            h.ws_connect(srv, "/v1/streams/ws-src/ws") as b:
        a.wait_totals()
        b.wait_totals()
        a.send_json({"type": "like", "n": 4})
        b.send_json({"type": "view", "viewer": "viewer-src-0002", "source": "partner2"})
        b.send_json({"type": "like", "n": 2, "viewer": "viewer-src-0002"})
        b.wait_totals(likes=6, views=2)
    srv.wait_totals("ws-src", {"views": 2, "likes": 6,
                               "sources.partner1.views": 1, "sources.partner1.likes": 4,
                               "sources.partner2.views": 1, "sources.direct.likes": 2})


def test_bad_viewer_or_source_on_the_upgrade_url_is_400(lt, redis):
    srv = lt(FAST)
    for q in ("?viewer=short", "?source=Not%20Valid"):
        c = h.WsClient(srv.host, srv.port, "/v1/streams/ws-q/ws" + q)
        try:
            h.assert_error(c.response, 400)
        finally:
            c.close()


def test_rate_limited_likes(lt, redis):
    srv = lt(dict(FAST, **{"likes.burst": 10, "likes.rate_per_second": 1}))
    before = h.metric(srv, "likes_rate_limited_total")
    with h.ws_connect(srv, "/v1/streams/ws-rate/ws?viewer=viewer-rate-0001") as c:
        c.wait_totals()
        c.send_json({"type": "like", "n": 8})
        c.send_json({"type": "like", "n": 8})
        err = c.wait_error("rate_limited")
        assert err.get("dropped") == 6, err
        assert isinstance(err.get("message"), str), err
        # The first 8 went through whole: exactly one error came.
        errors = [m for m in c.messages if m.get("type") == "error"]
        assert len(errors) == 1, errors
    srv.wait_totals("ws-rate", {"likes": 10}, settle=0.3)
    # The dropped taps are counted (workers=1: one worker answers /metrics).
    assert before is not None, "no likes_rate_limited_total in /metrics"
    assert h.metric(srv, "likes_rate_limited_total") - before == 6


def test_rate_limit_is_per_viewer(lt, redis):
    srv = lt(dict(FAST, **{"likes.burst": 10, "likes.rate_per_second": 1}))
    with h.ws_connect(srv, "/v1/streams/ws-rate2/ws?viewer=viewer-rate-0002") as c:
        c.wait_totals()
        c.send_json({"type": "like", "n": 10})
        c.send_json({"type": "like", "n": 10, "viewer": "viewer-rate-0003"})
        c.send_json({"type": "like", "n": 3})
        err = c.wait_error("rate_limited")
        assert err.get("dropped") == 3, err
    srv.wait_totals("ws-rate2", {"likes": 20}, settle=0.3)


def test_subscription_cap(lt, redis):
    srv = lt(FAST)
    with h.ws_connect(srv, "/v1/ws") as c:
        for i in range(16):
            c.send_json({"type": "subscribe", "stream": "ws-cap-%02d" % i})
        got = set()
        while len(got) < 16:
            m = c.wait_message(timeout=3.0)
            assert m["type"] == "totals", m
            got.add(m["stream"])
        # Subscribing again to one it has is no new subscription.
        c.send_json({"type": "subscribe", "stream": "ws-cap-00"})
        c.send_json({"type": "subscribe", "stream": "ws-cap-16"})
        err = c.wait_error()
        assert err["code"] == "too_many_subscriptions", err
        # After an unsubscribe there is room again.
        c.send_json({"type": "unsubscribe", "stream": "ws-cap-03"})
        c.send_json({"type": "subscribe", "stream": "ws-cap-16"})
        m = c.wait_message(lambda m: m.get("type") in ("totals", "error"), timeout=3.0)
        assert m["type"] == "totals" and m["stream"] == "ws-cap-16", m
        # The unsubscribed stream pushes no more; the others do.
        assert srv.post_events("ws-cap-03", like_events(1, "viewer-cap3")).status == 202
        assert srv.post_events("ws-cap-05", like_events(1, "viewer-cap5")).status == 202
        m = c.wait_message(lambda m: m.get("type") == "totals" and m.get("likes") == 1)
        assert m["stream"] == "ws-cap-05", m
        later = c.quiet_for(0.5)
        assert not [x for x in later if x.get("stream") == "ws-cap-03"], later


def test_like_without_a_stream_on_v1_ws(lt, redis):
    srv = lt(FAST)
    with h.ws_connect(srv, "/v1/ws") as c:
        c.send_json({"type": "like", "viewer": "viewer-nosub-01"})
        assert c.wait_error()["code"] == "bad_message"
        for s in ("ws-two-a", "ws-two-b"):
            c.send_json({"type": "subscribe", "stream": s})
            c.wait_totals(stream=s)
        c.send_json({"type": "like", "viewer": "viewer-nosub-01"})  # two: which?
        assert c.wait_error()["code"] == "bad_message"
        c.send_json({"type": "like", "n": 2, "stream": "ws-two-b", "viewer": "viewer-nosub-01"})
        c.wait_totals(stream="ws-two-b", likes=2)
    srv.wait_totals("ws-two-b", {"likes": 2})


def test_unknown_stream_when_auto_create_is_off(lt, redis):
    srv = lt(dict(FAST, **{"streams.auto_create": False}), operator=True)
    with h.ws_connect(srv, "/v1/ws") as c:
        c.send_json({"type": "subscribe", "stream": "ws-unknown"})
        assert c.wait_error()["code"] == "unknown_stream"
        c.send_json({"type": "like", "stream": "ws-unknown", "viewer": "viewer-unk-0001"})
        assert c.wait_error()["code"] == "unknown_stream"
        # The per-stream endpoint refuses before or right after the upgrade.
        d = h.WsClient(srv.host, srv.port, "/v1/streams/ws-unknown/ws")
        try:
            if d.response.status == 101:
                assert d.wait_error()["code"] == "unknown_stream"
            else:
                h.assert_error(d.response, 404, "unknown_stream")
        finally:
            d.close()
        assert srv.put_stream("ws-unknown", {"title": "t"}, token=OPERATOR_TOKEN).status in (200, 201)
        # Once created, both work (the server may cache "unknown" briefly).
        def subscribed():
            c.send_json({"type": "subscribe", "stream": "ws-unknown"})
            m = c.wait_message(lambda m: m.get("type") in ("totals", "error"))
            return m if m["type"] == "totals" else None
        h.wait_until(subscribed, 3.0, interval=0.1, desc="subscribe after PUT")


def test_like_on_an_ended_stream(lt, redis):
    srv = lt(FAST, operator=True)
    assert srv.put_stream("ws-ended", {"status": "live"}, token=OPERATOR_TOKEN).status in (200, 201)
    with h.ws_connect(srv, "/v1/streams/ws-ended/ws?viewer=viewer-end-0001") as c:
        c.wait_totals()
        c.send_json({"type": "like", "n": 2})
        c.wait_totals(likes=2)
        assert srv.put_stream("ws-ended", {"status": "ended"},
                              token=OPERATOR_TOKEN).status in (200, 201)
        def refused():
            c.send_json({"type": "like", "n": 1, "viewer": "viewer-end-0002"})
            m = c.wait_message(lambda m: m.get("type") == "error", timeout=1.0)
            return m["code"] == "stream_ended"
        # Workers learn of the end within about a second.
        deadline = time.monotonic() + 3.0
        while True:
            try:
                if refused():
                    break
            except AssertionError:
                pass
            assert time.monotonic() < deadline, "no stream_ended within 3 s"
    t = srv.totals("ws-ended")
    assert t["status"] == "ended", t


def test_operator_socket_does_not_count_online(lt, redis):
    srv = lt(FAST, operator=True)
    assert srv.post_events("ws-op", like_events(1, "viewer-op")).status == 202
    srv.wait_totals("ws-op", {"likes": 1})
    with h.ws_connect(srv, "/v1/streams/ws-op/ws") as viewer:
        viewer.wait_totals(online=1, timeout=3.0)
        srv.wait_totals("ws-op", {"online": 1})
        with h.ws_connect(srv, "/v1/ws") as op:
            op.send_json({"type": "auth", "token": "wrong-token"})
            err = op.wait_error()
            assert err["code"] == "unauthorized", err
            op.send_json({"type": "auth", "token": OPERATOR_TOKEN})
            ok = op.wait_message(lambda m: m.get("type") == "auth")
            assert ok == {"type": "auth", "ok": True}, ok
            op.send_json({"type": "subscribe", "stream": "ws-op"})
            m = op.wait_totals()
            assert m["online"] == 1, m
            srv.wait_totals("ws-op", {"online": 1}, settle=0.5)
            # A viewer's socket that authenticates after subscribing stops counting.
            with h.ws_connect(srv, "/v1/ws") as late:
                late.send_json({"type": "subscribe", "stream": "ws-op"})
                late.wait_totals()
                srv.wait_totals("ws-op", {"online": 2})
                late.send_json({"type": "auth", "token": OPERATOR_TOKEN})
                late.wait_message(lambda m: m.get("type") == "auth")
                srv.wait_totals("ws-op", {"online": 1})
                op.wait_totals(online=1)


def test_subscribing_creates_no_redis_keys(lt, redis):
    srv = lt(FAST)
    with h.ws_connect(srv, "/v1/ws") as a, \
            h.ws_connect(srv, "/v1/streams/ws-nokeys-b/ws") as b, \
            h.sse_connect(srv, "/v1/streams/ws-nokeys-c/live") as c:
        a.send_json({"type": "subscribe", "stream": "ws-nokeys-a"})
        first = a.wait_totals()
        assert first["seq"] == 0 and first["likes"] == 0, first
        b.wait_totals()
        c.next_event()
        a.send_json({"type": "unsubscribe", "stream": "ws-nokeys-a"})
        a.send_json({"type": "subscribe", "stream": "ws-nokeys-a"})
        a.wait_totals()
        time.sleep(0.6)  # many flush intervals: online reports went out
        with redis.client() as r:
            made = {s: r.keys("lt:{%s}:*" % s)
                    for s in ("ws-nokeys-a", "ws-nokeys-b", "ws-nokeys-c")}
        assert made == {"ws-nokeys-a": [], "ws-nokeys-b": [], "ws-nokeys-c": []}, \
            "subscribing created Redis keys: %r" % made
        for s in ("ws-nokeys-a", "ws-nokeys-b", "ws-nokeys-c"):
            assert srv.totals(s) is None, "a stream never seen answers 404"
