"""Partner sources (issue 9, point 4): PUT /v1/streams/{id}/sources/{source}
with that source's key sets the absolute counts a rebroadcasting platform
reports. The latest report replaces the previous one; totals (GET and the
WebSocket/SSE pushes) add the reports to what was counted here, while
sources.X.views/likes stay counted-only and sources.X.reported keeps the
report with its time; every report is kept as its own series (time series
"reported", the report's partner_reported). Bad numbers are 400; a lower
report is accepted and flagged."""

import csv
import io
import json
import time

import ltharness as h
from conftest import OPERATOR_TOKEN

KEY_A = "partner-key-aaaa-1111"
KEY_B = "partner-key-bbbb-2222"
CONFIG = {"auth": {"sources": {"wutongcun": {"key_env": "LT_TEST_KEY_A"},
                               "kuaishou": {"key_env": "LT_TEST_KEY_B"}}},
          "push_interval_ms": 50}
ENV = {"LT_TEST_KEY_A": KEY_A, "LT_TEST_KEY_B": KEY_B}
KEYS = {"wutongcun": KEY_A, "kuaishou": KEY_B}


def start(lt, **kw):
    return lt(CONFIG, env=ENV, operator=True, **kw)


def report(srv, stream, source, body, key=None):
    key = KEYS.get(source, KEY_A) if key is None else key
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return srv.request("PUT", "/v1/streams/%s/sources/%s" % (stream, source), body=data,
                       headers=[("Content-Type", "application/json"),
                                ("Authorization", "Bearer " + key)])


def counted(srv, stream, views, likes):
    """Counts views and likes here (viewers unique to the call)."""
    tag = "%s-%d" % (stream, time.monotonic_ns())
    evs = [{"type": "view", "viewer": "viewer-%s-%d" % (tag, i)} for i in range(views)]
    if likes:
        evs.append({"type": "like", "n": likes, "viewer": "liker-" + tag})
    r = srv.post_events(stream, evs)
    assert r.status == 202 and r.json()["rejected"] == 0, r


def test_reports_replace_and_totals_add(lt):
    srv = start(lt)
    s = "src-a"
    counted(srv, s, 2, 10)
    srv.wait_totals(s, {"views": 2, "likes": 10}, settle=0)
    before = time.time()
    r = report(srv, s, "wutongcun", {"views": 53411, "likes": 20873})
    assert r.status == 200, r
    h.assert_json_content_type(r)
    body = r.json()
    at = body["reported"].pop("at")
    assert body == {"stream": s, "source": "wutongcun",
                    "reported": {"views": 53411, "likes": 20873, "lower_than_previous": False},
                    "views": 53413, "likes": 20883}, body
    assert at.endswith("Z") and at[:4].isdigit(), at
    t = srv.totals(s)
    assert (t["views"], t["likes"]) == (53413, 20883), t
    w = t["sources"]["wutongcun"]
    assert (w["views"], w["likes"]) == (0, 0), w  # counted here only
    assert w["reported"] == {"views": 53411, "likes": 20873, "at": at,
                             "lower_than_previous": False}, w
    assert t["sources"]["direct"] == {"views": 2, "likes": 10}, t
    # The latest report replaces the previous one; another source adds.
    assert report(srv, s, "wutongcun", {"views": 60000, "likes": 21000}).json()["views"] == 60002
    r = report(srv, s, "kuaishou", {"views": 100, "likes": 7})
    assert (r.json()["views"], r.json()["likes"]) == (60102, 21017), r
    # What is counted here later adds too.
    counted(srv, s, 3, 5)
    t = srv.wait_totals(s, {"views": 60105, "likes": 21022, "sources.direct.views": 5,
                            "sources.wutongcun.reported.views": 60000,
                            "sources.kuaishou.reported.likes": 7})
    assert (t["sources"]["wutongcun"]["views"], t["sources"]["kuaishou"]["likes"]) == (0, 0)
    # The list and the series show the same sums.
    assert srv.put_stream(s, {"series": "src-tour"}, token=OPERATOR_TOKEN).status == 200
    listed = {x["stream"]: x for x in srv.get("/v1/streams").json()["streams"]}
    assert listed[s]["views"] == 60105 and listed[s]["sources"]["kuaishou"]["reported"]
    series = srv.get("/v1/series/src-tour").json()
    assert series["totals"]["views"] == 60105 and series["totals"]["likes"] == 21022
    # Zero and 10^12 are in range.
    assert report(srv, s, "kuaishou", {"views": 0, "likes": 0}).status == 200
    r = report(srv, s, "kuaishou", {"views": 10 ** 12, "likes": 10 ** 12})
    assert r.status == 200 and r.json()["views"] == 10 ** 12 + 60005, r
    assert time.time() >= before


