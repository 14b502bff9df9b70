"""GET /v1/series/{id} (issue 8, point 4, first half): a series' sums and
its streams. Streams join a series by the operator's PUT; the sums of views,
likes and counters are exact, uniques is the estimate of distinct viewers
across the streams (a HyperLogLog union: a viewer of two streams counts
once), and the read costs two Redis round trips whatever the number of
streams."""

import time

import ltharness as h
from conftest import OPERATOR_TOKEN

from test_read_api import check_totals_shape


def put(srv, stream, body):
    r = srv.put_stream(stream, body, token=OPERATOR_TOKEN)
    assert r.status == 200, r
    return r.json()


def views(prefix, n, source=None):
    out = []
    for i in range(n):
        e = {"type": "view", "viewer": "%s-%04d" % (prefix, i)}
        if source:
            e["source"] = source
        out.append(e)
    return out


def series(srv, sid, query=""):
    r = srv.get("/v1/series/%s%s" % (sid, query))
    assert r.status == 200, r
    h.assert_json_content_type(r)
    return r.json()


def commandstats(redis):
    """calls per command, from INFO commandstats."""
    with redis.client() as r:
        stats = r.info("commandstats")
    return {k[len("cmdstat_"):]: int(v.split("calls=")[1].split(",")[0])
            for k, v in stats.items() if k.startswith("cmdstat_")}


def test_series_sums_and_lists_its_streams(lt, redis):
    srv = lt({"counters": ["shares"]}, operator=True)
    put(srv, "sr-ganzhou", {"title": "赣州", "series": "tour-sr", "status": "live",
                            "starts_at": "2022-07-16T02:00:00Z"})
    put(srv, "sr-nanchang", {"title": "南昌", "series": "tour-sr", "status": "live",
                             "starts_at": "2022-07-09T02:00:00Z"})
    put(srv, "sr-other", {"series": "tour-other"})
    # 30 viewers in Ganzhou, 20 in Nanchang, 10 of whom also watched Ganzhou.
    ev_g = views("viewer-sr-a", 30) + [
        {"type": "like", "n": 40, "viewer": "viewer-sr-a-0000"},
        {"type": "like", "n": 3, "viewer": "viewer-sr-a-0001", "source": "wutongcun"},
        {"type": "shares", "n": 5, "viewer": "viewer-sr-a-0002"}]
    ev_n = views("viewer-sr-a", 10) + views("viewer-sr-b", 10, source="bili") + [
        {"type": "like", "n": 7, "viewer": "viewer-sr-b-0000"},
        {"type": "shares", "n": 2, "viewer": "viewer-sr-b-0001"}]
    assert srv.post_events("sr-ganzhou", ev_g).json() == {"accepted": len(ev_g), "rejected": 0}
    assert srv.post_events("sr-nanchang", ev_n).json() == {"accepted": len(ev_n), "rejected": 0}
    assert srv.post_events("sr-other", views("viewer-sr-c", 5)).json()["accepted"] == 5
    g = srv.wait_totals("sr-ganzhou", {"views": 30, "likes": 43, "counters.shares": 5})
    n = srv.wait_totals("sr-nanchang", {"views": 20, "likes": 7, "counters.shares": 2})
    srv.wait_totals("sr-other", {"views": 5})

    body = series(srv, "tour-sr")
    assert set(body) >= {"series", "totals", "streams"}, body
    assert body["series"] == "tour-sr"
    t = body["totals"]
    assert t["views"] == 50 and t["likes"] == 50 and t["counters"] == {"shares": 7}, t
    assert t["views"] == g["views"] + n["views"] and t["likes"] == g["likes"] + n["likes"]
    # 40 distinct viewers (HLL: within a few percent at this size), not the
    # 50 a sum of the streams' uniques would say.
    assert 38 <= t["uniques"] <= 42, t
    assert body["truncated"] is False
    # Ordered by start: Nanchang (07-09) before Ganzhou (07-16), though
    # Ganzhou was created first.
    assert [s["stream"] for s in body["streams"]] == ["sr-nanchang", "sr-ganzhou"]
    for s in body["streams"]:
        check_totals_shape(s, s["stream"])
        assert s["series"] == "tour-sr"
    # Each stream's entry is its totals object (the same encoder): equal to
    # GET /v1/streams/{id} but for what moves between two reads.
    moving = ("updated_at", "online", "peak_online", "peak_at")
    for s, single in zip(body["streams"], (n, g)):
        assert {k: v for k, v in s.items() if k not in moving} == \
               {k: v for k, v in single.items() if k not in moving}
    assert body["streams"][1]["sources"]["wutongcun"]["likes"] == 3
    assert "display" not in t and "display" not in body["streams"][0]


