"""Redis aggregation (issue 2, points 6 and 8): exact totals across a Redis
SIGKILL and restart under load, the bounded backlog answering 503 past its
bound, and the Redis key layout (hash tags, redis.db)."""

import threading
import time

import pytest

import ltharness as h
from conftest import OPERATOR_TOKEN

# The load threads below share 127.0.0.1 and post tens of thousands of likes
# a second: a per-client like budget wide enough that every like counts.
FAST_REDIS = {"redis.connect_timeout_ms": 200, "redis.command_timeout_ms": 500,
              "likes.per_client_rate_per_second": 1000000, "likes.per_client_burst": 10000000}


def ev(type_, n=None, viewer=None, source=None):
    e = {"type": type_}
    if n is not None:
        e["n"] = n
    if viewer is not None:
        e["viewer"] = viewer
    if source is not None:
        e["source"] = source
    return e


class Loader:
    """Client threads posting likes and views (every viewer new, so every
    accepted event counts) until stopped. Sums what was answered 202; 503
    answers are not counted; anything else is an error."""

    def __init__(self, srv, stream, n_threads=8):
        self.srv = srv
        self.stream = stream
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.likes = 0
        self.views = 0
        self.n_202 = 0
        self.n_503 = 0
        self.errors = []
        self.timeline = []  # (time, status)
        self.t0 = time.monotonic()
        self.threads = [threading.Thread(target=self.run, args=(k,)) for k in range(n_threads)]

    def start(self):
        self.t0 = time.monotonic()
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        assert not any(t.is_alive() for t in self.threads), "load threads stuck"

    def run(self, k):
        i = 0
        conn = None
        try:
            while not self.stop.is_set():
                if conn is None:
                    conn = self.srv.conn(timeout=10)
                i += 1
                viewer = "ld%02d-%07d" % (k, i)
                n = 1 + (i * 7 + k) % 50
                batch = [ev("like", n, viewer=viewer)]
                if i % 3 == 0:
                    batch.append(ev("view", viewer=viewer))
                sent = time.monotonic()
                try:
                    r = conn.post_json("/v1/streams/%s/events" % self.stream, batch)
                except Exception as exc:  # noqa: BLE001 - the outcome of that request is unknown
                    self.errors.append(("no answer", "thread %d, request sent at t=%.2fs, %r"
                                        % (k, sent - self.t0, exc), batch))
                    return
                now = time.monotonic()
                with self.lock:
                    self.timeline.append((now, r.status))
                    if r.status == 202:
                        body = r.json()
                        if body != {"accepted": len(batch), "rejected": 0}:
                            self.errors.append(("partial", batch, body))
                            return
                        self.n_202 += 1
                        self.likes += n
                        self.views += len(batch) - 1
                    elif r.status == 503:
                        self.n_503 += 1
                        try:
                            h.assert_error(r, 503, {"not_ready", "overloaded"})
                            assert r.header("retry-after") is not None, r
                        except AssertionError as exc:
                            self.errors.append(("bad 503", str(exc)))
                            return
                    else:
                        self.errors.append(("status", r))
                        return
                if "close" in r.header_tokens("connection"):
                    conn.close()
                    conn = None
        except Exception as exc:  # noqa: BLE001 - the outcome of that request is unknown
            self.errors.append(("exception", repr(exc)))
        finally:
            if conn is not None:
                conn.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_redis_killed_mid_load_exact_totals(lt, redis, workers):
    srv = lt(dict(FAST_REDIS, workers=workers))
    stream = "rf-load-w%d" % workers
    load = Loader(srv, stream)
    load.start()
    try:
        time.sleep(0.8)
        redis.kill()
        killed_at = time.monotonic()
        time.sleep(1.2)
        redis.start()
        restarted_at = time.monotonic()
        time.sleep(1.0)
    finally:
        load.finish()
    assert not load.errors, ("Redis killed at t=%.2fs, restarted at t=%.2fs"
                             % (killed_at - load.t0, restarted_at - load.t0), load.errors[:3])
    during = [s for t, s in load.timeline if killed_at <= t < restarted_at]
    after = [s for t, s in load.timeline if t >= restarted_at + 0.5]
    assert load.n_202 > 100, "too little load to mean anything: %d" % load.n_202
    assert 202 in after, "nothing accepted after Redis came back: %r" % after[-10:]
    srv.wait_totals(stream, {"likes": load.likes, "views": load.views}, timeout=15, settle=0.5)
    print("accepted %d, 503 %d, during outage %d answers (%d accepted)"
          % (load.n_202, load.n_503, len(during), during.count(202)))


