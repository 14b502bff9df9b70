"""Server-Sent Events on /v1/streams/{id}/live (issue 3, point 5): a totals
event at once with id = seq, then one on every change, Last-Event-ID, the
retry hint, keep-alive comments, CORS as for the rest of the API, and SSE
subscribers counting in online."""

import time

import ltharness as h

FAST = {"push_interval_ms": 50}


def like_events(n, prefix):
    return [{"type": "like", "viewer": "%s-%04d" % (prefix, i)} for i in range(n)]


def assert_event(ev, stream):
    assert ev.get("event") == "totals", ev
    d = ev["data"]
    assert d["type"] == "totals" and d["stream"] == stream, ev
    for k in ("views", "uniques", "likes", "online", "peak_online", "seq", "ts"):
        assert isinstance(d.get(k), int), (k, ev)
    assert ev.get("id") == str(d["seq"]), "id: %r but seq %r" % (ev.get("id"), d["seq"])


def test_head_retry_and_first_event_at_once(lt, redis):
    srv = lt(FAST)
    assert srv.post_events("sse-a", like_events(3, "viewer-ssea")).status == 202
    srv.wait_totals("sse-a", {"likes": 3})
    start = time.monotonic()
    with h.sse_connect(srv, "/v1/streams/sse-a/live") as s:
        r = s.response
        assert r.status == 200, r
        ct = (r.header("Content-Type") or "").lower()
        assert ct.startswith("text/event-stream"), r
        # The first block is the retry hint.
        first = s.read_block(timeout=3.0)
        fields = [f for f, _ in first if f]
        assert fields and fields[0] == "retry", first
        assert dict(first)["retry"].isdigit() and int(dict(first)["retry"]) > 0, first
        ev = s.next_event(timeout=3.0)
        assert time.monotonic() - start < 1.0, "the first event came late"
        assert_event(ev, "sse-a")
        assert ev["data"]["likes"] == 3 and ev["data"]["seq"] >= 1, ev


def test_never_seen_stream_gives_zeros_with_id_0(lt, redis):
    srv = lt(FAST)
    with h.sse_connect(srv, "/v1/streams/sse-zero/live") as s:
        ev = s.next_event(timeout=3.0)
        assert_event(ev, "sse-zero")
        d = ev["data"]
        assert (d["views"], d["likes"], d["uniques"], d["seq"]) == (0, 0, 0, 0), ev
        assert ev["id"] == "0"


def test_updates_on_change_with_rising_ids(lt, redis):
    srv = lt(FAST)
    with h.sse_connect(srv, "/v1/streams/sse-upd/live") as s:
        events = [s.next_event(timeout=3.0)]
        done = 0
        for total in (2, 5, 6):
            batch = like_events(total - done, "viewer-upd%d" % total)
            assert srv.post_events("sse-upd", batch).status == 202
            done = total
            ev = s.wait_event(lambda e: e["data"]["likes"] == total, timeout=3.0,
                              desc="likes %d" % total)
            events.append(ev)
        for ev in events:
            assert_event(ev, "sse-upd")
        ids = [int(ev["id"]) for ev in events]
        assert all(a < b for a, b in zip(ids, ids[1:])), "ids not strictly rising: %r" % ids
        # No change, no event.
        quiet = s.events_for(0.5)
        assert quiet == [], quiet


def test_last_event_id_is_honoured(lt, redis):
    srv = lt(FAST)
    assert srv.post_events("sse-lei", like_events(2, "viewer-lei1")).status == 202
    srv.wait_totals("sse-lei", {"likes": 2})
    # A's subscription raises online to 1 (a new seq K).
    with h.sse_connect(srv, "/v1/streams/sse-lei/live") as a:
        k = a.wait_event(lambda e: e["data"]["online"] == 1, desc="online 1")["data"]["seq"]
        assert not a.events_for(0.3), "totals changed again after online 1"
        # B has seen K: it must not get K (online 1) again, only what follows
        # (its own subscription makes online 2).
        with h.sse_connect(srv, "/v1/streams/sse-lei/live",
                           headers=[("Last-Event-ID", str(k))]) as b:
            got = b.events_for(1.0)
            stale = [e for e in got if int(e["id"]) <= k]
            assert not stale, "events with seq <= Last-Event-ID %d: %r" % (k, stale)
            assert got and got[-1]["data"]["online"] == 2, got
            last = int(got[-1]["id"])
            assert srv.post_events("sse-lei", like_events(1, "viewer-lei2")).status == 202
            ev = b.wait_event(lambda e: e["data"]["likes"] == 3)
            assert int(ev["id"]) > last, ev
        # Without Last-Event-ID the current totals come at once.
        with h.sse_connect(srv, "/v1/streams/sse-lei/live") as c:
            ev = c.next_event(timeout=1.0)
            assert ev["data"]["likes"] == 3 and int(ev["id"]) > k, ev
    # A newer id than any: no event at or below it.
    with h.sse_connect(srv, "/v1/streams/sse-lei/live",
                       headers=[("Last-Event-ID", "999999")]) as s:
        got = s.events_for(0.5)
        assert all(int(e["id"]) > 999999 for e in got), got