def test_pushes_add_reported_to_counted(lt):
    srv = start(lt)
    s = "src-push"
    counted(srv, s, 1, 4)
    srv.wait_totals(s, {"views": 1, "likes": 4}, settle=0)
    with h.ws_connect(srv, "/v1/streams/%s/ws" % s) as ws, \
            h.sse_connect(srv, "/v1/streams/%s/live" % s) as sse:
        # The first message (the store's read): what was counted here too.
        first = ws.wait_totals(views=1, likes=4, counted_views=1, counted_likes=4)
        assert report(srv, s, "wutongcun", {"views": 1000, "likes": 300}).status == 200
        m = ws.wait_totals(views=1001, likes=304)
        assert m["seq"] > first["seq"], (first, m)
        # The report is in views and likes, never in the counted fields.
        assert (m["counted_views"], m["counted_likes"]) == (1, 4), m
        ev = sse.wait_event(lambda e: e["data"].get("views") == 1001, desc="SSE with report")
        assert ev["data"]["likes"] == 304 and ev["id"] == str(ev["data"]["seq"]), ev
        assert (ev["data"]["counted_views"], ev["data"]["counted_likes"]) == (1, 4), ev
        # A batch counted here afterwards pushes counted + reported, and
        # the counted likes alone.
        counted(srv, s, 0, 2)
        ws.wait_totals(views=1001, likes=306, counted_views=1, counted_likes=6)
        sse.wait_event(lambda e: e["data"].get("likes") == 306 and
                       e["data"].get("counted_likes") == 6, desc="SSE after a like")
        # A replacing report pushes the new sum (not the old one added).
        assert report(srv, s, "wutongcun", {"views": 1500, "likes": 300}).status == 200
        ws.wait_totals(views=1501, likes=306, counted_views=1, counted_likes=6)


def test_a_big_report_is_not_counted_views_in_pushes(lt):
    """A partner's report of +50,000 views at once raises the pushed views by
    50,000 while counted_views, what a per-minute chart moves with, stays;
    the rise of counted_views between two pushes is what the time series
    (counted here only) counts in the same time."""
    srv = start(lt)
    s = "src-counted"
    counted(srv, s, 3, 2)
    srv.wait_totals(s, {"views": 3, "likes": 2}, settle=0)
    with h.ws_connect(srv, "/v1/ws") as ws:
        ws.send_json({"type": "subscribe", "stream": s})
        before = ws.wait_totals(views=3, likes=2)
        assert (before["counted_views"], before["counted_likes"]) == (3, 2), before
        assert report(srv, s, "wutongcun", {"views": 50000, "likes": 0}).status == 200
        after = ws.wait_totals(views=50003)
        assert after["seq"] > before["seq"], (before, after)
        assert (after["counted_views"], after["counted_likes"]) == (3, 2), after
        counted(srv, s, 2, 0)
        last = ws.wait_totals(views=50005)
        assert (last["counted_views"], last["likes"], last["counted_likes"]) == (5, 2, 2), last
    rows = srv.get("/v1/streams/%s/timeseries?metrics=views" % s).json()["points"]
    assert sum(p[1] for p in rows) == last["counted_views"] == 5, rows


