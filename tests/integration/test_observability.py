"""Observability (issue 10, point 4) against a real server: the histograms of
/metrics moving with real traffic (every applied event in
redis_batch_events exactly once, a round trip per reply, a push delay per
published push and none for a snapshot), every rejection reason counted per
event over HTTP and WebSocket (events_rejected_total their sum), the Redis
connection gauges across an outage, and log_format json: every line of a
server's stderr one JSON object, also after a SIGHUP switches the format.

Also sse_dropped_slow_total: an event stream's reader that never reads is
dropped once 256 KB wait in the server's own queue, past a kernel send
buffer the server bounds (sse.c), from pushes at most every push_interval_ms.
Its WebSocket twin (ws_dropped_slow_total) is in test_fanout.py."""

import json
import re
import signal
import socket
import time

import ltharness as h
from conftest import OPERATOR_TOKEN

FAST = {"push_interval_ms": 50}

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
HISTOGRAMS = ("redis_flush_rtt_seconds", "redis_batch_events", "push_delay_seconds")
REASONS = ("bad_event", "rate_limited", "unknown_stream", "stream_ended", "overloaded",
           "not_ready", "too_many_sources", "spool_unavailable")


def scrape(srv):
    """GET /metrics as {series: value}; series is the name with its labels
    as written (livetally_x_bucket{le="0.5"})."""
    r = srv.get("/metrics")
    assert r.status == 200, r
    out = {}
    for line in r.body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        assert m.group(0) not in out
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def check_histogram(m, name):
    """Buckets in ascending le, cumulative counts never falling, +Inf last
    and equal to _count; returns (count, sum)."""
    prefix = "livetally_%s_bucket{le=\"" % name
    rows = [(k[len(prefix):-2], v) for k, v in m.items() if k.startswith(prefix)]
    assert rows and rows[-1][0] == "+Inf", rows
    les = [float(le) for le, _ in rows[:-1]]
    assert les == sorted(les) and len(set(les)) == len(les), les
    counts = [v for _, v in rows]
    assert counts == sorted(counts), "buckets not cumulative: %r" % rows
    count = m["livetally_%s_count" % name]
    assert counts[-1] == count, (rows, count)
    return count, m["livetally_%s_sum" % name]


def rejected(m, reason):
    return m['livetally_events_rejected_by_reason_total{reason="%s"}' % reason]


def views(n, prefix):
    return [{"type": "view", "viewer": "%s-%04d" % (prefix, i)} for i in range(n)]


def likes(n, prefix):
    return [{"type": "like", "viewer": "%s-%04d" % (prefix, i)} for i in range(n)]


# ---------------------------------------------------------------------------
# histograms


def test_batch_histograms_count_every_applied_event(lt, redis):
    srv = lt(FAST)
    before = scrape(srv)
    for name in HISTOGRAMS:
        assert check_histogram(before, name) == (0, 0), name
    sent = 0
    for i in range(4):
        r = srv.post_events("obs-flush", views(5, "viewer-f%d" % i) + likes(3, "viewer-g%d" % i))
        assert r.status == 202 and r.json() == {"accepted": 8, "rejected": 0}, r
        sent += 8
        time.sleep(0.06)  # over flush_interval_ms: several batches
    srv.wait_totals("obs-flush", {"views": 20, "likes": 12})
    m = scrape(srv)
    count, total = check_histogram(m, "redis_batch_events")
    # Each accepted event rides in exactly one applied batch.
    assert total == sent, (total, sent)
    assert count == m["livetally_redis_batches_applied_total"] and count >= 1, m
    rtt_count, rtt_sum = check_histogram(m, "redis_flush_rtt_seconds")
    assert rtt_count == (m["livetally_redis_batches_applied_total"] +
                         m["livetally_redis_batches_duplicate_total"]), m
    assert rtt_sum > 0
    check_histogram(m, "push_delay_seconds")


def test_push_delay_per_published_push_not_for_snapshots(lt, redis):
    srv = lt(FAST)
    with h.sse_connect(srv, "/v1/streams/obs-push/live") as s:
        first = s.next_event(timeout=3.0)  # the snapshot: no publish behind it
        assert first["data"]["seq"] == 0, first
        assert check_histogram(scrape(srv), "push_delay_seconds")[0] == 0
        assert srv.post_events("obs-push", likes(2, "viewer-push")).status == 202
        ev = s.next_event(timeout=3.0)
        while ev["data"]["likes"] < 2:
            ev = s.next_event(timeout=3.0)
        count, total = check_histogram(scrape(srv), "push_delay_seconds")
        assert count >= 1 and total >= 0, (count, total)
        pushes = scrape(srv)["livetally_sse_events_pushed_total"]
        # One observation per published seq handed out, never more than
        # the pushes (the snapshot was one of them and is not observed).
        assert count <= pushes - 1, (count, pushes)