def test_keep_alive_comments_with_small_idle_timeout(lt, redis):
    srv = lt(dict(FAST, **{"limits.idle_timeout_ms": 400}))
    with h.sse_connect(srv, "/v1/streams/sse-ka/live") as s:
        s.next_event(timeout=3.0)
        start = time.monotonic()
        deadline = start + 1.6
        while time.monotonic() < deadline:
            try:
                s.read_block(timeout=max(0.01, deadline - time.monotonic()))
            except (TimeoutError, OSError):
                pass
        times = [t for t, _ in s.comments if t >= start]
        assert len(times) >= 3, "keep-alive comments in 1.6 s with idle_timeout_ms 400: %r" \
            % s.comments
        gaps = [b - a for a, b in zip([start] + times, times)]
        assert max(gaps) <= 0.45, "a keep-alive gap of %.2fs (at most idle/2 = 0.2 s + a sweep)" \
            % max(gaps)
        # The stream outlived the idle timeout.
        assert srv.post_events("sse-ka", like_events(1, "viewer-ka")).status == 202
        s.wait_event(lambda e: e["data"]["likes"] == 1)


def test_cors_header_with_allowed_origin(lt, redis):
    srv = lt(dict(FAST, **{"cors.allowed_origins": ["https://good.example"]}))
    assert srv.post_events("sse-cors", like_events(1, "viewer-cors")).status == 202
    srv.wait_totals("sse-cors", {"likes": 1})
    with h.sse_connect(srv, "/v1/streams/sse-cors/live",
                       headers=[("Origin", "https://good.example")]) as s:
        assert s.response.status == 200, s.response
        assert s.response.header("Access-Control-Allow-Origin") == "https://good.example", \
            s.response
        assert "origin" in s.response.header_tokens("Vary"), s.response
        s.next_event(timeout=3.0)
    # As the rest of the API answers the same origin.
    api = srv.get("/v1/streams/sse-cors", headers=[("Origin", "https://good.example")])
    assert api.header("Access-Control-Allow-Origin") == "https://good.example", api
    # An origin not allowed never gets the header (403 or a stream without it).
    with h.sse_connect(srv, "/v1/streams/sse-cors/live",
                       headers=[("Origin", "https://evil.example")]) as s:
        assert s.response.status in (200, 403), s.response
        assert s.response.header("Access-Control-Allow-Origin") is None, s.response


def test_cors_default_star_matches_rest_of_api(lt, redis):
    srv = lt(FAST)
    with h.sse_connect(srv, "/v1/streams/sse-star/live",
                       headers=[("Origin", "https://any.example")]) as s:
        api = srv.get("/v1/streams/sse-star", headers=[("Origin", "https://any.example")])
        assert s.response.header("Access-Control-Allow-Origin") == \
            api.header("Access-Control-Allow-Origin"), (s.response, api)
        assert s.response.header("Access-Control-Allow-Origin") in ("*", "https://any.example")


def test_sse_counts_in_online(lt, redis):
    srv = lt(FAST)
    assert srv.post_events("sse-on", like_events(1, "viewer-on")).status == 202
    srv.wait_totals("sse-on", {"likes": 1, "online": 0})
    a = h.sse_connect(srv, "/v1/streams/sse-on/live")
    b = h.sse_connect(srv, "/v1/streams/sse-on/live")
    try:
        a.wait_event(lambda e: e["data"]["online"] == 2, timeout=3.0, desc="online 2")
        srv.wait_totals("sse-on", {"online": 2})
        b.close()
        a.wait_event(lambda e: e["data"]["online"] == 1, timeout=3.0, desc="online 1")
        t = srv.wait_totals("sse-on", {"online": 1, "peak_online": 2})
        assert t.get("peak_at"), t
    finally:
        a.close()
        b.close()
    srv.wait_totals("sse-on", {"online": 0}, timeout=3.0)