def test_series_display(lt):
    srv = lt(operator=True)
    put(srv, "sd-1", {"series": "tour-sd"})
    put(srv, "sd-2", {"series": "tour-sd"})
    likes = [{"type": "like", "n": 50, "viewer": "viewer-sd-%04d" % i} for i in range(24)]
    assert srv.post_events("sd-1", likes).json()["accepted"] == 24
    assert srv.post_events("sd-2", [{"type": "like", "n": 34, "viewer": "viewer-sd-x001"}]) \
        .json()["accepted"] == 1
    srv.wait_totals("sd-1", {"likes": 1200})
    srv.wait_totals("sd-2", {"likes": 34})
    body = series(srv, "tour-sd", "?locale=en&style=compact")
    assert body["totals"]["likes"] == 1234
    assert body["totals"]["display"]["likes"] == "1.2K", body["totals"]
    assert body["totals"]["display"]["locale"] == "en"
    assert [s["display"]["likes"] for s in body["streams"]] == ["1.2K", "34"]
    body = series(srv, "tour-sd", "?locale=zh-CN")
    assert body["totals"]["display"]["likes"] == "1234"
    h.assert_error(srv.get("/v1/series/tour-sd?style=fancy"), 400, "bad_request")


def test_unknown_and_malformed_series(lt):
    srv = lt(operator=True)
    body = h.assert_error(srv.get("/v1/series/no-such-series"), 404, "not_found")
    assert "series" in body["message"]
    # A stream without a series does not make one.
    assert srv.post_events("us-1", views("viewer-us", 1)).json()["accepted"] == 1
    srv.wait_totals("us-1", {"views": 1})
    h.assert_error(srv.get("/v1/series/us-1"), 404, "not_found")
    for bad in (".hidden", "a" * 65, "tour%20x", "t%C3%A9"):
        h.assert_error(srv.get("/v1/series/" + bad), 400, "bad_stream_id")
    r = srv.request("POST", "/v1/series/tour-x", body="{}",
                    headers=[("Content-Type", "application/json")])
    h.assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.header("Allow") and "HEAD" in r.header("Allow")


def test_moved_stream_leaves_the_first_series(lt, redis):
    srv = lt(operator=True)
    put(srv, "mv-1", {"series": "tour-a"})
    put(srv, "mv-2", {"series": "tour-a"})
    assert srv.post_events("mv-1", views("viewer-mv-a", 3)).json()["accepted"] == 3
    assert srv.post_events("mv-2", views("viewer-mv-b", 4)).json()["accepted"] == 4
    srv.wait_totals("mv-1", {"views": 3})
    srv.wait_totals("mv-2", {"views": 4})
    assert series(srv, "tour-a")["totals"]["views"] == 7
    put(srv, "mv-2", {"series": "tour-b"})
    a, b = series(srv, "tour-a"), series(srv, "tour-b")
    assert [s["stream"] for s in a["streams"]] == ["mv-1"] and a["totals"]["views"] == 3, a
    assert a["totals"]["uniques"] == 3, a
    assert [s["stream"] for s in b["streams"]] == ["mv-2"] and b["totals"]["views"] == 4, b
    # A stale index entry (the ZREM lost, or written by hand) is not
    # believed: the stream's own meta decides.
    with redis.client() as r:
        r.cmd("ZADD", "lt:series:tour-a", 1, "mv-2")
        r.cmd("ZADD", "lt:series:tour-a", 2, "mv-ghost")  # no such stream
    a = series(srv, "tour-a")
    assert [s["stream"] for s in a["streams"]] == ["mv-1"] and a["totals"]["views"] == 3, a
    assert a["totals"]["uniques"] == 3, a
    # Out of every series: the last one is unknown now.
    put(srv, "mv-2", {"series": None})
    h.assert_error(srv.get("/v1/series/tour-b"), 404, "not_found")


