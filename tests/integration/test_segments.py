"""Segments (issue 9, point 3): POST /v1/streams/{id}/segments (operator)
and GET /v1/streams/{id}/segments; each segment's views and likes exact,
their sum what was counted after the first one started; segments in the
totals, as markers in the time series, and in the report (JSON, CSV, HTML
with a hostile title escaped). The exact boundary for a late batch is
tested on apply.lua itself (test_lua_scripts.py)."""

import csv
import io
import json
import time

import ltharness as h
from conftest import OPERATOR_TOKEN

HOSTILE = "<img src=x onerror=alert(1)>&\"'"


def ev(type_, n=None, viewer=None):
    e = {"type": type_}
    if n is not None:
        e["n"] = n
    if viewer is not None:
        e["viewer"] = viewer
    return e


def vid(i):
    return "viewer-%06d" % i


def post_segment(srv, stream, body, token=OPERATOR_TOKEN, raw=None):
    hdrs = [("Content-Type", "application/json")]
    if token is not None:
        hdrs.append(("Authorization", "Bearer " + token))
    data = raw if raw is not None else json.dumps(body)
    return srv.request("POST", "/v1/streams/%s/segments" % stream, body=data, headers=hdrs)


def rfc3339_ms(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def test_post_segment_201_and_get(lt):
    srv = lt(operator=True)
    assert srv.post_events("seg-a", ev("like", viewer=vid(1))).status == 202
    srv.wait_totals("seg-a", {"likes": 1})
    before = time.time()
    r = post_segment(srv, "seg-a", {"title": "圆桌会议"})
    assert r.status == 201, r
    h.assert_json_content_type(r)
    g = r.json()
    assert g["id"] == 1 and g["title"] == "圆桌会议", g
    assert g["ended_at"] is None and (g["views"], g["likes"], g["uniques"]) == (0, 0, 0), g
    assert g["started_at"].endswith("Z"), g
    # A start a moment ago (after the first one's) ends the first.
    time.sleep(0.3)
    r = post_segment(srv, "seg-a", {"title": "city session", "started_at": rfc3339_ms(before + 0.1)})
    assert r.status == 201, r
    assert r.json()["id"] == 2 and r.json()["started_at"] == rfc3339_ms(before + 0.1)
    # A start a little ahead of the server's clock (skew) is taken as now.
    r = post_segment(srv, "seg-a", {"title": "round table",
                                    "started_at": rfc3339_ms(time.time() + 2)})
    assert r.status == 201, r
    assert r.json()["id"] == 3 and r.json()["started_at"] <= rfc3339_ms(time.time()), r
    r = srv.get("/v1/streams/seg-a/segments")
    assert r.status == 200, r
    segs = r.json()["segments"]
    assert [s["id"] for s in segs] == [1, 2, 3], segs
    assert segs[0]["ended_at"] == segs[1]["started_at"], segs
    assert segs[1]["ended_at"] == segs[2]["started_at"] and segs[2]["ended_at"] is None, segs
    assert [s["title"] for s in segs] == ["圆桌会议", "city session", "round table"]
    # The public GET needs no token; an unknown stream is 404.
    h.assert_error(srv.get("/v1/streams/seg-none/segments"), 404, "unknown_stream")
    h.assert_error(srv.get("/v1/streams/.bad/segments"), 400)


def test_post_segment_auth(lt):
    srv = lt(operator=True)
    assert srv.post_events("seg-auth", ev("like", viewer=vid(1))).status == 202
    srv.wait_totals("seg-auth", {"likes": 1})
    h.assert_error(post_segment(srv, "seg-auth", {"title": "x"}, token=None), 401, "unauthorized")
    r = post_segment(srv, "seg-auth", {"title": "x"}, token="wrong-token")
    assert r.status in (401, 403), r
    r = post_segment(srv, "seg-auth", {"title": "x"}, token=OPERATOR_TOKEN + "x")
    assert r.status in (401, 403), r
    assert srv.get("/v1/streams/seg-auth/segments").json()["segments"] == []
    other = lt()  # no operator tokens configured: 403 whatever is sent
    h.assert_error(post_segment(other, "seg-auth", {"title": "x"}), 403, "forbidden")
    assert other.get("/v1/streams/seg-auth/segments").json()["segments"] == []


def test_post_segment_bad_bodies(lt):
    srv = lt(operator=True)
    assert srv.post_events("seg-bad", ev("like", viewer=vid(1))).status == 202
    srv.wait_totals("seg-bad", {"likes": 1})
    now = time.time()
    for body in ({}, {"title": ""}, {"title": 5}, {"title": "x" * 257},
                 {"title": "好" * 86},  # 258 bytes of UTF-8
                 {"title": "x", "started_at": "yesterday"},
                 {"title": "x", "started_at": 12},
                 {"title": "x", "started_at": rfc3339_ms(now - 11 * 60)},
                 {"title": "x", "started_at": rfc3339_ms(now + 60)},
                 {"title": "x", "colour": "red"}, ["title"]):
        r = post_segment(srv, "seg-bad", body)
        h.assert_error(r, 400, ("bad_request", "bad_json"))
    h.assert_error(post_segment(srv, "seg-bad", None, raw=b"{nope"), 400, "bad_json")
    # Invalid UTF-8 in the title: jansson refuses the body.
    h.assert_error(post_segment(srv, "seg-bad", None, raw=b'{"title":"\xff\xfe"}'), 400)
    # 256 bytes is fine, so is a start 5 minutes ago.
    r = post_segment(srv, "seg-bad", {"title": "好" * 85 + "x",
                                      "started_at": rfc3339_ms(now - 300)})
    assert r.status == 201, r
    # Never before the previous segment's start.
    r = post_segment(srv, "seg-bad", {"title": "y", "started_at": rfc3339_ms(now - 400)})
    body = h.assert_error(r, 400, "bad_request")
    assert "previous" in body["message"], body
    assert len(srv.get("/v1/streams/seg-bad/segments").json()["segments"]) == 1


def test_post_segment_unknown_and_ended_stream(lt):
    srv = lt(operator=True)
    h.assert_error(post_segment(srv, "seg-none", {"title": "x"}), 404, "unknown_stream")
    # A segment does not create the stream.
    h.assert_error(srv.get("/v1/streams/seg-none"), 404, "unknown_stream")
    r = srv.put_stream("seg-end", {"status": "live"}, token=OPERATOR_TOKEN)
    assert r.status < 300, r
    assert post_segment(srv, "seg-end", {"title": "one"}).status == 201
    assert srv.put_stream("seg-end", {"status": "ended"}, token=OPERATOR_TOKEN).status < 300
    h.assert_error(post_segment(srv, "seg-end", {"title": "two"}), 409, "stream_ended")
    assert len(srv.get("/v1/streams/seg-end/segments").json()["segments"]) == 1


def test_segment_cap(lt, redis):
    srv = lt(operator=True)
    assert srv.put_stream("seg-cap", {"status": "live"}, token=OPERATOR_TOKEN).status < 300
    # Fill the segments hash to the cap directly (200 POSTs would do the same).
    with redis.client() as r:
        start = int(time.time() * 1000) - 1000
        fields = ["n", 200]
        for k in range(1, 201):
            fields += ["%d:title" % k, "s%d" % k, "%d:started_at" % k, start]
        r.cmd("HSET", "lt:{seg-cap}:segments", *fields)
        r.cmd("HSET", "lt:{seg-cap}:totals", "gs", ",".join([str(start)] * 200))
    body = h.assert_error(post_segment(srv, "seg-cap", {"title": "one more"}), 409,
                          "too_many_segments")
    assert "200" in body["message"], body
    assert len(srv.get("/v1/streams/seg-cap/segments").json()["segments"]) == 200


def start_and_count(srv, stream, title, likes, viewers):
    """Starts a segment, then sends likes and views (new viewers) in it and
    waits until they are counted."""
    r = post_segment(srv, stream, {"title": title})
    assert r.status == 201, r
    t = srv.totals(stream)
    events = [ev("like", likes, viewer=vid(9000))] + [ev("view", viewer=vid(v)) for v in viewers]
    r = srv.post_events(stream, events)
    assert r.status == 202 and r.json()["rejected"] == 0, r
    srv.wait_totals(stream, {"likes": t["likes"] + likes, "views": t["views"] + len(viewers)})
    return r


def test_three_segments_exact(lt):
    srv = lt({"likes.max_per_message": 1000, "likes.burst": 5000}, operator=True)
    s = "seg-three"
    # Before the first segment: counted in no segment.
    assert srv.post_events(s, [ev("like", 7, viewer=vid(9000)), ev("view", viewer=vid(1)),
                               ev("view", viewer=vid(2))]).status == 202
    srv.wait_totals(s, {"likes": 7, "views": 2})
    start_and_count(srv, s, "开幕式", 11, range(10, 15))
    start_and_count(srv, s, "city session", 23, range(20, 27))
    start_and_count(srv, s, HOSTILE, 5, range(30, 33))
    t = srv.totals(s)
    segs = t["segments"]
    assert [g["title"] for g in segs] == ["开幕式", "city session", HOSTILE], segs
    assert [(g["views"], g["likes"]) for g in segs] == [(5, 11), (7, 23), (3, 5)], segs
    assert sum(g["views"] for g in segs) == t["views"] - 2
    assert sum(g["likes"] for g in segs) == t["likes"] - 7
    # uniques: the viewers whose views came in each segment (as the
    # stream's own uniques, from views), an estimate exact at this size.
    assert [g["uniques"] for g in segs] == [5, 7, 3], segs
    for a, b in zip(segs, segs[1:]):
        assert a["ended_at"] == b["started_at"], segs
    assert segs[-1]["ended_at"] is None

    # The time series: a marker per segment in the range.
    r = srv.get("/v1/streams/%s/timeseries?step=10s" % s)
    assert r.status == 200, r
    ts = r.json()
    marks = ts["segments"]
    assert [(m["id"], m["title"]) for m in marks] == [(1, "开幕式"), (2, "city session"),
                                                      (3, HOSTILE)], marks
    step, first = ts["step"], ts["points"][0][0]
    for m, g in zip(marks, segs):
        assert m["started_at"] == g["started_at"]
        assert m["t"] % step == 0 and m["t"] >= first, m
    # A range that ends before every segment started has no markers; one
    # after they all started shows the last one (it runs through it).
    t0 = first - 3600
    r = srv.get("/v1/streams/%s/timeseries?step=10s&from=%d&to=%d" % (s, t0, t0 + 60))
    assert r.status == 200 and r.json()["segments"] == [], r
    later = int(time.time()) + 20
    r = srv.get("/v1/streams/%s/timeseries?step=10s&from=%d&to=%d" % (s, later, later + 30))
    got = r.json()["segments"]
    assert [m["id"] for m in got] == [3] and got[0]["t"] == r.json()["points"][0][0], got

    # The report: JSON, CSV and HTML.
    r = srv.get("/v1/streams/%s/report" % s)
    assert r.status == 200, r
    rep = r.json()
    assert [(g["id"], g["title"], g["views"], g["likes"]) for g in rep["segments"]] == \
        [(1, "开幕式", 5, 11), (2, "city session", 7, 23), (3, HOSTILE, 3, 5)], rep["segments"]
    assert rep["totals"]["segments"] == segs
    r = srv.get("/v1/streams/%s/report?format=csv" % s)
    assert r.status == 200, r
    rows = [row for row in csv.reader(io.StringIO(r.body.decode("utf-8")))
            if row and row[0] == "segment"]
    assert [(row[1], row[3], row[4], row[5], row[6]) for row in rows] == [
        ("1", "开幕式", "5", "11", "5"), ("2", "city session", "7", "23", "7"),
        ("3", HOSTILE, "3", "5", "3")], rows
    r = srv.get("/v1/streams/%s/report?format=html" % s)
    assert r.status == 200, r
    html = r.body.decode("utf-8")
    assert "<img" not in html, "a title reached the HTML unescaped"
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#39;" in html or \
        "&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#x27;" in html, html
    assert "开幕式" in html and "city session" in html


def test_segments_survive_a_restart_and_resend(lt):
    """Counts stay exact across a server restart: a segment's counts are in
    Redis, applied with the batches."""
    srv = lt(operator=True)
    s = "seg-restart"
    assert srv.post_events(s, ev("like", 2, viewer=vid(1))).status == 202
    srv.wait_totals(s, {"likes": 2})
    start_and_count(srv, s, "one", 3, range(1, 3))
    srv.stop()
    srv2 = lt(operator=True)
    t = srv2.totals(s)
    assert [(g["views"], g["likes"]) for g in t["segments"]] == [(2, 3)], t
    start_and_count(srv2, s, "two", 4, range(5, 6))
    t = srv2.totals(s)
    assert [(g["views"], g["likes"]) for g in t["segments"]] == [(2, 3), (1, 4)], t


def test_segments_in_lists_and_series(lt):
    """GET /v1/streams and GET /v1/series/{id} carry each stream's segments
    as its totals object does."""
    srv = lt(operator=True)
    s = "seg-series"
    assert srv.put_stream(s, {"series": "tour-seg", "status": "live"},
                          token=OPERATOR_TOKEN).status < 300
    start_and_count(srv, s, "one", 2, range(1, 4))
    start_and_count(srv, s, "two", 3, range(4, 5))
    want = srv.totals(s)["segments"]
    assert [(g["views"], g["likes"]) for g in want] == [(3, 2), (1, 3)], want
    r = srv.get("/v1/series/tour-seg")
    assert r.status == 200, r
    assert r.json()["streams"][0]["segments"] == want
    r = srv.get("/v1/streams?series=tour-seg")
    assert r.status == 200 and r.json()["streams"][0]["segments"] == want, r
