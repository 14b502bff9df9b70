"""The Lua scripts of src/store/lua/ on their own, against a real
redis-server (the `redis` fixture): each file is sent with EVAL exactly as
it is in the source tree, with the keys and arguments store.c gives it
(the header comment of each file), and its effects, replies and published
messages are checked. Also a syntax check with luac5.1 (Redis runs Lua 5.1).

What store.c adds around the scripts (the stream index, the online-streams
registry) is covered by the tests that run the server (test_read_api.py,
test_events.py)."""

import os
import shutil
import subprocess
import time

import pytest

import ltharness as h

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("LT_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
LUA_DIR = os.path.join(SOURCE_DIR, "src", "store", "lua")
SCRIPTS = ("apply", "read", "drop_share", "put", "series", "timeseries", "put_reported",
           "segment", "delete", "merge_uniques")

DEDUP_MS = 1800 * 1000
TTL_MS = 10000
# Retentions of the 10 s, 1 min and 1 h buckets, in seconds (the defaults).
RETENTION = (48 * 3600, 90 * 86400, 1095 * 86400)


def script(name):
    with open(os.path.join(LUA_DIR, name + ".lua"), "rb") as f:
        return f.read()


def keys(stream, *which):
    return ["lt:{%s}:%s" % (stream, k) for k in which]


def apply_batch(r, stream, inc="inc-1", seq=1, at_ms=1_000_000, dedup_ms=DEDUP_MS,
                online=None, field="w.0", sources=(), counters=(), views=(),
                retention=RETENTION, dropped_taps=0, rejected=0):
    """One batch as store.c sends it. sources: [(name, likes)]; counters:
    [(name, n)]; views: [(viewer, source index from 0)]."""
    args = [inc, seq, at_ms, dedup_ms, stream,
            field if online is not None else "", online or 0, TTL_MS, *retention,
            dropped_taps, rejected, len(sources)]
    for name, likes in sources:
        args += [name, likes]
    args.append(len(counters))
    for name, n in counters:
        args += [name, n]
    for viewer, src in views:
        args += [viewer, src + 1]
    k = keys(stream, "meta", "totals", "uniques", "lastview", "online")
    return r.cmd("EVAL", script("apply"), len(k), *k, *args)


def totals(r, stream):
    raw = r.cmd("HGETALL", "lt:{%s}:totals" % stream)
    return {raw[i].decode(): raw[i + 1].decode() for i in range(0, len(raw), 2)}


def read(r, stream, now_ms):
    k = keys(stream, "meta", "totals", "uniques", "online")
    return r.cmd("EVAL", script("read"), len(k), *k, now_ms)


def pairs(flat):
    """read.lua's flat reply as a dict, the last value of a name winning."""
    out = {}
    for i in range(0, len(flat), 2):
        v = flat[i + 1]
        out[flat[i].decode()] = v.decode() if isinstance(v, bytes) else v
    return out


class Subscriber:
    """A second connection subscribed to one stream's totals channel."""

    def __init__(self, redis, stream):
        self.conn = redis.client()
        self.conn.cmd("SUBSCRIBE", "lt:{%s}:totals" % stream)

    def next(self, timeout=2.0):
        self.conn.sock.settimeout(timeout)
        kind, channel, payload = self.conn._reply()
        assert kind == b"message"
        return channel.decode(), payload.decode()

    def nothing(self, wait=0.2):
        self.conn.sock.settimeout(wait)
        try:
            self.conn._reply()
        except OSError:
            return True
        return False

    def close(self):
        self.conn.close()


def fields(payload):
    """A published message: one "name value" line per field."""
    out = {}
    for line in payload.split("\n"):
        name, value = line.split(" ", 1)
        out[name] = int(value)
    return out


def test_luac_syntax():
    luac = shutil.which("luac5.1")
    if not luac:
        pytest.skip("no luac5.1 (Debian package lua5.1; scripts/deps.sh test installs it)")
    for name in SCRIPTS:
        p = subprocess.run([luac, "-p", os.path.join(LUA_DIR, name + ".lua")],
                           capture_output=True, text=True)
        assert p.returncode == 0, "%s.lua: %s" % (name, p.stderr)


def test_every_script_is_tested_here():
    found = sorted(f[:-4] for f in os.listdir(LUA_DIR) if f.endswith(".lua"))
    assert found == sorted(SCRIPTS)


def test_apply_exactly_once(redis):
    with redis.client() as r:
        rep = apply_batch(r, "s1", seq=5, sources=[("direct", 3), ("bili", 2)],
                          counters=[("shares", 4)])
        assert rep[:3] == [1, 0, 1]
        assert rep[3] == 1_000_000  # created_at: the batch's time
        # The same (incarnation, seq) again, as after a lost reply: acknowledged,
        # not counted; so is a lower seq.
        assert apply_batch(r, "s1", seq=5, sources=[("direct", 3)]) == [0, 0, 1, 1_000_000]
        assert apply_batch(r, "s1", seq=4, sources=[("direct", 3)]) == [0, 0, 1, 1_000_000]
        t = totals(r, "s1")
        assert t["likes"] == "5"
        assert t["s:direct:likes"] == "3" and t["s:bili:likes"] == "2"
        assert t["c:shares"] == "4"
        assert t["a:inc-1"] == "5" and t["seq"] == "1"
        # Another worker life has its own mark: its seq 1 counts.
        assert apply_batch(r, "s1", inc="inc-2", seq=1, sources=[("direct", 1)])[:3] == [1, 0, 2]
        assert apply_batch(r, "s1", seq=6, sources=[("direct", 1)])[:3] == [1, 0, 3]
        t = totals(r, "s1")
        assert t["likes"] == "7" and t["a:inc-2"] == "1" and t["a:inc-1"] == "6"
        meta = r.cmd("HGETALL", "lt:{s1}:meta")
        assert dict(zip(meta[::2], meta[1::2])) == {
            b"created_at": b"1000000", b"status": b"live", b"auto_created": b"1"}


def test_apply_counts_refusals_once(redis):
    """dropped_taps and rejected go to the totals hash under the mark: a
    resend adds nothing; a refusals-only batch creates no stream."""
    with redis.client() as r:
        assert apply_batch(r, "rf", seq=1, dropped_taps=4, rejected=2)[3] == 0
        assert r.cmd("EXISTS", "lt:{rf}:meta") == 0
        apply_batch(r, "rf", seq=2, sources=[("main", 3)], dropped_taps=5, rejected=1)
        apply_batch(r, "rf", seq=2, sources=[("main", 3)], dropped_taps=5, rejected=1)
        apply_batch(r, "rf", seq=3, dropped_taps=2, rejected=0)
        t = totals(r, "rf")
        assert (t["likes"], t["dropped_taps"], t["rejected"]) == ("3", "7", "1")


def test_apply_dedups_views(redis):
    with redis.client() as r:
        rep = apply_batch(r, "s2", seq=1, at_ms=10_000, dedup_ms=5_000,
                          sources=[("direct", 0), ("wutongcun", 0)],
                          views=[("viewer-a", 0), ("viewer-b", 1), ("viewer-a", 1)])
        assert rep[:3] == [1, 2, 1]  # viewer-a once
        t = totals(r, "s2")
        assert t["views"] == "2" and t["uniques"] == "2"
        assert t["s:direct:views"] == "1" and t["s:wutongcun:views"] == "1"
        # Within the dedup window: accepted, no view; the seq stays.
        rep = apply_batch(r, "s2", seq=2, at_ms=14_000, dedup_ms=5_000,
                          sources=[("direct", 0)], views=[("viewer-a", 0)])
        assert rep[:3] == [1, 0, 1]
        # Past it: counted again, uniques unchanged.
        rep = apply_batch(r, "s2", seq=3, at_ms=15_001, dedup_ms=5_000,
                          sources=[("direct", 0)], views=[("viewer-a", 0), ("viewer-c", 0)])
        assert rep[:3] == [1, 2, 2]
        t = totals(r, "s2")
        assert t["views"] == "4" and t["uniques"] == "3" and t["s:direct:views"] == "3"
        # lastview keeps the last counted view per viewer, trimmed past the window.
        assert r.cmd("ZSCORE", "lt:{s2}:lastview", "viewer-a") == b"15001"
        assert r.cmd("ZSCORE", "lt:{s2}:lastview", "viewer-b") is None


def test_apply_many_views_in_slices(redis):
    with redis.client() as r:
        views = [("viewer-%05d" % i, 0) for i in range(2500)] + [("viewer-00001", 0)]
        rep = apply_batch(r, "s3", sources=[("direct", 0)], views=views)
        assert rep[:2] == [1, 2500]
        assert r.cmd("ZCARD", "lt:{s3}:lastview") == 2500


def test_online_shares(redis):
    with redis.client() as r:
        # An online report alone does not create a stream.
        assert apply_batch(r, "s4", online=3, field="w.0") == [1, 0, 0, 0]
        assert r.cmd("EXISTS", "lt:{s4}:meta", "lt:{s4}:totals", "lt:{s4}:online") == 0
        apply_batch(r, "s4", seq=1, at_ms=100_000, sources=[("direct", 1)])
        apply_batch(r, "s4", seq=2, at_ms=100_000, online=3, field="w.0")
        rep = apply_batch(r, "s4", inc="inc-b", seq=1, at_ms=101_000, online=2, field="w.1")
        t = totals(r, "s4")
        assert t["online"] == "5" and t["peak_online"] == "5" and t["peak_at"] == "101000"
        assert rep[2] == int(t["seq"]) == 3  # likes, then each change of online
        # w.0's share expires (10 s after its report): gone at the next report.
        rep = apply_batch(r, "s4", inc="inc-b", seq=2, at_ms=110_001, online=1, field="w.1")
        t = totals(r, "s4")
        assert t["online"] == "1" and t["peak_online"] == "5" and t["peak_at"] == "101000"
        assert r.cmd("HKEYS", "lt:{s4}:online") == [b"w.1"]
        # The same count again changes nothing: no seq.
        before = t["seq"]
        apply_batch(r, "s4", inc="inc-b", seq=3, at_ms=112_000, online=1, field="w.1")
        assert totals(r, "s4")["seq"] == before


def test_apply_publishes_raw_fields(redis):
    sub = Subscriber(redis, "s5")
    try:
        with redis.client() as r:
            apply_batch(r, "s5", seq=1, at_ms=1_700_000_000_123,
                        sources=[("direct", 4)], views=[("viewer-a", 0)], online=2)
            channel, payload = sub.next()
            assert channel == "lt:{s5}:totals"
            assert payload == ("seq 1\nviews 1\nuniques 1\nlikes 4\nonline 2\npeak_online 2\n"
                               "ts 1700000000123\ncounted_views 1\ncounted_likes 4")
            # A resend publishes nothing; a batch that changes no pushed field
            # (a counter only) neither.
            apply_batch(r, "s5", seq=1, sources=[("direct", 4)])
            apply_batch(r, "s5", seq=2, counters=[("shares", 1)])
            assert sub.nothing()
            apply_batch(r, "s5", seq=3, at_ms=1_700_000_000_500, sources=[("direct", 1)])
            assert fields(sub.next()[1]) == {"seq": 2, "views": 1, "uniques": 1, "likes": 5,
                                             "online": 2, "peak_online": 2,
                                             "ts": 1_700_000_000_500, "counted_views": 1,
                                             "counted_likes": 5}
    finally:
        sub.close()


def test_read(redis):
    with redis.client() as r:
        assert read(r, "none", 1000) == 0
        apply_batch(r, "s6", seq=1, at_ms=50_000, sources=[("direct", 2)],
                    counters=[("shares", 3)], views=[("viewer-a", 0)], online=4)
        r.cmd("HSET", "lt:{s6}:meta", "title", "开幕式")
        flat = read(r, "s6", 55_000)
        got = pairs(flat)
        assert got["created_at"] == "50000" and got["status"] == "live"
        assert got["title"] == "开幕式"
        # views and likes come again near the end, with the partners'
        # reported sums added (none yet): the last value wins.
        assert got["views"] == 1 and got["likes"] == 2 and got["c:shares"] == "3"
        assert got["s:direct:likes"] == "2" and got["s:direct:views"] == "1"
        assert got["uniques"] == 1 and got["online"] == 4
        assert got["counted_views"] == 1 and got["counted_likes"] == 2
        # The fresh uniques and online come last (the reader keeps the last value).
        names = [flat[i] for i in range(0, len(flat), 2)]
        assert names[-2:] == [b"uniques", b"online"]
        # A share past its expiry does not count, though it is still stored.
        assert pairs(read(r, "s6", 60_001))["online"] == 0


def test_drop_share(redis):
    sub = Subscriber(redis, "s7")
    try:
        with redis.client() as r:
            apply_batch(r, "s7", seq=1, at_ms=1000, sources=[("direct", 1)], online=3,
                        field="w.0")
            apply_batch(r, "s7", inc="inc-b", seq=1, at_ms=1000, online=2, field="w.1")
            sub.next()
            sub.next()
            k = keys("s7", "totals", "online")
            assert r.cmd("EVAL", script("drop_share"), 2, *k, "w.0", 2000, "s7") == 1
            t = totals(r, "s7")
            assert t["online"] == "2" and t["seq"] == "3"
            assert sub.next()[1] == ("seq 3\nviews 0\nuniques 0\nlikes 1\nonline 2\n"
                                     "peak_online 5\nts 2000\ncounted_views 0\ncounted_likes 1")
            # Not there (any more): nothing happens.
            assert r.cmd("EVAL", script("drop_share"), 2, *k, "w.0", 2000, "s7") == 0
            assert sub.nothing()
    finally:
        sub.close()


def put(r, stream, now_ms, *pairs):
    k = keys(stream, "meta", "history", "report")
    return r.cmd("EVAL", script("put"), len(k), *k, now_ms, *pairs)


def test_put(redis):
    with redis.client() as r:
        rep = put(r, "s8", 5000, "title", "t", "series", "tour")
        assert rep == [5000, b"live", b"", 1]
        rep = put(r, "s8", 5500, "title", "t2")  # no status change: not recorded
        assert rep == [5000, b"live", b"tour", 0]
        rep = put(r, "s8", 6000, "status", "ended", "series", "")
        assert rep == [5000, b"ended", b"tour", 1]
        meta = r.cmd("HGETALL", "lt:{s8}:meta")
        assert dict(zip(meta[::2], meta[1::2])) == {
            b"created_at": b"5000", b"status": b"ended", b"title": b"t2"}
        # Back to scheduled is refused and writes nothing.
        r.cmd("HSET", "lt:{s8}:report", "json|en|UTC", "{}")
        assert put(r, "s8", 6500, "status", "scheduled", "title", "x") == \
            [0, b"bad_transition", b"ended", b"scheduled"]
        assert r.cmd("HGET", "lt:{s8}:meta", "title") == b"t2"
        # A reopen is a change like any other, and discards the frozen reports.
        assert put(r, "s8", 7000, "status", "live")[3] == 1
        assert r.cmd("EXISTS", "lt:{s8}:report") == 0
        assert r.cmd("LRANGE", "lt:{s8}:history", 0, -1) == [
            b"5000 live", b"6000 ended", b"7000 live"]
        assert put(r, "s8", 7500, "status", "scheduled")[0] == 0
        # A new stream given a status keeps it; scheduled -> ended is allowed.
        assert put(r, "s9", 7000, "status", "scheduled")[1] == b"scheduled"
        assert put(r, "s9", 8000, "status", "ended")[1] == b"ended"
        assert r.cmd("LRANGE", "lt:{s9}:history", 0, -1) == [b"7000 scheduled", b"8000 ended"]


def delete(r, stream, now_ms, cursor="", max_keys=1000):
    k = keys(stream, "meta", "totals", "uniques", "lastview", "online", "report", "history",
             "segments", "reported", "reports")
    return r.cmd("EVAL", script("delete"), len(k), *k, stream, now_ms, *RETENTION, cursor,
                 max_keys)


def test_delete_in_slices(redis):
    """delete.lua removes every key of the stream, buckets from ts_lo to the
    newest at each size and the segments' HLLs, in slices of max_keys, the
    meta hash last; other streams' keys stay."""
    with redis.client() as r:
        # Real times: a bucket whose expiry (EXPIREAT) is past is gone at once.
        base = int(time.time()) * 1000 - 1_300_000
        apply_batch(r, "other", seq=1, at_ms=base, sources=[("direct", 1)])
        # Buckets over 20 minutes: late batches (older than the held ones)
        # write their buckets' keys directly.
        apply_batch(r, "s11", seq=1, at_ms=base + 1_200_000, sources=[("direct", 1)],
                    views=[("viewer-a", 0)], online=1)
        for i in range(1, 60):
            apply_batch(r, "s11", seq=1 + i, at_ms=base + 1_200_000 - i * 20_000,
                        sources=[("direct", 1)], views=[("viewer-%d" % i, 0)])
        assert totals(r, "s11")["ts_lo"] == str(base + 1_200_000 - 59 * 20_000)
        put(r, "s11", base, "status", "live", "series", "tour")
        r.cmd("HSET", "lt:{s11}:segments", "n", 3, "1:title", "a", "2:title", "b", "3:title", "c")
        for k in (1, 2, 3):
            r.cmd("PFADD", "lt:{s11}:seg:%d:u" % k, "viewer-a")
        before = r.keys("*{s11}*")
        assert len(before) > 100
        assert any(":ts:10:" in k for k in before) and any(":ts:3600:" in k for k in before)
        now = base + 1_300_000
        assert delete(r, "nope", now) == [0]
        rep, calls = delete(r, "s11", now, max_keys=40), 1
        while rep[1] != b"":
            assert rep[0] == 1 and rep[2] == b"tour"
            assert r.cmd("EXISTS", "lt:{s11}:meta") == 1  # the meta hash goes last
            rep, calls = delete(r, "s11", now, cursor=rep[1].decode(), max_keys=40), calls + 1
        assert rep == [1, b"", b"tour"]
        assert calls >= len(before) // 40
        assert r.keys("*{s11}*") == []
        assert r.keys("*{other}*") != []


def test_scripts_touch_only_their_stream(redis):
    """Every key a script writes carries its stream's hash tag (one Redis
    Cluster slot)."""
    with redis.client() as r:
        apply_batch(r, "s10", seq=1, sources=[("direct", 1)], counters=[("shares", 1)],
                    views=[("viewer-a", 0)], online=1)
        put(r, "s10", 1, "series", "x")
        r.cmd("HSET", "lt:{s10}:segments", "n", 1)
        delete(r, "s10", 2, max_keys=2)
        r.cmd("EVAL", script("drop_share"), 2, *keys("s10", "totals", "online"), "w.0", 2, "s10")
        start_segment(r, "s10", "one", 1_000_000)
        apply_batch(r, "s10", seq=2, sources=[("direct", 1)], views=[("viewer-b", 0)])
        assert all(k.startswith("lt:{s10}:") for k in r.keys())


def test_series(redis):
    """series.lua: read.lua's reply for each stream still in the series, 0
    for one gone or moved, and one PFCOUNT over the union of their uniques."""
    with redis.client() as r:
        apply_batch(r, "t1", seq=1, at_ms=1000, sources=[("direct", 2)], counters=[("shares", 1)],
                    views=[("viewer-a", 0), ("viewer-b", 0)])
        apply_batch(r, "t2", seq=1, at_ms=2000, sources=[("direct", 0)], views=[("viewer-b", 0), ("viewer-c", 0)],
                    online=3)
        apply_batch(r, "t3", seq=1, at_ms=3000, sources=[("direct", 0)], views=[("viewer-d", 0)])
        # t1 has segments: series.lua gives their fields as read.lua does.
        start_segment(r, "t1", "one", 1000)
        apply_batch(r, "t1", seq=2, at_ms=1100, sources=[("direct", 4)], views=[("viewer-e", 0)])
        start_segment(r, "t1", "two", 1200)
        apply_batch(r, "t1", seq=3, at_ms=1300, sources=[("direct", 5)])
        for s, series in (("t1", "tour"), ("t2", "tour"), ("t3", "elsewhere")):
            r.cmd("HSET", "lt:{%s}:meta" % s, "series", series)
        k = []
        for s in ("t1", "t2", "t3", "gone"):
            k += keys(s, "meta", "totals", "uniques", "online")
        rep = r.cmd("EVAL", script("series"), len(k), *k, 2500, "tour")
        assert len(rep) == 5
        assert rep[0] == 4  # viewer-a, -b, -c, -e: b watched both and counts once
        assert rep[1] == read(r, "t1", 2500) and rep[2] == read(r, "t2", 2500)
        assert pairs(rep[2])["online"] == 3 and pairs(rep[1])["c:shares"] == "1"
        g = pairs(rep[1])
        assert (g["g1:title"], g["g1:likes"], g["g1:views"], g["g1:uniques"]) == ("one", "4", "1", 1)
        assert (g["g2:title"], g["g2:likes"], g["g2:views"], g["g2:uniques"]) == ("two", "5", "0", 0)
        assert rep[3] == 0 and rep[4] == 0  # in another series; does not exist
        # No stream in the series: no union, and nothing written.
        before = sorted(r.keys())
        rep = r.cmd("EVAL", script("series"), 4, *keys("t3", "meta", "totals", "uniques", "online"),
                    2500, "tour")
        assert rep == [0, 0]
        assert sorted(r.keys()) == before



def test_merge_uniques_counts_the_union_series_lua_counts(redis):
    """merge_uniques.lua (a series on a Redis Cluster): the HLLs' bytes, read
    with GET, copied to scratch keys of one tag, give the same union as
    series.lua's PFCOUNT, and the scratch keys are gone afterwards."""
    with redis.client() as r:
        for s, viewers in (("m1", ("a", "b")), ("m2", ("b", "c", "d")), ("m3", ("e",))):
            apply_batch(r, s, seq=1, sources=[("direct", 0)],
                        views=[("viewer-" + v, 0) for v in viewers])
            r.cmd("HSET", "lt:{%s}:meta" % s, "series", "tour")
        blobs = [r.cmd("GET", "lt:{%s}:uniques" % s) for s in ("m1", "m2", "m3")]
        scratch = ["lt:{series:tour}:merge:%d" % i for i in range(3)]
        before = sorted(r.keys())
        assert r.cmd("EVAL", script("merge_uniques"), 3, *scratch, *blobs) == 5
        assert sorted(r.keys()) == before
        k = []
        for s in ("m1", "m2", "m3"):
            k += keys(s, "meta", "totals", "uniques", "online")
        assert r.cmd("EVAL", script("series"), len(k), *k, 1, "tour")[0] == 5
        # Something that is not an HLL: an error, and the scratch keys expire.
        with pytest.raises(Exception):
            r.cmd("EVAL", script("merge_uniques"), 2, *scratch[:2], blobs[0], b"not an hll")
        assert 0 < r.cmd("PTTL", scratch[1]) <= 60000


def test_scripts_publish_sharded_as_a_cluster_runs_them(redis):
    """On a Redis Cluster the store loads each script with PUBLISH replaced by
    SPUBLISH (store_route.c): every script that publishes does it in that one
    form, and the sharded variant delivers the same payload to SSUBSCRIBE."""
    for name in SCRIPTS:
        text = script(name).decode()
        assert text.count("PUBLISH") == text.count("redis.call('PUBLISH'"), name
    sharded = script("apply").replace(b"redis.call('PUBLISH'", b"redis.call('SPUBLISH'")
    with redis.client() as sub, redis.client() as r:
        assert sub.cmd("SSUBSCRIBE", "lt:{sp1}:totals")[0] == b"ssubscribe"
        k = keys("sp1", "meta", "totals", "uniques", "lastview", "online")
        args = ["inc-1", 1, 1_000_000, DEDUP_MS, "sp1", "", 0, TTL_MS, *RETENTION, 0, 0, 1,
                "direct", 3, 0]
        r.cmd("EVAL", sharded, len(k), *k, *args)
        kind, channel, payload = sub._reply()
        assert (kind, channel) == (b"smessage", b"lt:{sp1}:totals")
        assert b"likes 3" in payload

# ---- time buckets (apply.lua) and their reader (timeseries.lua) ----------

def ts_read(r, stream, res, step, first, n, uniques=True, counters=()):
    """timeseries.lua's reply as [(t, views, likes, uniques, online, *counters)]."""
    rep = r.cmd("EVAL", script("timeseries"), 2, "lt:{%s}:meta" % stream, "lt:{%s}:totals" % stream,
                stream, res, step, first, n, 1 if uniques else 0, *counters)
    if rep == 0:
        return None
    npts, ncols = rep[0], rep[1]
    assert npts == n and ncols == 4 + len(counters)
    body = rep[2:]
    assert len(body) == n * (ncols + 1)
    return [tuple(body[i * (ncols + 1):(i + 1) * (ncols + 1)]) for i in range(n)]


def bucket(r, stream, size, start):
    raw = r.cmd("HGETALL", "lt:{%s}:ts:%d:%d" % (stream, size, start))
    return {raw[i].decode(): int(raw[i + 1]) for i in range(0, len(raw), 2)}


# The start of the hour two hours ago: its buckets are inside every default
# retention (a bucket past its retention expires as it is written).
T0 = int(time.time()) // 3600 * 3600 - 7200


def test_buckets_follow_the_totals_at_every_resolution(redis):
    """Batches at controlled times over two hours: every resolution's buckets
    add up to the totals, 10 s rolled up to 1 min and 1 h gives what the
    1 min and 1 h buckets hold, and uniques of a rolled-up point are the
    union's."""
    with redis.client() as r:
        seq, viewer = 0, 0
        # (offset s, likes, views, shares, online)
        plan = [(0, 3, 2, 1, 5), (4, 1, 1, 0, 7), (15, 2, 0, 0, 2), (59, 0, 3, 2, 9),
                (61, 4, 1, 0, 1), (125, 1, 2, 0, 4), (3599, 5, 1, 1, 3), (3600, 2, 2, 0, 6),
                (3725, 1, 1, 3, 8)]
        for off, likes, views, shares, online in plan:
            seq += 1
            vs = []
            for _ in range(views):
                viewer += 1
                vs.append(("viewer-%04d" % viewer, viewer % 2))
            apply_batch(r, "tsa", seq=seq, at_ms=(T0 + off) * 1000 + 250, online=online,
                        sources=[("direct", likes), ("bili", 0)],
                        counters=[("shares", shares)] if shares else (), views=vs)
        t = totals(r, "tsa")
        for res in (10, 60, 3600):
            n = (7200 // res)
            pts = ts_read(r, "tsa", res, res, T0, n, counters=("shares",))
            assert sum(p[1] for p in pts) == int(t["views"]) == 13
            assert sum(p[2] for p in pts) == int(t["likes"]) == 19
            assert sum(p[5] for p in pts) == int(t["c:shares"]) == 7
            assert max(p[4] for p in pts) == 9
            # The per-source fields add up too.
            keys_ = r.cmd("KEYS", "lt:{tsa}:ts:%d:*" % res)
            hashes = [k.decode() for k in keys_ if not k.endswith(b":u")]
            srcv = sum(bucket(r, "tsa", res, int(k.rsplit(":", 1)[1])).get("s:direct:views", 0)
                       for k in hashes)
            # The newest bucket is still held in the totals hash.
            srcv += int(t.get("b%d:s:direct:views" % res, 0))
            assert srcv == int(t["s:direct:views"])
            assert len(hashes) == len({(T0 + off) // res for off, *_ in plan}) - 1
        # 10 s rolled up to 1 min and 1 h: the same as the coarser buckets.
        for step in (60, 3600):
            fine = ts_read(r, "tsa", 10, step, T0, 7200 // step, counters=("shares",))
            coarse = ts_read(r, "tsa", step, step, T0, 7200 // step, counters=("shares",))
            assert fine == coarse
        # One minute in detail: views 2+1+0+3, online max 9, 6 distinct viewers.
        m0 = ts_read(r, "tsa", 60, 60, T0, 1, counters=("shares",))[0]
        assert m0 == (T0, 6, 6, 6, 9, 3)
        assert ts_read(r, "tsa", 10, 10, T0, 1, uniques=False)[0] == (T0, 3, 4, 0, 7)
        # Empty buckets read as zeros; an unknown stream as nothing.
        assert ts_read(r, "tsa", 10, 10, T0 + 20, 1)[0] == (T0 + 20, 0, 0, 0, 0)
        assert ts_read(r, "nosuch", 10, 10, T0, 1) is None


def test_a_resent_batch_adds_nothing_to_buckets(redis):
    with redis.client() as r:
        at = (T0 + 30) * 1000
        apply_batch(r, "tsb", seq=1, at_ms=at, sources=[("direct", 2)], views=[("viewer-0001", 0)],
                    counters=[("shares", 1)], online=3)
        def snapshot():
            return {res: ts_read(r, "tsb", res, res, T0 + 30 - (T0 + 30) % res, 1,
                                 counters=("shares",)) for res in (10, 60, 3600)}
        before = snapshot()
        assert before[10] == [(T0 + 30, 1, 2, 1, 3, 1)]
        t = totals(r, "tsb")
        assert {k: v for k, v in t.items() if k.startswith("b10:")} == \
            {"b10:likes": "2", "b10:s:direct:likes": "2", "b10:views": "1",
             "b10:s:direct:views": "1", "b10:c:shares": "1"}
        assert t["tb:10"] == "%d:3:1" % (T0 + 30)
        # The same batch again (its reply was lost), and an older seq.
        assert apply_batch(r, "tsb", seq=1, at_ms=at, sources=[("direct", 2)],
                           views=[("viewer-0002", 0)], counters=[("shares", 1)], online=5)[0] == 0
        assert snapshot() == before
        # Moved to its own hash by a batch in a later bucket: still the same.
        apply_batch(r, "tsb", seq=2, at_ms=at + 3600 * 1000, sources=[("direct", 1)])
        assert snapshot() == before
        assert bucket(r, "tsb", 10, T0 + 30) == {"likes": 2, "s:direct:likes": 2, "views": 1,
                                                  "s:direct:views": 1, "c:shares": 1, "online": 3}
        assert r.cmd("PFCOUNT", "lt:{tsb}:ts:10:%d:u" % (T0 + 30)) == 1


def test_buckets_expire_at_their_end_plus_retention(redis):
    with redis.client() as r:
        now = int(time.time())
        at = now - now % 3600 + 5  # early in the current hour
        ret = (7200, 2 * 86400, 3 * 86400)
        apply_batch(r, "tsc", seq=1, at_ms=at * 1000, sources=[("direct", 1)],
                    views=[("viewer-0001", 0)], retention=ret)
        # The HLL is written (and given its expiry) at once; the counts are
        # held in the totals hash until a batch in a later bucket moves them.
        apply_batch(r, "tsc", seq=2, at_ms=at * 1000 + 1000, sources=[("direct", 1)], retention=ret)
        assert r.cmd("EXISTS", "lt:{tsc}:ts:10:%d" % (at - at % 10)) == 0
        apply_batch(r, "tsc", seq=5, at_ms=(at + 3600) * 1000, sources=[("direct", 1)],
                    retention=ret)
        for size, keep in zip((10, 60, 3600), ret):
            start = at - at % size
            assert bucket(r, "tsc", size, start)["likes"] == 2
            for suffix in ("", ":u"):
                key = "lt:{tsc}:ts:%d:%d%s" % (size, start, suffix)
                assert r.cmd("EXPIRETIME", key) == start + size + keep, key
        # A late batch for an older bucket writes it directly, with its expiry.
        apply_batch(r, "tsc", seq=6, at_ms=(at - 3600) * 1000, sources=[("direct", 1)],
                    views=[("viewer-0002", 0)], retention=ret)
        old = at - 3600
        assert r.cmd("EXPIRETIME", "lt:{tsc}:ts:10:%d" % (old - old % 10)) == \
            old - old % 10 + 10 + 7200
        assert r.cmd("EXPIRETIME", "lt:{tsc}:ts:10:%d:u" % (old - old % 10)) == \
            old - old % 10 + 10 + 7200
        # A 10 s bucket past its retention is gone by itself.
        gone = now - 7200 - 20
        apply_batch(r, "tsc", seq=7, at_ms=gone * 1000, sources=[("direct", 1)],
                    views=[("viewer-0003", 0)], retention=ret)
        assert r.cmd("EXISTS", "lt:{tsc}:ts:10:%d" % (gone - gone % 10)) == 0
        assert r.cmd("EXISTS", "lt:{tsc}:ts:10:%d:u" % (gone - gone % 10)) == 0
        assert r.cmd("EXISTS", "lt:{tsc}:ts:60:%d" % (gone - gone % 60)) == 1
        # Every bucket key has an expiry.
        for k in r.cmd("KEYS", "lt:{tsc}:ts:*"):
            assert r.cmd("TTL", k) > 0, k


# ---- partner reports (put_reported.lua) ------------------------------------

def put_reported(r, stream, source, views, likes, now_ms, cap=100000):
    k = keys(stream, "meta", "totals", "reported", "reports")
    return r.cmd("EVAL", script("put_reported"), len(k), *k, stream, source, views, likes,
                 now_ms, cap)


def hash_of(r, key):
    raw = r.cmd("HGETALL", key)
    return {raw[i].decode(): raw[i + 1].decode() for i in range(0, len(raw), 2)}


def test_put_reported_refuses_unknown_and_ended_streams(redis):
    with redis.client() as r:
        assert put_reported(r, "p0", "wutongcun", 5, 6, 1000) == [0, 0, 0, 0, 0, 0]
        assert r.keys() == []  # a report creates no stream
        put(r, "p0", 900, "status", "ended")
        assert put_reported(r, "p0", "wutongcun", 5, 6, 1000) == [-1, 0, 0, 0, 0, 0]
        assert sorted(r.keys()) == ["lt:{p0}:history", "lt:{p0}:meta"]  # nothing written


def test_put_reported_replaces_sums_and_publishes(redis):
    sub = Subscriber(redis, "p1")
    try:
        with redis.client() as r:
            apply_batch(r, "p1", seq=1, at_ms=1000, sources=[("direct", 10)],
                        views=[("viewer-a", 0), ("viewer-b", 0)], online=1)
            assert fields(sub.next()[1])["seq"] == 1
            # First report: seq raised, views/likes = counted + reported.
            assert put_reported(r, "p1", "wutongcun", 53411, 20873, 2000) == \
                [1, 53413, 20883, 0, 2000, 2]
            # counted_views and counted_likes stay what was counted here.
            assert sub.next()[1] == ("seq 2\nviews 53413\nuniques 2\nlikes 20883\nonline 1\n"
                                     "peak_online 1\nts 2000\ncounted_views 2\ncounted_likes 10")
            assert hash_of(r, "lt:{p1}:reported") == {
                "wutongcun:views": "53411", "wutongcun:likes": "20873", "wutongcun:at": "2000",
                "wutongcun:lower": "0"}
            # A second source adds; the same source replaces its report.
            assert put_reported(r, "p1", "kuaishou", 100, 1, 2500)[:3] == [1, 53513, 20884]
            sub.next()
            assert put_reported(r, "p1", "wutongcun", 60000, 21000, 3000)[:4] == \
                [1, 60102, 21011, 0]
            assert fields(sub.next()[1])["views"] == 60102
            t = totals(r, "p1")
            assert (t["reported_views"], t["reported_likes"]) == ("60100", "21001")
            assert (t["views"], t["likes"]) == ("2", "10")  # counted only
            # Lower than the previous report: accepted and flagged.
            rep = put_reported(r, "p1", "wutongcun", 59000, 21500, 4000)
            assert rep[:5] == [1, 59102, 21511, 1, 4000]
            assert hash_of(r, "lt:{p1}:reported")["wutongcun:lower"] == "1"
            sub.next()
            # The same figures again change no pushed field: no push, seq kept.
            rep = put_reported(r, "p1", "wutongcun", 59000, 21500, 4500)
            assert rep == [1, 59102, 21511, 0, 4500, rep[5]] and sub.nothing()
            assert totals(r, "p1")["seq"] == str(rep[5])
            # Every report kept, oldest first.
            assert r.cmd("ZRANGE", "lt:{p1}:reports", 0, -1) == [
                b"2000 wutongcun 53411 20873 0", b"2500 kuaishou 100 1 0",
                b"3000 wutongcun 60000 21000 0", b"4000 wutongcun 59000 21500 1",
                b"4500 wutongcun 59000 21500 0"]
            # apply.lua and drop_share.lua publish the reported sums too.
            apply_batch(r, "p1", seq=2, at_ms=5000, sources=[("direct", 1)])
            got = fields(sub.next()[1])
            assert (got["likes"], got["counted_views"], got["counted_likes"]) == (21512, 2, 11)
            r.cmd("EVAL", script("drop_share"), 2, *keys("p1", "totals", "online"), "w.0", 6000,
                  "p1")
            got = fields(sub.next()[1])
            assert (got["views"], got["likes"], got["online"]) == (59102, 21512, 0)
            assert (got["counted_views"], got["counted_likes"]) == (2, 11)
            # read.lua: each source's latest report, and the summed totals.
            r.cmd("HSET", "lt:{p1}:meta", "series", "tour")
            flat = read(r, "p1", 6000)
            got = pairs(flat)
            assert got["views"] == 59102 and got["likes"] == 21512
            assert got["counted_views"] == 2 and got["counted_likes"] == 11
            assert got["r:wutongcun:views"] == "59000" and got["r:kuaishou:likes"] == "1"
            assert got["s:direct:likes"] == "11"
            # series.lua reads the same as read.lua.
            k = keys("p1", "meta", "totals", "uniques", "online")
            assert r.cmd("EVAL", script("series"), 4, *k, 6000, "tour")[1] == flat
            assert all(k.startswith("lt:{p1}:") for k in r.keys())
    finally:
        sub.close()


def test_put_reported_keeps_a_sources_order_within_a_millisecond(redis):
    """Reports of one source in the same millisecond (or with the clock
    stepping back) are dated one ms apart, so the sorted set keeps them in
    the order they came; another source's times are its own."""
    with redis.client() as r:
        put(r, "p3", 900, "status", "live")
        for v in (100, 150, 140):
            assert put_reported(r, "p3", "wutongcun", v, 1, 5000)[0] == 1
        assert put_reported(r, "p3", "wutongcun", 160, 1, 4000)[4] == 5003  # clock back
        assert put_reported(r, "p3", "kuaishou", 7, 1, 5000)[4] == 5000
        assert r.cmd("ZRANGE", "lt:{p3}:reports", 0, -1) == [
            b"5000 kuaishou 7 1 0", b"5000 wutongcun 100 1 0", b"5001 wutongcun 150 1 0",
            b"5002 wutongcun 140 1 1", b"5003 wutongcun 160 1 0"]


def test_put_reported_keeps_the_newest(redis):
    with redis.client() as r:
        apply_batch(r, "p2", seq=1, at_ms=1000, sources=[("direct", 1)])
        for i in range(6):
            put_reported(r, "p2", "wutongcun", i, i, 2000 + i, cap=3)
        assert r.cmd("ZRANGE", "lt:{p2}:reports", 0, -1) == [
            b"2003 wutongcun 3 3 0", b"2004 wutongcun 4 4 0", b"2005 wutongcun 5 5 0"]


# ---- segments (segment.lua, apply.lua, read.lua) ----------------------------


def start_segment(r, stream, title, started_ms, cap=200):
    k = keys(stream, "meta", "totals", "segments")
    return r.cmd("EVAL", script("segment"), len(k), *k, title, started_ms, cap)


def test_segment_script_outcomes(redis):
    with redis.client() as r:
        assert start_segment(r, "g1", "x", 1000) == [1, 0]  # no such stream
        assert r.keys() == []  # and nothing created
        apply_batch(r, "g1", seq=1, sources=[("direct", 1)], at_ms=500)
        assert start_segment(r, "g1", "开幕式", 1000) == [0, 1]
        assert start_segment(r, "g1", "city", 2000) == [0, 2]
        assert start_segment(r, "g1", "early", 1999) == [3, 2000]  # before the previous start
        assert start_segment(r, "g1", "same ms", 2000) == [0, 3]  # not before it: fine
        seg = r.cmd("HGETALL", "lt:{g1}:segments")
        assert dict(zip(seg[::2], seg[1::2])) == {
            b"n": b"3", b"1:title": "开幕式".encode(), b"1:started_at": b"1000",
            b"2:title": b"city", b"2:started_at": b"2000",
            b"3:title": b"same ms", b"3:started_at": b"2000"}
        assert totals(r, "g1")["gs"] == "1000,2000,2000"
        assert start_segment(r, "g1", "full", 3000, cap=3) == [4, 3]
        r.cmd("HSET", "lt:{g1}:meta", "status", "ended")
        assert start_segment(r, "g1", "after the end", 3000) == [2, 0]
        assert r.cmd("HGET", "lt:{g1}:segments", "n") == b"3"


def test_apply_counts_each_batch_in_its_segment(redis):
    """Segment k holds the batches whose at_ms is at or after its start and
    before the next one's; batches before the first segment are in none; a
    late or resent batch goes by its own at_ms, once."""
    with redis.client() as r:
        s = "g2"
        apply_batch(r, s, seq=1, at_ms=900, sources=[("direct", 1)], views=[("v0", 0)])
        start_segment(r, s, "one", 1000)
        apply_batch(r, s, seq=2, at_ms=1000, sources=[("direct", 2)], views=[("v1", 0)])
        apply_batch(r, s, seq=3, at_ms=1500, sources=[("direct", 3)],
                    views=[("v2", 0), ("v3", 0)])
        start_segment(r, s, "two", 2000)
        apply_batch(r, s, seq=4, at_ms=2100, sources=[("direct", 5)], views=[("v4", 0)])
        # A late batch (another worker's, sealed before segment two began) lands in
        # segment one; one older than every segment in none.
        apply_batch(r, s, inc="inc-2", seq=1, at_ms=1999, sources=[("direct", 7)],
                    views=[("v5", 0)])
        apply_batch(r, s, inc="inc-3", seq=1, at_ms=999, sources=[("direct", 11)],
                    views=[("v6", 0)])
        # A resend of a batch already applied adds nothing anywhere.
        apply_batch(r, s, seq=3, at_ms=1500, sources=[("direct", 3)],
                    views=[("v2", 0), ("v3", 0)])
        # Segment three starts in the past (a moment ago): what was applied stays;
        # a batch sealed after its start but applied now (late) goes to it.
        start_segment(r, s, "three", 2050)
        apply_batch(r, s, inc="inc-4", seq=1, at_ms=2060, sources=[("direct", 13)],
                    views=[("v7", 0), ("v1", 0)])
        t = totals(r, s)
        # The ended segments' counts are their own fields; the running one's
        # are held in gc: (read.lua shows them as g3:).
        assert (t["g1:likes"], t["g1:views"]) == (str(2 + 3 + 7), str(1 + 2 + 1))
        assert (t["g2:likes"], t["g2:views"]) == ("5", "1")
        # v1's view is within the dedup window: no view, but a viewer of the segment.
        assert (t["gc:likes"], t["gc:views"]) == ("13", "1")
        assert "g3:likes" not in t
        t.update({"g3:likes": t["gc:likes"], "g3:views": t["gc:views"]})
        # Every counted event is in exactly one segment or before the first.
        seg_likes = sum(int(t["g%d:likes" % k]) for k in (1, 2, 3))
        assert int(t["likes"]) == seg_likes + 1 + 11
        seg_views = sum(int(t["g%d:views" % k]) for k in (1, 2, 3))
        assert int(t["views"]) == seg_views + 1 + 1
        assert r.cmd("PFCOUNT", "lt:{g2}:seg:1:u") == 4  # v1 v2 v3 v5, the resend adding none
        assert r.cmd("PFCOUNT", "lt:{g2}:seg:2:u") == 1
        assert r.cmd("PFCOUNT", "lt:{g2}:seg:3:u") == 2
        # read.lua: the segments as raw fields, uniques counted fresh.
        got = pairs(read(r, s, 3000))
        assert got["g1:title"] == "one" and got["g3:title"] == "three"
        assert (got["g1:started_at"], got["g2:started_at"], got["g3:started_at"]) == \
            ("1000", "2000", "2050")
        assert (got["g1:uniques"], got["g2:uniques"], got["g3:uniques"]) == (4, 1, 2)
        assert got["g2:likes"] == "5" and (got["g3:likes"], got["g3:views"]) == ("13", "1")
        # A fourth segment: the third one's held counts become its own fields.
        start_segment(r, s, "four", 2500)
        apply_batch(r, s, inc="inc-5", seq=1, at_ms=2400, sources=[("direct", 17)])
        t = totals(r, s)
        assert (t["g3:likes"], t["g3:views"]) == (str(13 + 17), "1")
        assert (t["gc:likes"], t["gc:views"]) == ("0", "0")
        got = pairs(read(r, s, 3000))
        assert (got["g3:likes"], got["g4:likes"], got["g4:views"]) == (str(13 + 17), "0", "0")


def test_apply_cost_of_segments(redis):
    """A stream without segments costs apply.lua no command of its own; with
    segments a batch of likes and views in the running segment costs one (the
    PFADD of its viewers), a late one of an ended segment three (HINCRBY x2,
    PFADD)."""
    def commands(r):
        stats = r.info("commandstats")
        return sum(int(v.split("calls=")[1].split(",")[0]) for k, v in stats.items()
                   if k.startswith("cmdstat_") and k not in ("cmdstat_eval", "cmdstat_info"))

    with redis.client() as r:
        for s in ("c1", "c2"):
            apply_batch(r, s, seq=1, at_ms=1000, sources=[("direct", 1)], views=[("a", 0)])
        start_segment(r, "c2", "one", 1000)
        cost = {}
        for s in ("c1", "c2"):
            before = commands(r)
            apply_batch(r, s, seq=2, at_ms=1100, sources=[("direct", 1)], views=[("b", 0)])
            cost[s] = commands(r) - before
        assert cost["c2"] - cost["c1"] == 1, cost
        start_segment(r, "c2", "two", 2000)
        for s, at in (("c1", 1200), ("c2", 1200)):  # c2: a late batch of segment one
            before = commands(r)
            apply_batch(r, s, seq=3, at_ms=at, sources=[("direct", 1)], views=[("c", 0)])
            cost[s] = commands(r) - before
        assert cost["c2"] - cost["c1"] == 3, cost
        before = commands(r)
        apply_batch(r, "c1", seq=4, at_ms=2100, sources=[("direct", 1)])  # likes only
        cost["c1"] = commands(r) - before
        before = commands(r)
        apply_batch(r, "c2", seq=4, at_ms=2100, sources=[("direct", 1)])
        assert commands(r) - before == cost["c1"], "a likes-only batch costs nothing more"