def test_lower_report_is_accepted_and_flagged(lt):
    srv = start(lt)
    s = "src-low"
    counted(srv, s, 1, 0)
    srv.wait_totals(s, {"views": 1}, settle=0)
    assert report(srv, s, "wutongcun", {"views": 500, "likes": 50}).status == 200
    r = report(srv, s, "wutongcun", {"views": 400, "likes": 60})
    assert r.status == 200, r
    assert r.json()["reported"]["lower_than_previous"] is True and r.json()["views"] == 401
    t = srv.totals(s)
    assert t["sources"]["wutongcun"]["reported"]["lower_than_previous"] is True
    assert t["views"] == 401
    # Likes lower alone is lower too; a higher one clears the flag.
    assert report(srv, s, "wutongcun", {"views": 400, "likes": 59}).json()["reported"][
        "lower_than_previous"] is True
    r = report(srv, s, "wutongcun", {"views": 401, "likes": 59})
    assert r.json()["reported"]["lower_than_previous"] is False
    assert srv.totals(s)["sources"]["wutongcun"]["reported"]["lower_than_previous"] is False
    log = srv.stderr_text()
    lines = [l for l in log.splitlines() if "lower than its previous report" in l]
    assert len(lines) == 2, log[-3000:]
    assert all("src-low" in l and "wutongcun" in l for l in lines), lines
    assert KEY_A not in log


def test_bad_numbers_400(lt):
    srv = start(lt)
    s = "src-bad"
    counted(srv, s, 1, 0)
    srv.wait_totals(s, {"views": 1}, settle=0)
    for body in ({"views": -1, "likes": 0}, {"views": 0, "likes": -5},
                 {"views": 1.5, "likes": 0}, {"views": 10.0, "likes": 0},
                 {"views": "10", "likes": 0}, {"views": None, "likes": 0},
                 {"views": True, "likes": 0},
                 {"views": 10 ** 12 + 1, "likes": 0}, {"views": 0, "likes": 10 ** 15},
                 {"views": 1e30, "likes": 0},
                 {"views": 5}, {"likes": 5}, {},
                 {"views": 1, "likes": 1, "shares": 2}):
        r = report(srv, s, "wutongcun", body)
        h.assert_error(r, 400, "bad_request")
    # A number past int64: still 400 bad_request (no overflow, no 500).
    r = report(srv, s, "wutongcun", '{"views": 99999999999999999999999, "likes": 0}')
    h.assert_error(r, 400, "bad_request")
    for raw in ("not json", "[1, 2]", "null", '"x"', ""):
        h.assert_error(report(srv, s, "wutongcun", raw), 400)
    # Nothing of it was recorded.
    t = srv.totals(s)
    assert "wutongcun" not in t["sources"] and t["views"] == 1, t


def test_unknown_ended_and_bad_paths(lt, redis):
    srv = start(lt)
    h.assert_error(report(srv, "src-none", "wutongcun", {"views": 1, "likes": 1}), 404,
                   "unknown_stream")
    assert srv.totals("src-none") is None  # a report does not create a stream
    assert redis.client().keys("lt:{src-none}*") == []
    s = "src-end"
    counted(srv, s, 2, 0)
    srv.wait_totals(s, {"views": 2}, settle=0)
    assert report(srv, s, "wutongcun", {"views": 10, "likes": 1}).status == 200
    assert srv.put_stream(s, {"status": "ended"}, token=OPERATOR_TOKEN).status == 200
    h.assert_error(report(srv, s, "wutongcun", {"views": 20, "likes": 2}), 409, "stream_ended")
    t = srv.totals(s)
    assert t["views"] == 12 and t["sources"]["wutongcun"]["reported"]["views"] == 10, t
    # A malformed source id in the path: 400 bad_request; a bad stream id:
    # 400 bad_stream_id.
    for source in ("WutongCun", "a" * 33, "wu.tong", "wu%20tong"):
        h.assert_error(report(srv, s, source, {"views": 1, "likes": 1}), 400, "bad_request")
    h.assert_error(report(srv, ".bad", "wutongcun", {"views": 1, "likes": 1}), 400,
                   "bad_stream_id")
    # Only PUT: 405 with Allow.
    r = srv.get("/v1/streams/%s/sources/wutongcun" % s)
    assert r.status == 405 and "PUT" in r.header("Allow"), r
    r = srv.request("OPTIONS", "/v1/streams/%s/sources/wutongcun" % s,
                    headers=[("Origin", "http://x"), ("Access-Control-Request-Method", "PUT")])
    assert r.status == 204 and "Authorization" in r.header("Access-Control-Allow-Headers"), r