# ---------------------------------------------------------------------------
# rejections by reason


def reason_deltas(before, after):
    return {r: rejected(after, r) - rejected(before, r) for r in REASONS}


def assert_sum_is_total(before, after, deltas):
    total = after["livetally_events_rejected_total"] - before["livetally_events_rejected_total"]
    assert total == sum(deltas.values()), (total, deltas)


def test_http_refusals_counted_per_event_by_reason(lt, redis):
    srv = lt(dict(FAST, **{"streams.auto_create": False, "likes.burst": 5}), operator=True)
    m0 = scrape(srv)
    for r in REASONS:
        assert rejected(m0, r) == 0, r
    # unknown_stream: a body of three events refused whole counts three.
    r = srv.post_events("obs-rej", likes(3, "viewer-unk"))
    h.assert_error(r, 404, "unknown_stream")
    assert srv.put_stream("obs-rej", {"status": "live"}, token=OPERATOR_TOKEN).status in (200, 201)
    # bad_event: one bad event in a body of two.
    r = srv.post_events("obs-rej", [{"type": "like", "viewer": "viewer-ok-01"}, {"type": "bogus"}])
    assert r.status == 202 and r.json() == {"accepted": 1, "rejected": 1}, r
    # rate_limited: a like over the viewer's burst.
    r = srv.post_events("obs-rej", {"type": "like", "n": 6, "viewer": "viewer-burst-01"})
    h.assert_error(r, 429, "rate_limited")
    # stream_ended: two events (the worker learns of the end within a second).
    assert srv.put_stream("obs-rej", {"status": "ended"}, token=OPERATOR_TOKEN).status in (200, 201)
    ended = []

    def refused_as_ended():
        r = srv.post_events("obs-rej", likes(2, "viewer-end"))
        ended.append(r.status)
        return r.status == 409
    h.wait_until(refused_as_ended, 3.0, interval=0.1, desc="409 stream_ended")
    m1 = scrape(srv)
    d = reason_deltas(m0, m1)
    assert d["unknown_stream"] == 3, d
    assert d["bad_event"] == 1, d
    assert d["rate_limited"] == 1, d
    assert d["stream_ended"] == 2, d  # the one 409 only: earlier tries were 202s
    assert ended.count(409) == 1 and all(s == 202 for s in ended[:-1]), ended
    assert d["overloaded"] == d["not_ready"] == d["too_many_sources"] == 0, d
    assert d["spool_unavailable"] == 0, d
    assert_sum_is_total(m0, m1, d)


def test_websocket_refusals_counted_by_reason(lt, redis):
    srv = lt(dict(FAST, **{"streams.auto_create": False, "limits.ws_message_burst": 4,
                           "limits.ws_messages_per_second": 1}), operator=True)
    m0 = scrape(srv)
    with h.ws_connect(srv, "/v1/ws") as c:
        # unknown_stream
        c.send_json({"type": "like", "stream": "obs-ws-unknown", "viewer": "viewer-wsu-01"})
        assert c.wait_error()["code"] == "unknown_stream"
        # bad_event: a like naming no stream on a socket with none
        c.send_json({"type": "like", "viewer": "viewer-wsb-01"})
        assert c.wait_error()["code"] == "bad_message"
        # bad_event: an invalid like
        c.send_json({"type": "like", "n": 0, "stream": "obs-ws-unknown"})
        assert c.wait_error()["code"] == "bad_message"
        # rate_limited: messages over the socket's budget (4, one used per
        # second): a like over it is an event refused, a subscribe is not.
        c.send_json({"type": "like", "stream": "obs-ws-unknown", "viewer": "viewer-wsr-01"})
        codes = [c.wait_error()["code"]]
        c.send_json({"type": "subscribe", "stream": "obs-ws-unknown"})
        codes.append(c.wait_error()["code"])
        c.send_json({"type": "like", "stream": "obs-ws-unknown", "viewer": "viewer-wsr-02"})
        codes.append(c.wait_error()["code"])
    assert codes[1:] == ["rate_limited", "rate_limited"], codes
    m1 = scrape(srv)
    d = reason_deltas(m0, m1)
    assert d["unknown_stream"] == 1 + (codes[0] == "unknown_stream"), (d, codes)
    assert d["bad_event"] == 2, d
    assert d["rate_limited"] == 1 + (codes[0] == "rate_limited"), (d, codes)
    assert_sum_is_total(m0, m1, d)