def test_redis_killed_twice_and_server_restarted(lt, redis):
    """Exactness also across a second outage and a restart of the server."""
    srv = lt(FAST_REDIS)
    stream = "rf-twice"
    load = Loader(srv, stream, n_threads=4)
    load.start()
    try:
        for _ in range(2):
            time.sleep(0.5)
            redis.kill()
            time.sleep(0.6)
            redis.start()
        time.sleep(0.5)
    finally:
        load.finish()
    assert not load.errors, load.errors[:3]
    srv.wait_totals(stream, {"likes": load.likes, "views": load.views}, timeout=15)
    assert srv.stop() == 0
    srv2 = lt(FAST_REDIS)
    srv2.wait_totals(stream, {"likes": load.likes, "views": load.views}, timeout=5)


@pytest.mark.parametrize("workers", [1, 2])
def test_lost_replies_counted_once(lt, redis, workers):
    """DEBUG SLEEP longer than redis.command_timeout_ms: the server gives up
    on its pending commands and reconnects, but Redis still runs what it had
    received (the replies are lost). Totals must still be exact."""
    srv = lt(dict(FAST_REDIS, workers=workers))
    stream = "rf-lost-w%d" % workers
    load = Loader(srv, stream, n_threads=6)
    load.start()
    try:
        with redis.client() as r:
            r.sock.settimeout(5)
            for _ in range(2):
                time.sleep(0.4)
                r.cmd("DEBUG", "SLEEP", "1.2")
        time.sleep(1.0)
    finally:
        load.finish()
    assert not load.errors, load.errors[:3]
    assert load.n_202 > 100, load.n_202
    srv.wait_totals(stream, {"likes": load.likes, "views": load.views}, timeout=15, settle=0.5)


def test_redis_loading_its_dataset_counts_everything_once(lt, redis):
    """Redis answers -LOADING while it loads its dataset (after a restart,
    here DEBUG RELOAD of a large one, slowed by key-load-delay): every
    batch sent then is refused, kept and sent again once Redis serves,
    exactly once, without flooding the log."""
    srv = lt(FAST_REDIS)
    stream = "rf-loading"
    load = Loader(srv, stream, n_threads=4)
    load.start()
    try:
        time.sleep(0.5)
        refused, loading_s = h.reload_slowly(redis, "rf-ballast")
        time.sleep(0.5)
    finally:
        load.finish()
    assert refused > 0, "Redis never answered LOADING: the test tested nothing"
    assert not load.errors, load.errors[:3]
    assert load.n_202 > 50, load.n_202
    srv.wait_totals(stream, {"likes": load.likes, "views": load.views}, timeout=15, settle=0.5)
    failures = h.metric(srv, "redis_batch_failures_total") or 0
    assert failures > 0, "no batch was refused while Redis loaded: the test did not test anything"
    warned = [ln for ln in srv.stderr_text().splitlines() if "LOADING" in ln]
    assert 0 < len(warned) <= 5, "LOADING logged %d times:\n%s" % (len(warned), "\n".join(warned[:10]))
    print("loading %.1fs: %d batches refused; accepted %d requests" % (loading_s, failures, load.n_202))


