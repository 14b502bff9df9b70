"""Read API (issue 2, point 7): the totals object, the stream list with
filters and cursor paging, /healthz and /readyz across a Redis outage."""

import re
import time


import ltharness as h
from conftest import OPERATOR_TOKEN

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def ev(type_, n=None, viewer=None, source=None):
    e = {"type": type_}
    if n is not None:
        e["n"] = n
    if viewer is not None:
        e["viewer"] = viewer
    if source is not None:
        e["source"] = source
    return e


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def check_totals_shape(t, stream):
    for key in ("stream", "title", "series", "status", "views", "uniques", "likes", "online",
                "peak_online", "peak_at", "counters", "sources", "segments", "updated_at"):
        assert key in t, "totals lack %r: %r" % (key, t)
    assert t["stream"] == stream
    assert t["title"] is None or isinstance(t["title"], str), t
    assert t["series"] is None or isinstance(t["series"], str), t
    assert t["status"] in ("scheduled", "live", "ended"), t
    for key in ("views", "uniques", "likes", "online", "peak_online"):
        assert is_int(t[key]) and t[key] >= 0, (key, t)
    assert t["peak_at"] is None or RFC3339_UTC.match(t["peak_at"]), t
    assert isinstance(t["counters"], dict), t
    assert all(is_int(v) for v in t["counters"].values()), t
    assert isinstance(t["sources"], dict), t
    for name, s in t["sources"].items():
        assert is_int(s.get("views")) and is_int(s.get("likes")), (name, s)
    assert isinstance(t["segments"], list), t
    assert isinstance(t["updated_at"], str) and RFC3339_UTC.match(t["updated_at"]), t


def test_totals_object_shape(lt):
    srv = lt({"counters": ["shares"]})
    r = srv.post_events("rd-1", [ev("view", viewer="viewer-rd-0001"), ev("like", 7, viewer="viewer-rd-0001"),
                                 ev("view", viewer="viewer-rd-0002", source="wutongcun"),
                                 ev("like", 2, viewer="viewer-rd-0002", source="wutongcun"),
                                 ev("shares", 3, viewer="viewer-rd-0003")])
    assert r.json() == {"accepted": 5, "rejected": 0}, r
    t = srv.wait_totals("rd-1", {"views": 2, "likes": 9, "counters.shares": 3})
    check_totals_shape(t, "rd-1")
    assert t["status"] == "live", "an auto-created stream is live: %r" % t
    assert t["uniques"] == 2, t
    assert t["online"] == 0, t
    assert t["sources"]["direct"]["views"] == 1 and t["sources"]["direct"]["likes"] == 7, t
    assert t["sources"]["wutongcun"]["views"] == 1 and t["sources"]["wutongcun"]["likes"] == 2, t
    assert "display" not in t, "display without ?locale=: %r" % t
    r = srv.get("/v1/streams/rd-1")
    h.assert_json_content_type(r)


def test_display_only_with_locale(lt):
    srv = lt()
    events = [ev("like", 50, viewer="viewer-dsp-%04d" % i) for i in range(24)] + \
             [ev("like", 34, viewer="viewer-dsp-9999")]
    assert srv.post_events("rd-dsp", events).json() == {"accepted": 25, "rejected": 0}
    srv.wait_totals("rd-dsp", {"likes": 1234})
    t = srv.totals("rd-dsp", "?locale=en")
    assert isinstance(t.get("display"), dict), t
    assert isinstance(t["display"].get("views"), str) and isinstance(t["display"].get("likes"), str), t
    assert "display" not in srv.totals("rd-dsp")


def test_display_values(lt):
    """Spot checks of the display rules in the contract's table."""
    srv = lt()
    events = [ev("like", 50, viewer="viewer-dsv-%04d" % i) for i in range(24)] + \
             [ev("like", 34, viewer="viewer-dsv-9999")]
    assert srv.post_events("rd-dsv", events).status == 202
    srv.wait_totals("rd-dsv", {"likes": 1234})
    assert srv.totals("rd-dsv", "?locale=en")["display"]["likes"] == "1K+"
    assert srv.totals("rd-dsv", "?locale=en&style=floor")["display"]["likes"] == "1K+"
    assert srv.totals("rd-dsv", "?locale=en&style=compact")["display"]["likes"] == "1.2K"
    assert srv.totals("rd-dsv", "?locale=zh-CN")["display"]["likes"] == "1234"