def test_overloaded_and_not_ready_counted_while_redis_is_down(lt, redis):
    srv = lt(dict(FAST, **{"redis.max_backlog": 100, "redis.command_timeout_ms": 500}))
    assert srv.post_events("obs-down", views(1, "viewer-d0")).status == 202
    srv.wait_totals("obs-down", {"views": 1})
    m0 = scrape(srv)
    redis.kill()
    try:
        h.wait_until(lambda: scrape(srv)["livetally_redis_connected"] == 0, 5,
                     desc="redis_connected 0")
        overloaded = 0
        for i in range(30):  # 10 views a request: the backlog of 100 fills
            r = srv.post_events("obs-down", views(10, "viewer-d%d" % (i + 1)))
            if r.status == 503:
                h.assert_error(r, 503, "overloaded")
                overloaded += 10
                break
            assert r.status == 202, r
        assert overloaded, "no 503 overloaded with the backlog at 100"
        # A stream this worker never met cannot be looked up: not_ready.
        r = srv.post_events("obs-never-seen", likes(2, "viewer-nr"))
        h.assert_error(r, 503, "not_ready")
        m1 = scrape(srv)
        d = reason_deltas(m0, m1)
        assert d["overloaded"] == overloaded, d
        assert d["not_ready"] == 2, d
        assert_sum_is_total(m0, m1, d)
        assert (m1["livetally_ingest_overloaded_total"] -
                m0["livetally_ingest_overloaded_total"]) == 1  # per request
    finally:
        redis.start()
    h.wait_until(lambda: scrape(srv)["livetally_backlog_entries"] == 0, 10,
                 desc="the backlog flushed once Redis is back")


# ---------------------------------------------------------------------------
# gauges


def test_redis_connection_gauges_follow_an_outage(lt, redis):
    srv = lt(FAST)

    def gauges():
        m = scrape(srv)
        return m["livetally_redis_connected"], m["livetally_redis_pubsub_connected"]
    h.wait_until(lambda: gauges() == (1, 1), 5, desc="both connections up")
    redis.kill()
    try:
        h.wait_until(lambda: gauges() == (0, 0), 10, desc="both connections down")
    finally:
        redis.start()
    h.wait_until(lambda: gauges() == (1, 1), 10, desc="both connections back")


# ---------------------------------------------------------------------------
# JSON logs

LEVELS = {"debug", "info", "warn", "error"}
PROC = re.compile(r"^(master|worker\[\d+\])$")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def json_records(text):
    """Every line of text parsed as one log record (fails on any other)."""
    out = []
    for line in text.splitlines():
        try:
            o = json.loads(line)
        except ValueError:
            raise AssertionError("not a JSON line: %r" % line)
        assert isinstance(o, dict), line
        assert set(o) - {"req"} == {"ts", "level", "proc", "module", "msg"}, line
        assert TS.match(o["ts"]) and o["level"] in LEVELS and PROC.match(o["proc"]), line
        assert isinstance(o["module"], str) and o["module"], line
        assert isinstance(o["msg"], str), line
        assert isinstance(o.get("req", ""), str), line
        out.append(o)
    return out


def bad_request_id(srv, path="/healthz"):
    """Sends a malformed request (logged: a 400 with its request id)."""
    r = h.raw_exchange(srv.host, srv.port,
                       ("GET %s HTTP/1.1\r\nHost x\r\n\r\n" % path).encode())
    assert r.status == 400, r
    rid = r.header("X-Request-Id")
    assert rid, r
    return rid