def test_backlog_bound_answers_503(lt, redis):
    srv = lt(dict(FAST_REDIS, **{"redis.max_backlog": 100}))
    stream = "rf-backlog"
    assert srv.post_events(stream, ev("view", viewer="viewer-bl-start")).status == 202
    srv.wait_totals(stream, {"views": 1})
    accepted = 1
    redis.kill()
    try:
        h.wait_until(lambda: srv.get("/readyz").status == 503, 5.0, interval=0.05,
                     desc="/readyz 503 with Redis down")
        statuses = []
        with srv.conn() as c:
            for i in range(400):
                r = c.post_json("/v1/streams/%s/events" % stream,
                                ev("view", viewer="viewer-bl-%05d" % i))
                statuses.append(r.status)
                if r.status == 202:
                    assert r.json() == {"accepted": 1, "rejected": 0}, r
                    accepted += 1
                else:
                    h.assert_error(r, 503, {"overloaded", "not_ready"})
                    assert r.header("retry-after") is not None, r
                if "close" in r.header_tokens("connection"):
                    break
        assert statuses[:10] == [202] * 10, \
            "while Redis is away deltas should wait in the backlog: %r" % statuses[:10]
        assert 503 in statuses, "400 new viewers with redis.max_backlog=100 never got 503"
        assert accepted - 1 <= 110, "accepted %d views with redis.max_backlog=100" % (accepted - 1)
        first_503 = statuses.index(503)
        assert all(s == 503 for s in statuses[first_503:]), \
            "accepted again after the bound while Redis is still down: %r" % statuses[first_503:]
    finally:
        redis.start()
    srv.wait_totals(stream, {"views": accepted}, timeout=15)
    h.wait_until(lambda: srv.post_events(stream, ev("view", viewer="viewer-bl-after")).status == 202,
                 5.0, interval=0.1, desc="ingest accepted again after recovery")
    srv.wait_totals(stream, {"views": accepted + 1}, timeout=5)


def hash_tag(key):
    """The part of key that Redis Cluster hashes (the cluster spec's rule)."""
    s = key.find("{")
    if s < 0:
        return None
    e = key.find("}", s + 1)
    if e < 0 or e == s + 1:
        return None
    return key[s + 1:e]


def test_every_stream_key_carries_hash_tag(lt, redis):
    srv = lt({"counters": ["shares"]}, operator=True)
    streams = ["alpha", "B.eta-1_x", "zz"]
    for sid in streams:
        assert srv.put_stream(sid, {"title": "T " + sid, "series": "tour-ht", "status": "live"},
                              token=OPERATOR_TOKEN).status < 300
        r = srv.post_events(sid, [ev("view", viewer="viewer-ht-0001"),
                                  ev("like", 3, viewer="viewer-ht-0001", source="app"),
                                  ev("shares", viewer="viewer-ht-0002"),
                                  ev("view")])
        assert r.json() == {"accepted": 4, "rejected": 0}, r
        assert srv.post_events(sid, ev("like", 2, viewer="viewer-ht-0003")).status == 202
        srv.wait_totals(sid, {"views": 2, "likes": 5})
    assert srv.put_stream("zz", {"status": "ended"}, token=OPERATOR_TOKEN).status < 300
    time.sleep(0.2)
    with redis.client() as r:
        keys = r.keys()
    assert keys, "no keys in Redis"
    tagged = {sid: [] for sid in streams}
    for k in keys:
        assert k.startswith("lt:"), "key outside the lt: prefix: %r" % k
        tag = hash_tag(k)
        if tag is None:
            for sid in streams:
                assert sid not in k.split(":"), "stream key without its hash tag: %r" % k
            continue
        assert tag in streams, "key %r hashes on {%s}, not a stream id" % (k, tag)
        tagged[tag].append(k)
        for other in streams:
            if other != tag:
                assert other not in k, "key %r of stream %s names %s" % (k, tag, other)
    for sid in streams:
        assert tagged[sid], "no key carries {%s}: %r" % (sid, keys)
    print("keys:", keys)


def test_redis_db_option_is_used(lt, redis):
    srv = lt({"redis.db": 3})
    assert srv.post_events("rf-db", ev("like", viewer="viewer-db-0001")).status == 202
    srv.wait_totals("rf-db", {"likes": 1})
    with redis.client() as r:
        ks = r.info("keyspace")
        assert "db3" in ks, ks
        assert "db0" not in ks, "keys written to db 0 with redis.db=3: %r" % ks
