"""GET /v1/series/{id}/timeseries (issue 8, point 4, second half): a
series' streams lined up by time since each one's start, one metric, one
column per stream. Two streams of one series start half an hour apart (one
by its created_at, one by its starts_at); the server's clock is moved with
libfaketime (as in test_timeseries.py) so that events land at known
offsets from each start."""

import csv
import datetime
import io
import os
import time

import pytest

import ltharness as h
from conftest import OPERATOR_TOKEN
from test_timeseries import FAKETIME_LIB, Clock, ev

pytestmark = pytest.mark.skipif(not os.path.exists(FAKETIME_LIB),
                                reason="no libfaketime (Debian package faketime)")

SERIES = "tour-sts"
# (offset from the stream's 10 s-aligned start, views, likes, shares) per
# stream; each offset is 2 s into its 10 s bucket.
PLAN_A = [(12, 2, 3, 1), (72, 1, 5, 0), (612, 3, 1, 2)]
PLAN_B = [(12, 4, 0, 0), (132, 1, 7, 1), (602, 2, 2, 0)]
# A starts by its created_at, B by its starts_at, 30 minutes later.
A_CREATED, B_STARTS = 5, 1807


def put(srv, stream, body):
    r = srv.put_stream(stream, body, token=OPERATOR_TOKEN)
    assert r.status == 200, r


def sts(srv, series, query="", headers=None):
    return srv.get("/v1/series/%s/timeseries%s" % (series, query), headers=headers)


@pytest.fixture
def filled(lt, tmp_path):
    clock = Clock(tmp_path)
    base = int(time.time()) // 3600 * 3600 - 3 * 3600
    clock.set(base + A_CREATED)
    srv = lt({"counters": ["shares"]}, env=clock.env(), operator=True)
    put(srv, "sts-a", {"series": SERIES})  # created_at = base + 5
    starts = datetime.datetime.fromtimestamp(base + B_STARTS, datetime.timezone.utc)
    put(srv, "sts-b", {"series": SERIES, "starts_at": starts.strftime("%Y-%m-%dT%H:%M:%SZ")})
    put(srv, "sts-other", {"series": "tour-other"})
    want = {}
    viewer = 0
    events = sorted([(base + off, "sts-a", nv, nl, ns) for off, nv, nl, ns in PLAN_A] +
                    [(base + 1800 + off, "sts-b", nv, nl, ns) for off, nv, nl, ns in PLAN_B])
    for t, stream, nv, nl, ns in events:
        clock.set(t)
        batch = []
        for _ in range(nv):
            viewer += 1
            batch.append(ev("view", viewer="viewer-sts-%04d" % viewer))
        if nl:
            batch.append(ev("like", nl, viewer="viewer-sts-likes"))
        if ns:
            batch.append(ev("shares", ns, viewer="viewer-sts-likes"))
        assert srv.post_events(stream, batch).json()["accepted"] == len(batch)
        w = want.setdefault(stream, {"views": 0, "likes": 0, "shares": 0})
        w["views"] += nv
        w["likes"] += nl
        w["shares"] += ns
        srv.wait_totals(stream, {"views": w["views"], "likes": w["likes"],
                                 "counters.shares": w["shares"]}, settle=0)
    # now: A is about 2,505 s past its aligned start, B 705 s (the faked
    # clock is whole seconds off the real one: now may be a second less).
    clock.set(base + 1800 + 705)
    return srv, base, want


def column(body, j):
    return [p[1 + j] for p in body["points"]]