def test_never_seen_stream_404_even_with_auto_create(lt):
    srv = lt({"streams.auto_create": True})
    for _ in range(2):
        h.assert_error(srv.get("/v1/streams/never-seen-rd"), 404, "unknown_stream")
    r = srv.get("/v1/streams")
    assert r.status == 200, r
    assert "never-seen-rd" not in [s["stream"] for s in r.json()["streams"]]


def _create(srv, ids):
    """Auto-creates the streams in this order. A stream is created when its
    first events reach Redis (at the next flush), so each one is waited for
    before the next, to give them distinct creation times in order."""
    for sid in ids:
        r = srv.post_events(sid, ev("view", viewer="viewer-%s" % sid.replace(".", "-").ljust(8, "x")))
        assert r.status == 202, r
        srv.wait_totals(sid, {"views": 1}, settle=0)


def _ids(resp):
    return [s["stream"] for s in resp["streams"]]


def test_list_newest_first(lt):
    srv = lt()
    ids = ["ls-%02d" % i for i in range(6)]
    _create(srv, ids)
    r = srv.get("/v1/streams")
    assert r.status == 200, r
    h.assert_json_content_type(r)
    body = r.json()
    assert set(body) >= {"streams", "next_cursor"}, body
    assert body["next_cursor"] is None, body
    assert _ids(body) == list(reversed(ids)), body
    for s in body["streams"]:
        check_totals_shape(s, s["stream"])


def test_list_filters(lt):
    srv = lt(operator=True)
    plan = [("fl-a", "tour-1", "live"), ("fl-b", "tour-2", "scheduled"), ("fl-c", "tour-1", "ended"),
            ("fl-d", "tour-1", "scheduled"), ("fl-e", None, "live")]
    for sid, series, status in plan:
        body = {"title": sid, "status": status}
        if series:
            body["series"] = series
        r = srv.put_stream(sid, body, token=OPERATOR_TOKEN)
        assert 200 <= r.status < 300, r
        time.sleep(0.005)
    _create(srv, ["fl-f"])  # auto-created: live, no series

    def ids(q):
        r = srv.get("/v1/streams" + q)
        assert r.status == 200, (q, r)
        return _ids(r.json())
    assert ids("") == ["fl-f", "fl-e", "fl-d", "fl-c", "fl-b", "fl-a"]
    assert ids("?status=live") == ["fl-f", "fl-e", "fl-a"]
    assert ids("?status=scheduled") == ["fl-d", "fl-b"]
    assert ids("?status=ended") == ["fl-c"]
    assert ids("?series=tour-1") == ["fl-d", "fl-c", "fl-a"]
    assert ids("?series=tour-1&status=live") == ["fl-a"]
    assert ids("?series=no-such-series") == []
    h.assert_error(srv.get("/v1/streams?status=paused"), 400)


def test_list_limit_default_and_max(lt):
    srv = lt()
    ids = ["lim-%03d" % i for i in range(55)]
    with srv.conn() as c:
        for sid in ids:
            r = c.post_json("/v1/streams/%s/events" % sid, ev("view", viewer="viewer-lim-0001"))
            assert r.status == 202, r
    for sid in ids:
        srv.wait_totals(sid, {"views": 1}, settle=0)
    body = srv.get("/v1/streams").json()
    assert len(body["streams"]) == 50, len(body["streams"])
    assert isinstance(body["next_cursor"], str) and body["next_cursor"], body["next_cursor"]
    body = srv.get("/v1/streams?limit=500").json()
    assert len(body["streams"]) == 55 and body["next_cursor"] is None
    # Over the maximum: the contract says "max 500" without saying how;
    # either a 400 or a page clamped to 500 is a careful answer.
    r = srv.get("/v1/streams?limit=501")
    if r.status == 200:
        assert len(r.json()["streams"]) <= 500
    else:
        h.assert_error(r, 400, "bad_request")
    for bad in ("abc", "-1", "1.5", "99999999999999999999"):
        r = srv.get("/v1/streams?limit=" + bad)
        h.assert_error(r, 400, "bad_request")


