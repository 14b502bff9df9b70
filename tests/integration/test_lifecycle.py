"""A stream's lifecycle (issue 9, point 2) against the real server: status
moves and their history, the ended stream's 409 on every worker within a
second, status and deleted notices over WebSocket and SSE, DELETE removing
every key of the stream, GET /v1/operator/status, the operator-only fields
of stream reads, and operator sockets' subscription limit."""

import json
import os
import re
import time

import ltharness as h
from conftest import OPERATOR_TOKEN

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("LT_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
APPLY_LUA = os.path.join(SOURCE_DIR, "src", "store", "lua", "apply.lua")

FAST = {"push_interval_ms": 50, "flush_interval_ms": 20}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def auth(token=OPERATOR_TOKEN):
    return [("Authorization", "Bearer " + token)]


def like(n=1, viewer="viewer-lc-0001"):
    return {"type": "like", "n": n, "viewer": viewer}


def put(srv, stream, obj, token=OPERATOR_TOKEN):
    return srv.put_stream(stream, obj, token=token)


def delete(srv, stream, headers=None):
    return srv.request("DELETE", "/v1/streams/%s" % stream, headers=headers)


def op_get(srv, path):
    r = srv.get(path, headers=auth())
    assert r.status == 200, r
    return r.json()


# ---------------------------------------------------------------------------
# auth and status codes


def test_operator_endpoints_answer_401_without_a_token(lt, redis):
    srv = lt(operator=True)
    assert srv.post_events("lc-auth", like()).status == 202
    srv.wait_totals("lc-auth", {"likes": 1})
    for method, path in (("DELETE", "/v1/streams/lc-auth"), ("GET", "/v1/operator/status"),
                         ("PUT", "/v1/streams/lc-auth")):
        r = srv.request(method, path, body=b"{}" if method == "PUT" else None)
        h.assert_error(r, 401, "unauthorized")
        assert r.header("WWW-Authenticate") == "Bearer", r
        # A token that is not an operator's: 401 too.
        r = srv.request(method, path, body=b"{}" if method == "PUT" else None,
                        headers=auth("not-a-token"))
        h.assert_error(r, 401, "unauthorized")
        assert r.header("WWW-Authenticate") == "Bearer", r
    # Nothing was deleted.
    assert srv.totals("lc-auth")["likes"] == 1


def test_operator_endpoints_answer_403_when_no_token_is_configured(lt, redis):
    srv = lt()  # LIVETALLY_OPERATOR_TOKENS unset
    assert srv.post_events("lc-noauth", like()).status == 202
    srv.wait_totals("lc-noauth", {"likes": 1})
    h.assert_error(delete(srv, "lc-noauth", headers=auth()), 403, "forbidden")
    h.assert_error(srv.get("/v1/operator/status", headers=auth()), 403, "forbidden")
    h.assert_error(put(srv, "lc-noauth", {"status": "ended"}), 403, "forbidden")
    # The operator-only fields need a valid token too.
    t = srv.get("/v1/streams/lc-noauth", headers=auth()).json()
    assert "refused" not in t and "history" not in t, t


def test_delete_unknown_stream_is_404_and_bad_id_400(lt, redis):
    srv = lt(operator=True)
    h.assert_error(delete(srv, "lc-never", headers=auth()), 404, "unknown_stream")
    h.assert_error(delete(srv, ".bad", headers=auth()), 400, "bad_stream_id")
    r = srv.request("POST", "/v1/operator/status", headers=auth())
    h.assert_error(r, 405, "method_not_allowed")


# ---------------------------------------------------------------------------
# status moves and history


def history_of(t):
    return [e["status"] for e in t["history"]]


def test_status_moves_history_and_reopen(lt, redis):
    srv = lt(FAST, operator=True)
    s = "lc-moves"
    r = put(srv, s, {"title": "开幕式", "status": "scheduled", "series": "tour-lc"})
    assert r.status == 200 and r.json()["status"] == "scheduled", r
    assert put(srv, s, {"title": "开幕式 2"}).status == 200  # no status change: no entry
    assert put(srv, s, {"status": "live"}).status == 200
    assert srv.post_events(s, [like(2), {"type": "view", "viewer": "viewer-lc-0001"}]).status == 202
    srv.wait_totals(s, {"likes": 2, "views": 1})
    assert put(srv, s, {"status": "ended"}).status == 200
    # Back to scheduled is refused, from ended as from live, and changes nothing.
    r = put(srv, s, {"status": "scheduled", "title": "changed"})
    h.assert_error(r, 409, "bad_transition")
    assert srv.totals(s)["title"] == "开幕式 2"
    # The operator reopens it: recorded like any other change.
    r = put(srv, s, {"status": "live"})
    assert r.status == 200 and r.json()["status"] == "live", r
    h.assert_error(put(srv, s, {"status": "scheduled"}), 409, "bad_transition")
    t = op_get(srv, "/v1/streams/%s" % s)
    assert history_of(t) == ["scheduled", "live", "ended", "live"], t
    ats = [e["at"] for e in t["history"]]
    assert all(RFC3339.match(a) for a in ats) and ats == sorted(ats), ats
    assert t["refused"] == {"dropped_taps": 0, "rejected": 0}, t
    # Without a token the operator-only fields are absent.
    pub = srv.totals(s)
    assert "history" not in pub and "refused" not in pub, pub
    # In the listing too, for every stream of the page.
    listing = op_get(srv, "/v1/streams?series=tour-lc")
    assert [history_of(x) for x in listing["streams"]] == [["scheduled", "live", "ended", "live"]]
    assert "history" not in srv.get("/v1/streams").json()["streams"][0]
    # The report shows the history (JSON), the reopen included.
    rep = srv.get("/v1/streams/%s/report" % s).json()
    assert [e["status"] for e in rep["history"]] == ["scheduled", "live", "ended", "live"], rep
    # scheduled -> ended is allowed (a cancelled event).
    assert put(srv, "lc-cancel", {"status": "scheduled"}).status == 200
    assert put(srv, "lc-cancel", {"status": "ended"}).status == 200
    assert history_of(op_get(srv, "/v1/streams/lc-cancel")) == ["scheduled", "ended"]


def test_reopen_refreezes_the_report(lt, redis):
    srv = lt(FAST, operator=True)
    s = "lc-refreeze"
    assert srv.post_events(s, like(3)).status == 202
    srv.wait_totals(s, {"likes": 3})
    assert put(srv, s, {"status": "ended"}).status == 200
    first = srv.get("/v1/streams/%s/report" % s)
    assert first.status == 200 and first.json()["totals"]["likes"] == 3
    assert put(srv, s, {"status": "live"}).status == 200
    h.wait_until(lambda: srv.post_events(s, like(4, "viewer-lc-0002")).status == 202, 2.0,
                 desc="events accepted after the reopen")
    srv.wait_totals(s, {"likes": 7})
    assert put(srv, s, {"status": "ended"}).status == 200
    second = srv.get("/v1/streams/%s/report" % s).json()
    assert second["totals"]["likes"] == 7, second
    assert [e["status"] for e in second["history"]] == ["ended", "live", "ended"], second


def test_refused_figures_for_operators(lt, redis):
    srv = lt(FAST, operator=True)
    s = "lc-refused"
    r = srv.post_events(s, [like(1), {"type": "bogus"}, {"type": "like", "n": -1}])
    assert r.status == 202 and r.json() == {"accepted": 1, "rejected": 2}, r

    def refused():
        # The first batch is sent once its seal is in the spool (an fsync):
        # until then the stream may not exist yet.
        r = srv.get("/v1/streams/%s" % s, headers=auth())
        if r.status == 404:
            return None
        assert r.status == 200, r
        t = r.json()
        return t if t["refused"]["rejected"] == 2 else None
    t = h.wait_until(refused, 3.0, desc="refused.rejected == 2")
    assert t["refused"]["dropped_taps"] == 0 and t["history"] == [], t


# ---------------------------------------------------------------------------
# the end reaches every worker


def test_ended_stream_409_on_every_worker_within_a_second(lt, redis):
    srv = lt({"workers": 2}, operator=True)
    s = "lc-both"
    assert srv.post_events(s, like()).status == 202
    srv.wait_totals(s, {"likes": 1})
    # Keep-alive connections until both workers hold some (each connection
    # stays with the worker that accepted it), every worker's status cache
    # warmed with "live" by an event on each.
    conns = []
    try:
        def both_workers_hold_two():
            c = srv.conn()
            conns.append(c)
            r = c.post_json("/v1/streams/%s/events" % s, like(1, "viewer-lc-%04d" % len(conns)))
            assert r.status == 202, r
            workers = op_get(srv, "/v1/operator/status")["workers"]
            return all(w["connections"] >= 2 for w in workers) or None
        h.wait_until(both_workers_hold_two, 10.0, interval=0, desc="connections on both workers")
        assert put(srv, s, {"status": "ended"}).status == 200
        t0 = time.monotonic()
        pending = list(conns)
        while pending:
            assert time.monotonic() - t0 < 1.0, "%d of %d connections still accept events: %r" % (
                len(pending), len(conns), [(conns.index(c), c.sock.getsockname()) for c in pending])
            still = []
            for c in pending:
                r = c.post_json("/v1/streams/%s/events" % s, like())
                if r.status == 409:
                    h.assert_error(r, 409, "stream_ended")
                else:
                    assert r.status == 202, r
                    still.append(c)
            pending = still
            time.sleep(0.01)
    finally:
        for c in conns:
            c.close()
    # Totals stay as they were once every worker knows.
    time.sleep(0.3)
    before = srv.totals(s)
    for _ in range(10):
        h.assert_error(srv.post_events(s, like()), 409, "stream_ended")
    time.sleep(0.3)
    after = srv.totals(s)
    assert (after["likes"], after["status"]) == (before["likes"], "ended"), (before, after)


# ---------------------------------------------------------------------------
# notices to subscribers


def test_status_and_deleted_notices_over_ws_and_sse(lt, redis):
    srv = lt(FAST, operator=True)
    s = "lc-notice"
    assert put(srv, s, {"status": "live"}).status == 200
    with h.ws_connect(srv, "/v1/ws") as multi, \
            h.ws_connect(srv, "/v1/streams/%s/ws" % s) as fixed, \
            h.sse_connect(srv, "/v1/streams/%s/live" % s) as sse:
        multi.send_json({"type": "subscribe", "stream": s})
        multi.send_json({"type": "subscribe", "stream": "lc-other"})
        multi.wait_totals(stream=s)
        multi.wait_totals(stream="lc-other")
        fixed.wait_totals()
        assert sse.next_event()["event"] == "totals"

        assert put(srv, s, {"status": "ended"}).status == 200
        want = {"type": "status", "stream": s, "status": "ended"}
        assert multi.wait_message(lambda m: m.get("type") == "status") == want
        assert fixed.wait_message(lambda m: m.get("type") == "status") == want
        ev = sse.wait_event(lambda e: e.get("event") == "status", desc="event: status")
        assert ev["data"] == want and "id" not in ev, ev
        # Events on a socket of the ended stream get the error message.
        fixed.send_json({"type": "like", "n": 1})
        assert fixed.wait_error("stream_ended")["code"] == "stream_ended"
        # A title change is no status change: no notice.
        assert put(srv, s, {"title": "t"}).status == 200
        assert not [m for m in fixed.quiet_for(0.3) if m.get("type") == "status"]
        assert put(srv, s, {"status": "live"}).status == 200  # reopen
        want = {"type": "status", "stream": s, "status": "live"}
        assert fixed.wait_message(lambda m: m.get("type") == "status") == want
        assert sse.wait_event(lambda e: e.get("event") == "status")["data"] == want

        r = delete(srv, s, headers=auth())
        assert r.status == 204 and r.body == b"", r
        gone = {"type": "deleted", "stream": s}
        assert multi.wait_message(lambda m: m.get("type") == "deleted") == gone
        assert fixed.wait_message(lambda m: m.get("type") == "deleted") == gone
        assert fixed.wait_close()[0] == 1000
        ev = sse.wait_event(lambda e: e.get("event") == "deleted", desc="event: deleted")
        assert ev["data"] == gone, ev
        assert sse.conn.wait_closed(3.0), "the event stream did not end"
        # /v1/ws stays open, still subscribed to the other stream only.
        assert srv.post_events("lc-other", like()).status == 202
        multi.wait_totals(stream="lc-other", likes=1)
        multi.send_json({"type": "unsubscribe", "stream": s})
        assert not [m for m in multi.quiet_for(0.3) if m.get("stream") == s]


# ---------------------------------------------------------------------------
# DELETE removes every key


def apply_late_batch(r, stream, seq, at_ms):
    """A batch from another worker process life, at_ms in the past, as
    store_write.c sends it (its buckets: all three sizes)."""
    with open(APPLY_LUA, "rb") as f:
        lua = f.read()
    k = ["lt:{%s}:%s" % (stream, n) for n in ("meta", "totals", "uniques", "lastview", "online")]
    args = ["inc-test", seq, at_ms, 1800 * 1000, stream, "", 0, 10000,
            48 * 3600, 90 * 86400, 1095 * 86400, 0, 0, 1, "direct", 1, 0,
            "viewer-late-%d" % seq, 1]
    return r.cmd("EVAL", lua, len(k), *k, *args)


def test_delete_removes_every_key_without_scanning(lt, redis):
    srv = lt({"log_level": "debug", "counters": ["shares"], **FAST}, operator=True)
    s = "lc-del"
    assert put(srv, s, {"title": "t", "series": "tour-del", "status": "live"}).status == 200
    events = [like(2), {"type": "view", "viewer": "viewer-lc-0001"},
              {"type": "shares", "n": 1}, {"type": "view", "viewer": "viewer-lc-0002",
                                           "source": "wutongcun"}]
    assert srv.post_events(s, events).status == 202
    srv.wait_totals(s, {"likes": 2, "views": 2})
    now_ms = int(time.time() * 1000)
    with redis.client() as r:
        # Buckets over the last ~3 hours at all three sizes, more than one
        # delete slice's worth (1000 keys), written as late batches do.
        for i in range(1, 700):
            apply_late_batch(r, s, i, now_ms - i * 15_000)
        # Segments (SEGMENTS' keys) and partner reports (AUTH's), by hand.
        r.cmd("HSET", "lt:{%s}:segments" % s, "n", 3, "1:title", "开幕式")
        for k in (1, 2, 3):
            r.cmd("PFADD", "lt:{%s}:seg:%d:u" % (s, k), "viewer-lc-0001")
        r.cmd("HSET", "lt:{%s}:reported" % s, "wutongcun:views", 5)
        r.cmd("ZADD", "lt:{%s}:reports" % s, now_ms, "%d wutongcun 5 0 0" % now_ms)
    with h.ws_connect(srv, "/v1/streams/%s/ws" % s) as viewer:  # an online share
        viewer.wait_totals(online=1, timeout=3.0)
        srv.wait_totals(s, {"online": 1})
        assert put(srv, s, {"status": "ended"}).status == 200
        assert srv.get("/v1/streams/%s/report" % s).status == 200  # frozen: :report
        with redis.client() as r:
            before = r.keys("*{%s}*" % s)
            assert other_keys_of(r, s) == []
        for part in (":meta", ":totals", ":uniques", ":lastview", ":online", ":report",
                     ":history", ":segments", ":seg:3:u", ":reported", ":reports",
                     ":ts:10:", ":ts:60:", ":ts:3600:"):
            assert any(part in k for k in before), (part, before)
        assert len(before) > 1000, len(before)
        r_del = delete(srv, s, headers=auth())
        assert r_del.status == 204, r_del
        assert viewer.wait_message(lambda m: m.get("type") == "deleted")["stream"] == s
    with redis.client() as r:
        left = r.keys("*%s*" % s)
        assert left == [], left
        assert r.cmd("ZSCORE", "lt:streams", s) is None
        assert r.cmd("ZSCORE", "lt:series:tour-del", s) is None
    assert re.search(r"stream %s deleted in ([2-9]|\d\d+) script calls" % s, srv.stderr_text())
    h.assert_error(srv.get("/v1/streams/%s" % s), 404, "unknown_stream")
    h.assert_error(delete(srv, s, headers=auth()), 404, "unknown_stream")
    assert s not in [x["stream"] for x in srv.get("/v1/streams").json()["streams"]]
    # The online share of the closed socket cannot bring the stream back.
    time.sleep(0.5)
    with redis.client() as r:
        assert r.keys("*%s*" % s) == []


def other_keys_of(r, stream):
    """Keys naming the stream without its hash tag (there must be none, but
    for the indexes, which are checked apart)."""
    return [k for k in r.keys("*%s*" % stream) if "{%s}" % stream not in k]


# ---------------------------------------------------------------------------
# GET /v1/operator/status


def test_operator_status(lt, redis):
    srv = lt({"workers": 2}, operator=True)
    assert srv.post_events("lc-st", [like(3), {"type": "bogus"}]).status == 202
    srv.wait_totals("lc-st", {"likes": 3})
    with h.ws_connect(srv, "/v1/streams/lc-st/ws") as c, \
            h.sse_connect(srv, "/v1/streams/lc-st/live") as e:
        c.wait_totals()
        e.next_event()
        st = op_get(srv, "/v1/operator/status")
    assert isinstance(st["instance"], str) and re.match(r"^[0-9a-f]+$", st["instance"]), st
    assert RFC3339.match(st["generated_at"]), st
    workers = st["workers"]
    assert [w["index"] for w in workers] == [0, 1], st
    assert sorted(w["pid"] for w in workers) == sorted(srv.workers()), (st, srv.workers())
    for w in workers:
        assert w["running"] is True and w["redis_connected"] is True, w
        for k in ("connections", "ws", "sse", "backlog_entries", "streams_dirty"):
            assert isinstance(w[k], int) and w[k] >= 0, (k, w)
    assert sum(w["ws"] for w in workers) == 1, st
    assert sum(w["sse"] for w in workers) == 1, st
    # HTTP connections (a WebSocket or event stream leaves that count)
    assert sum(w["connections"] for w in workers) >= 1, st
    assert st["redis"]["connected"] is True, st
    for k in ("backlog_entries", "streams_dirty"):
        assert st["redis"][k] == sum(w[k] for w in workers), (k, st)
    assert st["events"] == {"accepted": 1, "rejected": 1}, st
    assert st["likes"] == {"accepted": 3, "dropped": 0}, st
    # HEAD works as for every GET.
    r = srv.request("HEAD", "/v1/operator/status", headers=auth())
    assert r.status == 200


# ---------------------------------------------------------------------------
# operator sockets may subscribe to more streams than viewers


def subscribe_many(c, n, prefix):
    for i in range(n):
        c.send_json({"type": "subscribe", "stream": "%s-%03d" % (prefix, i)})
    got = set()
    while len(got) < n:
        m = c.wait_message(lambda m: m.get("type") in ("totals", "error"))
        assert m["type"] == "totals", (len(got), m)
        got.add(m["stream"])


def test_operator_subscriptions_over_16_up_to_the_config(lt, redis):
    srv = lt({"operator": {"max_subscriptions": 40}}, operator=True)
    with h.ws_connect(srv, "/v1/ws") as viewer:
        subscribe_many(viewer, 16, "lc-v")
        viewer.send_json({"type": "subscribe", "stream": "lc-v-016"})
        assert "16" in viewer.wait_error("too_many_subscriptions")["message"]
    with h.ws_connect(srv, "/v1/ws") as op:
        op.send_json({"type": "auth", "token": OPERATOR_TOKEN})
        assert op.wait_message(lambda m: m.get("type") == "auth") == {"type": "auth", "ok": True}
        subscribe_many(op, 40, "lc-o")
        op.send_json({"type": "subscribe", "stream": "lc-o-040"})
        assert "40" in op.wait_error("too_many_subscriptions")["message"]
        # Leaving one makes room again.
        op.send_json({"type": "unsubscribe", "stream": "lc-o-000"})
        op.send_json({"type": "subscribe", "stream": "lc-o-040"})
        op.wait_totals(stream="lc-o-040")
    # Below the viewers' 16 is refused at start.
    bad = lt({"operator": {"max_subscriptions": 15}}, wait_ready=False, check_exit=False)
    assert bad.wait_exit(10) != 0
    assert "operator.max_subscriptions" in bad.stderr_text()