def test_head_and_cors(lt):
    srv = lt({"cors.allowed_origins": ["https://a.example"]}, operator=True)
    put(srv, "hc-1", {"series": "tour-hc"})
    get = srv.get("/v1/series/tour-hc", headers=[("Origin", "https://a.example")])
    assert get.status == 200, get
    assert get.header("Access-Control-Allow-Origin") == "https://a.example", get
    r = srv.get("/v1/series/tour-hc", headers=[("Origin", "https://evil.example")])
    assert r.status == 200 and r.header("Access-Control-Allow-Origin") is None, r
    head = srv.request("HEAD", "/v1/series/tour-hc", headers=[("Origin", "https://a.example")])
    assert head.status == 200 and head.body == b"", head
    assert head.header("Access-Control-Allow-Origin") == "https://a.example", head
    h.assert_json_content_type(head)
    r = srv.request("OPTIONS", "/v1/series/tour-hc",
                    headers=[("Origin", "https://a.example"),
                             ("Access-Control-Request-Method", "GET")])
    assert r.status == 204, r
    assert r.header("Access-Control-Allow-Origin") == "https://a.example", r
    assert "GET" in r.header("Access-Control-Allow-Methods"), r
    # The same answer to a stream's read and to a series' (both public).
    s = srv.get("/v1/streams/hc-1", headers=[("Origin", "https://a.example")])
    assert s.header("Access-Control-Allow-Origin") == get.header("Access-Control-Allow-Origin")
    assert s.header("Vary") == get.header("Vary")


def test_round_trips_do_not_grow_with_streams(lt, redis):
    """Two Redis round trips per read: the index, then one script for all
    the streams (not one read per stream)."""
    srv = lt(operator=True)
    ids = ["rt-%02d" % i for i in range(12)]
    for i, sid in enumerate(ids):
        put(srv, sid, {"series": "tour-rt"})
        assert srv.post_events(sid, views("viewer-rt-%02d" % i, 2)).json()["accepted"] == 2
    for sid in ids:
        srv.wait_totals(sid, {"views": 2}, settle=0)
    assert series(srv, "tour-rt")["totals"]["views"] == 24  # warm: the script is loaded
    time.sleep(0.2)
    before = commandstats(redis)
    body = series(srv, "tour-rt")
    after = commandstats(redis)
    assert len(body["streams"]) == 12 and body["totals"]["views"] == 24
    assert 20 <= body["totals"]["uniques"] <= 28, body["totals"]
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert delta.get("zrange") == 1, delta
    assert delta.get("evalsha", 0) + delta.get("eval", 0) == 1, delta
    # The series' streams were read inside that one script.
    assert delta.get("hgetall", 0) >= 3 * 12, delta


def test_over_the_cap_is_truncated_not_partial(lt, redis):
    """A series of more than 500 streams is read as its 500 earliest
    created: the sums cover exactly the streams listed, and truncated says
    that there are more."""
    n = 501
    # Written straight into Redis as the server writes them, in one script
    # (501 PUTs would take long for nothing).
    make = """
    for i = 0, tonumber(ARGV[1]) - 1 do
      local sid = string.format('tr-%03d', i)
      redis.call('HSET', 'lt:{' .. sid .. '}:meta', 'created_at', 1000000 + i, 'status', 'live',
                 'series', 'tour-tr')
      redis.call('HSET', 'lt:{' .. sid .. '}:totals', 'views', i + 1, 'likes', 1)
      redis.call('PFADD', 'lt:{' .. sid .. '}:uniques', 'viewer-tr-' .. i, 'viewer-tr-shared')
      redis.call('ZADD', 'lt:series:tour-tr', 1000000 + i, sid)
    end
    """
    with redis.client() as r:
        r.cmd("EVAL", make, 0, n)
    srv = lt()
    body = series(srv, "tour-tr")
    assert body["truncated"] is True
    listed = [s["stream"] for s in body["streams"]]
    assert listed == ["tr-%03d" % i for i in range(500)]  # the newest one is left out
    assert body["totals"]["views"] == sum(range(1, 501)) and body["totals"]["likes"] == 500
    assert 490 <= body["totals"]["uniques"] <= 512, body["totals"]