def test_list_cursor_paging(lt):
    srv = lt()
    ids = ["pg-%02d" % i for i in range(23)]
    _create(srv, ids)
    seen = []
    cursor = None
    pages = 0
    while True:
        q = "?limit=4" + ("&cursor=" + cursor if cursor else "")
        r = srv.get("/v1/streams" + q)
        assert r.status == 200, r
        body = r.json()
        assert len(body["streams"]) <= 4
        seen += _ids(body)
        pages += 1
        if pages == 2:
            # New streams created while paging do not disturb the pages.
            _create(srv, ["pg-new-1", "pg-new-2"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 20, "paging does not end"
    assert seen == list(reversed(ids)), seen
    assert len(set(seen)) == len(seen)


def test_list_bad_cursor_400(lt):
    srv = lt()
    _create(srv, ["bc-1"])
    h.assert_error(srv.get("/v1/streams?cursor=%%%%not-a-cursor"), 400)
    h.assert_error(srv.get("/v1/streams?cursor=garbage"), 400)


def test_healthz(lt):
    srv = lt()
    r = srv.get("/healthz")
    assert r.status == 200, r


def test_readyz_follows_redis(lt, redis):
    srv = lt({"redis.connect_timeout_ms": 200, "redis.command_timeout_ms": 500})
    assert srv.get("/readyz").status == 200
    redis.kill()
    try:
        def not_ready():
            r = srv.get("/readyz")
            return r if r.status == 503 else None
        r = h.wait_until(not_ready, 5.0, interval=0.05, desc="/readyz 503 with Redis down")
        h.assert_error(r, 503, "not_ready")
        assert r.header("retry-after") is not None, r
        assert srv.get("/healthz").status == 200, "healthz is process-up only"
    finally:
        redis.start()
    h.wait_until(lambda: srv.get("/readyz").status == 200, 10.0, interval=0.05,
                 desc="/readyz 200 after Redis is back")
    # And it works again.
    assert srv.post_events("rz-1", ev("like", viewer="viewer-rz-0001")).status == 202
    srv.wait_totals("rz-1", {"likes": 1})


def test_readyz_with_redis_down_at_start(lt, redis):
    redis.kill()
    try:
        srv = lt({"redis.connect_timeout_ms": 200})
        r = srv.get("/readyz")
        h.assert_error(r, 503, "not_ready")
        assert srv.get("/healthz").status == 200
    finally:
        redis.start()
    h.wait_until(lambda: srv.get("/readyz").status == 200, 10.0, interval=0.05,
                 desc="/readyz 200 once Redis comes up")


def test_index_write_retried_until_it_succeeds(lt, redis):
    """Issue 7: a stream counts as indexed only once its index write
    succeeded. Here the write fails (lt:streams has the wrong type) for a
    while; once it can succeed, the worker's retry puts the stream in the
    list without any further event."""
    srv = lt()
    with redis.client() as r:
        r.cmd("SET", "lt:streams", "not a sorted set")
    assert srv.post_events("ix-1", ev("like", viewer="viewer-ix-0001")).status == 202
    srv.wait_totals("ix-1", {"likes": 1})
    time.sleep(0.5)  # several ticks of failing writes; the stream is idle by now
    with redis.client() as r:
        assert r.cmd("TYPE", "lt:streams") == "string"
        r.cmd("DEL", "lt:streams")

    def listed():
        r = srv.get("/v1/streams")
        return r.status == 200 and "ix-1" in _ids(r.json())
    h.wait_until(listed, 5.0, interval=0.05, desc="ix-1 in the stream list after the retry")