def test_json_log_lines_parse(lt, redis):
    srv = lt({"log_format": "json", "workers": 2})
    rid = bad_request_id(srv)
    # A SIGHUP logs from the master and every worker.
    srv.send_signal(signal.SIGHUP)
    h.wait_until(lambda: srv.stderr_text().count("config reloaded from") >= 2, 5,
                 desc="both workers reloaded")
    h.wait_until(lambda: any(o.get("req") == rid for o in json_records(srv.stderr_text())), 5,
                 desc="the 400's line naming its request id")
    assert srv.stop() == 0
    recs = json_records(srv.stderr_text())
    procs = {o["proc"] for o in recs}
    assert "master" in procs and any(p.startswith("worker[") for p in procs), procs
    line = [o for o in recs if o.get("req") == rid]
    assert len(line) == 1 and " 400 " in line[0]["msg"] + " ", line
    reloaded = [o for o in recs if o["msg"].startswith("config reloaded from")]
    assert len(reloaded) == 2 and all(o["module"] == "worker" for o in reloaded), reloaded


def test_sighup_switches_text_to_json(lt, redis):
    srv = lt({"log_format": "text"})
    rid_text = bad_request_id(srv)
    h.wait_until(lambda: ("req=" + rid_text) in srv.stderr_text(), 5, desc="the text line")
    text_part = srv.stderr_text()
    for line in text_part.splitlines():
        assert not line.startswith("{"), line
    srv.config = h.deep_merge(srv.config, {"log_format": "json"})
    srv.write_config()
    srv.send_signal(signal.SIGHUP)
    h.wait_until(lambda: "config reloaded from" in srv.stderr_text(), 5, desc="reloaded")
    rid_json = bad_request_id(srv)
    h.wait_until(lambda: ('"req":"%s"' % rid_json) in srv.stderr_text(), 5,
                 desc="the JSON line")
    after = srv.stderr_text()[len(text_part):]
    recs = json_records(after)
    assert any(o.get("req") == rid_json for o in recs), recs
    assert any(o["msg"].startswith("config reloaded from") for o in recs), recs


def test_start_up_failure_logged_as_json(lt, redis):
    """A listen error after the config is read is a log record too, so a
    JSON log collector sees why the server did not start."""
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        srv = lt({"log_format": "json", "listen": "127.0.0.1:%d" % port}, wait_ready=False,
                 check_exit=False)
        assert srv.wait_exit(10) == 1, srv.stderr_text()
    finally:
        taken.close()
    recs = json_records(srv.stderr_text())
    errors = [o for o in recs if o["level"] == "error" and o["proc"] == "master"]
    assert errors and str(port) in errors[0]["msg"], recs


def test_sse_reader_that_never_reads_is_dropped_and_counted(lt, redis):
    """sse_dropped_slow_total: an SSE client that never reads (with a small
    receive buffer of its own) is dropped once 256 KB of pushes wait in the
    server's queue past the socket's bounded send buffer; the drop is logged
    with its reason and counted, every like is counted, and another reader
    gets the stream at once."""
    srv = lt({"push_interval_ms": 10, "flush_interval_ms": 5,
              "likes.per_client_rate_per_second": 1000000,
              "likes.per_client_burst": 10000000})
    stream = "obs-sse-slow"
    assert srv.post_events(stream, [{"type": "like", "viewer": "viewer-first"}]).status == 202
    srv.wait_totals(stream, {"likes": 1}, settle=0)
    slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.settimeout(5.0)
    slow.connect((srv.host, srv.port))
    slow.sendall(h.build_request("GET", "/v1/streams/%s/live" % stream,
                                 headers=[("Accept", "text/event-stream")]))
    try:
        # Every request changes the totals, so every batch (flush_interval_ms,
        # as fast as Redis answers) brings a push of a few hundred bytes that
        # the slow reader never takes: about 300 KB in some 20 s.
        i = 0
        t0 = time.monotonic()
        deadline = t0 + 120.0
        while time.monotonic() < deadline and h.metric(srv, "livetally_sse_dropped_slow_total") == 0:
            events = [{"type": "like", "viewer": "viewer-%d-%d" % (i, k)} for k in range(10)]
            r = srv.post_events(stream, events)
            assert r.status == 202 and r.json()["accepted"] == 10, r
            i += 1
        assert h.metric(srv, "livetally_sse_dropped_slow_total") == 1, \
            "a reader that never read was not dropped in 120 s (%d requests)" % i
    finally:
        slow.close()
    assert "output pending (a reader too slow)" in srv.stderr_text()
    assert h.metric(srv, "livetally_sse_connections_open") == 0
    # Every like counted; another reader gets the totals at once.
    srv.wait_totals(stream, {"likes": 1 + 10 * i}, settle=0)
    with h.sse_connect(srv, "/v1/streams/%s/live" % stream) as ok:
        assert ok.next_event()["data"]["likes"] == 1 + 10 * i
