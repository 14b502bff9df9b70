"""GET /v1/streams/{id}/timeseries (issue 8, points 1, 2 and 5) against the
real server, with a controllable clock: libfaketime (Debian package
faketime) preloaded into livetally with its offset in a file that is read
on every call (FAKETIME_NO_CACHE), so the test moves the server's wall clock
between posts. Only the wall clock is faked (FAKETIME_DONT_FAKE_MONOTONIC):
libevent's timers run on the monotonic clock and keep firing as usual.
Redis is not faked: every faked time stays inside the retentions, so a
bucket is never written already expired.

The bucket writer and reader on their own (resends, roll-up of 10 s into
1 min and 1 h, expiry times) are in test_lua_scripts.py."""

import csv
import datetime
import io
import os
import time
import zoneinfo

import pytest

import ltharness as h

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

pytestmark = pytest.mark.skipif(not os.path.exists(FAKETIME_LIB),
                                reason="no libfaketime (Debian package faketime; "
                                       "scripts/deps.sh test installs it)")


class Clock:
    """The server's wall clock: set(t) makes it read t (epoch s) from now on."""

    def __init__(self, tmp_path):
        self.path = str(tmp_path / "faketime")
        self.set(time.time())

    def set(self, t):
        with open(self.path + ".tmp", "w") as f:
            f.write("%+ds\n" % int(round(t - time.time())))
        os.replace(self.path + ".tmp", self.path)

    def env(self):
        return {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME_TIMESTAMP_FILE": self.path,
                "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                # An ASan build wants its runtime first; libfaketime only
                # wraps clock functions.
                "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                                ":verify_asan_link_order=0"}


def ts(srv, stream, query="", headers=None):
    return srv.get("/v1/streams/%s/timeseries%s" % (stream, query), headers=headers)


def ev(type_, n=None, viewer=None, source=None):
    e = {"type": type_}
    if n is not None:
        e["n"] = n
    if viewer is not None:
        e["viewer"] = viewer
    if source is not None:
        e["source"] = source
    return e


# (offset from the base hour in s, views, likes, shares): across 10 s buckets,
# minutes and two hours; each offset is 2 s into its 10 s bucket so that the
# batch is sealed well inside it.
PLAN = [(2, 2, 3, 1), (22, 1, 5, 0), (72, 3, 0, 2), (612, 1, 1, 0), (3602, 2, 4, 1),
        (3662, 1, 2, 0)]


@pytest.fixture
def filled(lt, tmp_path):
    """A server whose clock walked through PLAN, and the stream it filled."""
    clock = Clock(tmp_path)
    base = int(time.time()) // 3600 * 3600 - 3 * 3600
    clock.set(base + 1)
    srv = lt({"counters": ["shares"]}, env=clock.env())
    stream, viewer = "ts-1", 0
    views = likes = shares = 0
    for off, nv, nl, ns in PLAN:
        clock.set(base + off)
        events = []
        for _ in range(nv):
            viewer += 1
            events.append(ev("view", viewer="viewer-ts-%04d" % viewer,
                             source="bili" if viewer % 2 else None))
        if nl:
            events.append(ev("like", nl, viewer="viewer-ts-likes"))
        if ns:
            events.append(ev("shares", ns, viewer="viewer-ts-likes"))
        assert srv.post_events(stream, events).json() == {"accepted": len(events), "rejected": 0}
        views, likes, shares = views + nv, likes + nl, shares + ns
        srv.wait_totals(stream, {"views": views, "likes": likes, "counters.shares": shares},
                        settle=0)
    # The server's clock stays just after the last post.
    clock.set(base + 3700)
    return srv, stream, base, {"views": views, "likes": likes, "shares": shares,
                               "uniques": viewer}


def test_bucket_sums_equal_the_totals_at_every_step(filled):
    srv, stream, base, want = filled
    t = srv.totals(stream)
    for step, size in (("10s", 10), ("1m", 60), ("1h", 3600)):
        r = ts(srv, stream, "?from=%d&to=%d&step=%s&metrics=views,likes,shares,uniques,online"
               % (base, base + 7200, step))
        assert r.status == 200, r
        h.assert_json_content_type(r)
        body = r.json()
        assert body["step"] == size and body["stream"] == stream
        assert body["metrics"] == ["views", "likes", "shares", "uniques", "online"]
        pts = body["points"]
        assert len(pts) == 7200 // size
        assert [p[0] for p in pts] == list(range(base, base + 7200, size))
        assert sum(p[1] for p in pts) == t["views"] == want["views"]
        assert sum(p[2] for p in pts) == t["likes"] == want["likes"]
        assert sum(p[3] for p in pts) == t["counters"]["shares"] == want["shares"]
        # Where the events went: each PLAN entry in its own bucket.
        by_t = {p[0]: p for p in pts}
        for off, nv, nl, ns in PLAN:
            b = base + off - off % size
            assert by_t[b][1] >= nv and by_t[b][2] >= nl, (step, off, by_t[b])
        if size == 10:
            for off, nv, nl, ns in PLAN:
                assert by_t[base + off - off % 10][1:4] == [nv, nl, ns], (off, by_t)
                assert by_t[base + off - off % 10][4] == nv  # distinct viewers of the bucket
            assert sum(1 for p in pts if p[1:] == [0, 0, 0, 0, 0]) == len(pts) - len(PLAN)
    # The hour step: every viewer distinct, one HLL per hour.
    body = ts(srv, stream, "?from=%d&to=%d&step=1h&metrics=uniques" % (base, base + 7200)).json()
    assert [p[1] for p in body["points"]] == [7, 3]


def test_defaults_whole_life_and_step(filled):
    srv, stream, base, want = filled
    body = ts(srv, stream).json()
    # From created_at (the first post, base + 2) to now (base + 3700): 10 s
    # steps give 370 points, under the default's ~1,500.
    assert body["step"] == 10
    assert body["metrics"] == ["views", "likes", "uniques", "online", "shares"]
    assert body["points"][0][0] == base
    # The last point holds now (the clock's offset is whole seconds, so now
    # is base + 3700 give or take one).
    assert base + 3690 <= body["points"][-1][0] <= base + 3700
    assert body["points"][-1][0] == base + len(body["points"]) * 10 - 10
    assert sum(p[1] for p in body["points"]) == want["views"]
    assert "tz" not in body
    # A day asks 8,640 points of 10 s: the default is the minute.
    body = ts(srv, stream, "?from=%d&to=%d" % (base, base + 86400)).json()
    assert body["step"] == 60 and len(body["points"]) == 1440
    # RFC 3339 works as well as epoch seconds.
    iso = datetime.datetime.fromtimestamp(base, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ts(srv, stream, "?from=%s&to=%d&step=1h" % (iso, base + 7200)).json()["points"] == \
        ts(srv, stream, "?from=%d&to=%d&step=1h" % (base, base + 7200)).json()["points"]


def test_csv_parses_and_names_a_file(filled):
    srv, stream, base, want = filled
    q = "?from=%d&to=%d&step=1m&metrics=views,likes" % (base, base + 7200)
    for query, headers in ((q + "&format=csv", None), (q, [("Accept", "text/csv")])):
        r = ts(srv, stream, query, headers=headers)
        assert r.status == 200, r
        assert r.header("Content-Type").startswith("text/csv")
        assert r.header("Content-Disposition") == \
            'attachment; filename="%s-timeseries-1m.csv"' % stream
        text = r.body.decode()
        assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert rows[0] == ["t", "views", "likes"]
        assert len(rows) == 1 + 120
        assert sum(int(row[1]) for row in rows[1:]) == want["views"]
        assert sum(int(row[2]) for row in rows[1:]) == want["likes"]
        assert int(rows[1][0]) == base
    # format=json wins over Accept.
    assert ts(srv, stream, q + "&format=json", headers=[("Accept", "text/csv")]).json()["step"] == 60


def test_tz_column(filled):
    srv, stream, base, want = filled
    q = "?from=%d&to=%d&step=1h&tz=Asia/Shanghai" % (base, base + 7200)
    body = ts(srv, stream, q).json()
    assert body["tz"] == "Asia/Shanghai"
    rows = list(csv.reader(io.StringIO(ts(srv, stream, q + "&format=csv").body.decode(),
                                       newline="")))
    assert rows[0][:2] == ["t", "local_time"]
    for zone in ("Asia/Shanghai", "America/New_York", "UTC"):
        rows = list(csv.reader(io.StringIO(
            ts(srv, stream, "?from=%d&to=%d&step=1h&format=csv&tz=%s"
               % (base, base + 7200, zone)).body.decode(), newline="")))
        for row in rows[1:]:
            local = datetime.datetime.fromtimestamp(int(row[0]), zoneinfo.ZoneInfo(zone))
            assert row[1] == local.isoformat(), (zone, row)
    # The server's own log times are untouched by a request's zone: the
    # totals' times stay UTC.
    assert srv.totals(stream)["updated_at"].endswith("Z")


def test_bad_parameters_are_400_naming_them(filled):
    srv, stream, base, want = filled
    now = base + 3700
    cases = [
        ("?step=5s", "step"),
        ("?step=", "step"),
        ("?metrics=views,bogus", "metrics"),
        ("?metrics=views,views", "metrics"),
        ("?from=%d&to=%d" % (base + 100, base + 50), "from"),
        ("?from=%d&to=%d" % (base, base), "from"),
        ("?from=yesterday", "from"),
        ("?to=2022-13-01T00:00:00Z", "to"),
        ("?tz=Mars/Olympus_Mons", "tz"),
        ("?tz=../../etc/passwd", "tz"),
        ("?format=xml", "format"),
        ("?from=0&step=10s&to=%d" % now, "step"),  # over 100,000 points
        ("?from=1000&to=2000", "from/to"),  # older than every retention
    ]
    for query, name in cases:
        r = ts(srv, stream, query)
        h.assert_error(r, 400, "bad_request")
        msg = r.json()["message"]
        assert msg.startswith(name), (query, msg)
    h.assert_error(ts(srv, "no-such-stream", "?from=%d" % base), 404, "unknown_stream")
    h.assert_error(ts(srv, "no-such-stream"), 404, "unknown_stream")


def test_retention_decides_what_is_served(lt, tmp_path, redis):
    clock = Clock(tmp_path)
    now = int(time.time())
    base = now - now % 3600 - 2 * 3600  # two hours ago: past a 1-hour 10 s retention
    clock.set(base + 2)
    srv = lt({"timeseries": {"retention_10s_hours": 1, "retention_1m_days": 1,
                             "retention_1h_days": 2}}, env=clock.env())
    assert srv.post_events("ts-ret", [ev("like", 4, viewer="viewer-ret-1")]).json()["accepted"] == 1
    srv.wait_totals("ts-ret", {"likes": 4}, settle=0)
    clock.set(now)
    # A batch of now moves the held counts of base's buckets to their keys.
    assert srv.post_events("ts-ret", [ev("like", 1, viewer="viewer-ret-1")]).json()["accepted"] == 1
    srv.wait_totals("ts-ret", {"likes": 5}, settle=0)
    with redis.client() as r:
        # The 10 s bucket was written already past its retention: gone.
        assert r.cmd("EXISTS", "lt:{ts-ret}:ts:10:%d" % base) == 0
        assert r.cmd("EXPIRETIME", "lt:{ts-ret}:ts:60:%d" % base) == base + 60 + 86400
        assert r.cmd("EXPIRETIME", "lt:{ts-ret}:ts:3600:%d" % base) == base + 3600 + 2 * 86400
    # 10 s steps no longer cover the range: 400; 1 min steps serve it.
    h.assert_error(ts(srv, "ts-ret", "?from=%d&to=%d&step=10s" % (base, base + 600)), 400,
                   "bad_request")
    body = ts(srv, "ts-ret", "?from=%d&to=%d&step=1m&metrics=likes" % (base, base + 600)).json()
    assert body["points"][0] == [base, 4]
    # The default step skips what expired: the minute.
    assert ts(srv, "ts-ret", "?from=%d&to=%d" % (base, base + 600)).json()["step"] == 60


def test_answers_are_at_most_a_second_old(filled):
    """Each worker keeps an answer for 1 s (and folds identical requests
    that arrive while its read is out into it): a new event shows up in the
    same request within a second and a bit."""
    srv, stream, base, want = filled
    q = "?from=%d&to=%d&step=1h&metrics=likes" % (base, base + 7200)
    before = sum(p[1] for p in ts(srv, stream, q).json()["points"])
    assert before == want["likes"]
    srv.post_events(stream, [ev("like", 5, viewer="viewer-ts-later")])
    srv.wait_totals(stream, {"likes": want["likes"] + 5}, settle=0)
    h.wait_until(lambda: sum(p[1] for p in ts(srv, stream, q).json()["points"]) == before + 5,
                 timeout=3.0, desc="the new likes in the time series")
    # Many identical requests at once all get the same, right answer.
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: ts(srv, stream, q).body, range(32)))
    assert len(set(bodies)) == 1