def test_columns_line_up_by_offset_and_sum_to_the_totals(filled):
    srv, base, want = filled
    for metric, idx in (("views", 1), ("likes", 2), ("shares", 3)):
        for step, size in (("10s", 10), ("1m", 60), ("1h", 3600)):
            r = sts(srv, SERIES, "?metric=%s&step=%s" % (metric, step))
            assert r.status == 200, r
            h.assert_json_content_type(r)
            body = r.json()
            assert body["series"] == SERIES and body["step"] == size
            assert body["metric"] == metric and body["truncated"] is False
            assert [s["stream"] for s in body["streams"]] == ["sts-a", "sts-b"]
            a, b = body["streams"]
            # The faked clock is whole seconds off the real one: a second early.
            assert a["start"] in (base + A_CREATED - 1, base + A_CREATED)
            assert a["start_from"] == "created_at"
            assert (b["start"], b["start_from"]) == (base + B_STARTS, "starts_at")
            assert a["t0"] == base and b["t0"] == base + 1800 - 1800 % size
            pts = body["points"]
            # The longest stream, A, from its aligned start to now's bucket.
            assert len(pts) == -(-2505 // size)
            assert [p[0] for p in pts] == [k * size for k in range(len(pts))]
            for j, (stream, plan) in enumerate((("sts-a", PLAN_A), ("sts-b", PLAN_B))):
                col = column(body, j)
                live = [v for v in col if v is not None]
                assert sum(live) == want[stream][metric], (metric, step, stream, col)
                if size == 10:
                    for off, *counts in plan:
                        assert col[off // 10] == counts[idx - 1], (stream, off, col)
                    assert sum(1 for v in live if v) == sum(1 for _, *c in plan if c[idx - 1])
            if size == 10:
                # B is 705 s old: offsets past its now are null, not zeros.
                b_col = column(body, 1)
                assert all(v is not None for v in b_col[:71])
                assert all(v is None for v in b_col[71:]) and len(b_col) > 71
                assert all(v is not None for v in column(body, 0))
    # uniques and online are there too (one viewer per view here).
    body = sts(srv, SERIES, "?metric=uniques&step=10s").json()
    assert sum(v for v in column(body, 0) if v) == want["sts-a"]["views"]


def test_default_step_duration_and_csv(filled):
    srv, base, want = filled
    body = sts(srv, SERIES).json()
    assert body["metric"] == "views" and body["step"] == 10 and len(body["points"]) == 251
    body = sts(srv, SERIES, "?duration=600&step=1m").json()
    assert [p[0] for p in body["points"]] == list(range(0, 600, 60))
    # The first 10 minutes of each: A's 612 s views are past the limit.
    assert sum(column(body, 0)) == want["sts-a"]["views"] - PLAN_A[2][1]
    assert sum(column(body, 1)) == want["sts-b"]["views"] - PLAN_B[2][1]
    for query, headers in (("?metric=likes&step=10s&format=csv", None),
                           ("?metric=likes&step=10s", [("Accept", "text/csv")])):
        r = sts(srv, SERIES, query, headers=headers)
        assert r.status == 200, r
        assert r.header("Content-Type").startswith("text/csv")
        assert r.header("Content-Disposition") == \
            'attachment; filename="%s-timeseries-10s.csv"' % SERIES
        text = r.body.decode()
        assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert rows[0] == ["offset", "sts-a", "sts-b"]
        assert len(rows) == 1 + 251
        assert [int(r[0]) for r in rows[1:]] == list(range(0, 2510, 10))
        assert sum(int(r[1]) for r in rows[1:]) == want["sts-a"]["likes"]
        assert sum(int(r[2]) for r in rows[1:] if r[2] != "") == want["sts-b"]["likes"]
        assert rows[-1][2] == ""  # B has not got there yet
        assert int(rows[1 + 72 // 10][1]) == PLAN_A[1][2]
        assert int(rows[1 + 132 // 10][2]) == PLAN_B[1][2]
    assert sts(srv, SERIES, "?format=json", headers=[("Accept", "text/csv")]).json()["step"] == 10


def test_bad_parameters_and_unknown_series(filled):
    srv, base, want = filled
    cases = [("?metric=bogus", "metric"), ("?metric=views,likes", "metric"),
             ("?metric=", "metric"), ("?step=5s", "step"), ("?step=", "step"),
             ("?duration=0", "duration"), ("?duration=-60", "duration"),
             ("?duration=1h", "duration"), ("?duration=", "duration"),
             ("?duration=9999999999999", "duration"),
             ("?step=10s&duration=315000000", "duration"),  # 31.5 M offsets
             ("?format=xml", "format")]
    for query, name in cases:
        r = sts(srv, SERIES, query)
        h.assert_error(r, 400, "bad_request")
        assert r.json()["message"].startswith(name + ":"), (query, r.json())
    h.assert_error(sts(srv, "no-such-series"), 404, "not_found")
    h.assert_error(sts(srv, "no-such-series", "?format=csv"), 404, "not_found")
    h.assert_error(sts(srv, ".bad"), 400, "bad_stream_id")


def test_ended_stream_and_expired_buckets(lt, tmp_path):
    """An ended stream's life ends at its last batch, not now; a step whose
    buckets have expired for one stream is 400, the default step skips it."""
    clock = Clock(tmp_path)
    now = int(time.time())
    base = now - now % 3600 - 2 * 3600  # past a 1-hour 10 s retention
    clock.set(base + 2)
    srv = lt({"timeseries": {"retention_10s_hours": 1}}, env=clock.env(), operator=True)
    put(srv, "sts-old", {"series": "tour-ret"})
    clock.set(base + 12)
    assert srv.post_events("sts-old", [ev("like", 4, viewer="viewer-ret-1")]).json()["accepted"] == 1
    srv.wait_totals("sts-old", {"likes": 4}, settle=0)
    clock.set(base + 1200)
    put(srv, "sts-old", {"status": "ended"})
    # sts-new's life: 30 s into a minute, well inside it.
    clock.set(now - now % 60 - 30)
    put(srv, "sts-new", {"series": "tour-ret"})
    assert srv.post_events("sts-new", [ev("like", 1, viewer="viewer-ret-2")]).json()["accepted"] == 1
    srv.wait_totals("sts-new", {"likes": 1}, settle=0)
    body = sts(srv, "tour-ret", "?metric=likes").json()
    # 10 s buckets of sts-old are gone: the minute. Both lives fit in one
    # minute from their aligned starts (sts-old's ended with its batch at
    # base + 12, not at its end 20 minutes later or now).
    assert body["step"] == 60
    assert [s["stream"] for s in body["streams"]] == ["sts-old", "sts-new"]
    assert body["points"] == [[0, 4, 1]]
    body = sts(srv, "tour-ret", "?metric=likes&step=1m&duration=600").json()
    assert [p[1] for p in body["points"]] == [4] + [0] * 9
    assert body["points"][0][2] == 1 and all(p[2] is None for p in body["points"][2:])
    r = sts(srv, "tour-ret", "?step=10s")
    h.assert_error(r, 400, "bad_request")
    assert r.json()["message"].startswith("step: stream sts-old:"), r.json()