def test_reported_series_in_timeseries(lt):
    srv = start(lt)
    s = "src-ts"
    counted(srv, s, 1, 1)
    srv.wait_totals(s, {"views": 1}, settle=0)
    t0 = int(time.time())
    sent = []
    for v, l in ((100, 10), (150, 12), (140, 20)):
        r = report(srv, s, "wutongcun", {"views": v, "likes": l})
        assert r.status == 200
        sent.append((v, l))
    assert report(srv, s, "kuaishou", {"views": 7, "likes": 1}).status == 200
    q = "?from=%d&to=%d&step=10s" % (t0 - 60, t0 + 60)
    body = srv.get("/v1/streams/%s/timeseries%s" % (s, q)).json()
    rep = body["reported"]
    assert set(rep) == {"wutongcun", "kuaishou"}, body
    assert [(p[1], p[2]) for p in rep["wutongcun"]] == sent
    assert all(t0 - 1 <= p[0] <= t0 + 5 for p in rep["wutongcun"]), rep
    assert rep["kuaishou"] == [[rep["kuaishou"][0][0], 7, 1]]
    # The points stay counted only (reports are their own series).
    assert sum(p[1] for p in body["points"]) == 1, body
    # A range before the reports: none.
    q = "?from=%d&to=%d&step=10s" % (t0 - 3600, t0 - 1800)
    assert srv.get("/v1/streams/%s/timeseries%s" % (s, q)).json()["reported"] == {}
    # Without ?from= (the stream's whole life) they are there too.
    assert len(srv.get("/v1/streams/%s/timeseries" % s).json()["reported"]["wutongcun"]) == 3
    # CSV is the points only.
    text = srv.get("/v1/streams/%s/timeseries%s&format=csv" % (s, q)).body.decode()
    assert text.splitlines()[0].startswith("t,") and "wutongcun" not in text


def test_report_partner_reported(lt):
    srv = start(lt)
    s = "src-rep"
    counted(srv, s, 2, 3)
    srv.wait_totals(s, {"views": 2, "likes": 3}, settle=0)
    for v, l in ((100, 10), (90, 15)):
        assert report(srv, s, "wutongcun", {"views": v, "likes": l}).status == 200
    body = srv.get("/v1/streams/%s/report" % s).json()
    assert body["totals"]["views"] == 92 and body["totals"]["likes"] == 18, body["totals"]
    srcs = {x["source"]: x for x in body["sources"]}
    assert srcs["direct"]["partner_reported"] is None
    pr = srcs["wutongcun"]["partner_reported"]
    assert srcs["wutongcun"]["counted_here"] == {"views": 0, "likes": 0}
    assert (pr["views"], pr["likes"], pr["lower_than_previous"]) == (90, 15, True), pr
    assert [(x["views"], x["likes"], x["lower_than_previous"]) for x in pr["reports"]] == \
        [(100, 10, False), (90, 15, True)], pr
    assert pr["reports"][-1]["at"] == pr["at"]
    rows = list(csv.reader(io.StringIO(
        srv.get("/v1/streams/%s/report?format=csv" % s).body.decode(), newline="")))
    reps = [r for r in rows if r[0] == "source_partner_report"]
    assert [(r[1], r[3], r[4], r[5]) for r in reps] == [
        ("wutongcun", "0", "100", "10"), ("wutongcun", "1", "90", "15")], rows
    html = srv.get("/v1/streams/%s/report?format=html" % s).body.decode()
    assert "Partner reports" in html and "lower than the report before" in html
    # Ended: frozen, the reports included, and no more of them taken.
    assert srv.put_stream(s, {"status": "ended"}, token=OPERATOR_TOKEN).status == 200
    first = srv.get("/v1/streams/%s/report" % s)
    assert len({x["source"]: x for x in first.json()["sources"]}["wutongcun"][
        "partner_reported"]["reports"]) == 2
    h.assert_error(report(srv, s, "wutongcun", {"views": 200, "likes": 20}), 409, "stream_ended")
    time.sleep(1.1)
    assert srv.get("/v1/streams/%s/report" % s).body == first.body
