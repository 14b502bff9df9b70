"""livetally on a Redis Cluster (issue 11): three instances on a real
cluster of three masters with a replica each (ltcluster.py: redis-server
nodes joined by `redis-cli --cluster create`), configured with
`redis.cluster` naming one seed node.

- events spread over the three instances and 50 streams (on every master)
  give exact totals, read through each instance and at the stream's master;
- a push reaches subscribers on every instance, whichever took the event;
- the series totals (distinct viewers across streams of several slots) and
  the stream list work across the cluster;
- under a steady load on streams of one master (ltload.py: HTTP events and
  acknowledged WebSocket likes on every instance), a stream's slot moves to
  another master with `redis-cli --cluster reshard`, and later a master is
  killed (its replica is promoted): each time accepted <= totals <=
  accepted + unanswered (a batch the old master had applied but not passed
  to its replica is kept in the spool until WAIT confirms, so it is sent
  again and counted once), and subscribers on every instance still receive
  the stream's pushes afterwards.

The cluster asks for a password (requirepass, masterauth), so every kind
of connection authenticates: the router's per master, the sharded
subscribers' and the control channel's. The cluster is shared by the tests
of this file (module scope) and the failover test comes last: it leaves one
master without a replica.
"""

import os
import signal
import socket
import threading
import time

import pytest

import ltcluster
import ltharness as h
import ltload
from conftest import OPERATOR_TOKEN

PASSWORD = "cluster-pass-5e0b7c31"
# Wide budgets: all clients come from one address. Short Redis timeouts so
# that a dead master is noticed quickly.
OVERRIDES = {
    "workers": 2,
    "flush_interval_ms": 20,
    "push_interval_ms": 50,
    "likes": {"rate_per_second": 100000, "burst": 100000,
              "per_client_rate_per_second": 1000000, "per_client_burst": 10000000},
    "limits": {"ws_messages_per_second": 1000, "ws_message_burst": 1000,
               "max_connections_per_client": 0},
    "redis": {"connect_timeout_ms": 500, "command_timeout_ms": 1000,
              "password_env": "LT_TEST_CLUSTER_PASSWORD"},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    h.record_secret(PASSWORD, "test_cluster's requirepass")
    c = ltcluster.RedisCluster(tmp_path_factory.mktemp("cluster"), masters=3, replicas=1,
                               node_timeout_ms=1000, password=PASSWORD)
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture
def instances(lt, cluster):
    """Three livetally instances, each told of two seed nodes that are up
    (a different pair each: a seed may be one a test killed)."""
    live = [n.addr for n in cluster.live_nodes()]
    out = []
    for k in range(3):
        seeds = [live[k % len(live)], live[(k + 1) % len(live)]]
        cfg = h.deep_merge(OVERRIDES, {"redis": {"cluster": seeds}})
        out.append(lt(cfg, operator=True, env={"LT_TEST_CLUSTER_PASSWORD": PASSWORD}))
    for srv in out:
        h.wait_until(lambda: srv.get("/readyz").status == 200, 10, desc="readyz")
    return out


def fresh(tag, i):
    return "v-%s-%06d" % (tag, i)  # viewer ids: 8-64 characters


def test_events_over_three_instances_and_50_streams_are_exact(cluster, instances):
    masters = [p for p, _, _ in cluster.masters()]
    streams = []
    for port in masters:  # every master holds some of them
        streams += cluster.streams_on(port, 17, prefix="e%d" % port)
    streams = streams[:50]
    assert len({cluster.owner(ltcluster.stream_slot(s)) for s in streams}) == 3
    want = {s: {"views": 0, "likes": 0} for s in streams}
    conns = [srv.conn() for srv in instances]
    try:
        for i in range(600):
            s = streams[i % 50]
            n = 1 + i % 4
            body = [{"type": "view", "viewer": fresh("a", i)}, {"type": "like", "n": n}]
            c, srv = conns[i % 3], instances[i % 3]
            r = c.post_json("/v1/streams/%s/events" % s, body)
            assert r.status == 202 and r.json() == {"accepted": 2, "rejected": 0}, r
            want[s]["views"] += 1
            want[s]["likes"] += n
    finally:
        for c in conns:
            c.close()
    for k, s in enumerate(streams):
        srv = instances[k % 3]
        srv.wait_totals(s, want[s], timeout=10)
        assert cluster.hget(s, "views") == want[s]["views"]
        assert cluster.hget(s, "likes") == want[s]["likes"]
    # The stream list names every one of them, from any instance.
    listed = set()
    cursor = None
    while True:
        q = "/v1/streams?limit=500" + ("&cursor=" + cursor if cursor else "")
        page = instances[2].get(q).json()
        listed |= {t["stream"] for t in page["streams"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert set(streams) <= listed


def _subscribe(srv, stream):
    ws = h.WsClient(srv.host, srv.port, "/v1/streams/%s/ws" % stream)
    assert ws.open, ws.response
    ws.wait_message(lambda m: m.get("type") == "totals", timeout=5, desc="first totals")
    return ws


def _wait_likes(ws, likes, timeout=10.0):
    ws.wait_message(lambda m: m.get("type") == "totals" and m.get("likes") == likes,
                    timeout=timeout, desc="a push with likes=%d" % likes)


def test_a_push_reaches_subscribers_on_every_instance(cluster, instances):
    stream = cluster.streams_on(cluster.masters()[1][0], 1, prefix="push")[0]
    subs = [_subscribe(srv, stream) for srv in instances]
    try:
        total = 0
        for k, srv in enumerate(instances):
            r = srv.post_events(stream, {"type": "like", "n": k + 2})
            assert r.status == 202, r
            total += k + 2
            for ws in subs:
                _wait_likes(ws, total)
    finally:
        for ws in subs:
            ws.conn.close()


def test_series_and_uniques_across_slots(cluster, instances):
    streams = [cluster.streams_on(p, 1, prefix="ser%d" % p)[0] for p, _, _ in cluster.masters()]
    srv = instances[0]
    viewers = {streams[0]: ["a", "b"], streams[1]: ["b", "c", "d"], streams[2]: ["e"]}
    for s in streams:
        r = srv.put_stream(s, {"series": "tour-c", "title": s}, token=OPERATOR_TOKEN)
        assert r.status in (200, 201), r
        body = [{"type": "view", "viewer": fresh("ser", ord(v))} for v in viewers[s]]
        body.append({"type": "like", "n": 3})
        assert instances[1].post_events(s, body).status == 202
    def series():
        r = instances[2].get("/v1/series/tour-c")
        return r.json() if r.status == 200 else None
    h.wait_until(lambda: (series() or {}).get("totals", {}).get("likes") == 9, 10,
                 desc="series likes 9")
    got = series()
    assert got["totals"]["views"] == 6
    assert got["totals"]["uniques"] == 5  # b watched two streams: once
    assert sorted(t["stream"] for t in got["streams"]) == sorted(streams)
    listed = instances[1].get("/v1/streams?series=tour-c").json()["streams"]
    assert sorted(t["stream"] for t in listed) == sorted(streams)


def test_a_migration_by_hand_is_followed_through_ask_tryagain_and_moved(cluster, instances):
    """A slot mid-migration (keys on the target, the slot MIGRATING on the
    source): the instance's commands get ASK or TRYAGAIN (a batch's keys
    split between the nodes) and are retried; once the slot is handed over,
    the instance's stale map meets MOVED and follows it. Likes posted all
    along count once. No subscriber: nothing else tells the instance of the
    move, so what it sees is the cluster's own answers."""
    src, dst = cluster.masters()[1][0], cluster.masters()[0][0]
    stream = cluster.streams_on(src, 1, prefix="mig")[0]
    slot = ltcluster.stream_slot(stream)
    srv = instances[0]
    assert srv.post_events(stream, {"type": "like", "n": 2}).status == 202
    srv.wait_totals(stream, {"likes": 2}, timeout=10)

    def followed():
        return sum(h.metric(srv, "livetally_cluster_" + m) for m in ("ask_total", "retries_total"))
    before = followed()
    assert cluster.begin_migration(slot, src, dst) >= 2
    for _ in range(3):
        assert srv.post_events(stream, {"type": "like", "n": 1}).status == 202
    h.wait_until(lambda: followed() > before, 10, desc="ASK or TRYAGAIN met and retried")

    moved, changes = (h.metric(srv, "livetally_cluster_moved_total"),
                      h.metric(srv, "livetally_cluster_map_changes_total"))
    cluster.finish_migration(slot, dst)
    changes_at_handover = h.metric(srv, "livetally_cluster_map_changes_total")
    assert srv.post_events(stream, {"type": "like", "n": 5}).status == 202
    srv.wait_totals(stream, {"likes": 10}, timeout=15, settle=0.5)
    assert cluster.hget(stream, "likes") == 10
    print("migration of slot %d: ASK %d, TRYAGAIN retries %d, MOVED %d, map changes %d"
          % (slot, h.metric(srv, "livetally_cluster_ask_total"),
             h.metric(srv, "livetally_cluster_retries_total"),
             h.metric(srv, "livetally_cluster_moved_total"),
             h.metric(srv, "livetally_cluster_map_changes_total")))
    # MOVED was met, unless a periodic refresh took the new map first.
    assert (h.metric(srv, "livetally_cluster_moved_total") > moved
            or changes_at_handover > changes), "neither MOVED nor a refreshed map"


class Watch:
    """Subscribers of one stream on every instance, keeping the highest
    likes pushed and when each push came."""

    def __init__(self, instances, stream):
        self.subs = [_subscribe(srv, stream) for srv in instances]
        self.stop = threading.Event()
        self.last = [(0.0, -1)] * len(self.subs)  # (monotonic time, seq) of the last push
        self.errors = []
        self.threads = [threading.Thread(target=self._read, args=(i,), daemon=True)
                        for i in range(len(self.subs))]
        for t in self.threads:
            t.start()

    def _read(self, i):
        ws = self.subs[i]
        while not self.stop.is_set():
            try:
                m = ws.recv_json(timeout=0.5)
            except socket.timeout:
                continue
            except Exception as exc:  # noqa: BLE001 - reported, fails the test
                self.errors.append("subscriber %d: %r" % (i, exc))
                return
            if m and m.get("type") == "totals":
                self.last[i] = (time.monotonic(), m.get("seq", -1))

    def pushed_since(self, t0):
        return [t > t0 for t, _ in self.last]

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(5)
        for ws in self.subs:
            ws.conn.close()


def _loads(instances, stream, tag):
    return [ltload.Load(srv.host, srv.port, stream, http_conns=2, ws_sockets=1, http_rate=60.0,
                        ws_rate=30.0, tag="%s%d" % (tag, k)).start()
            for k, srv in enumerate(instances)]


def _check_exact(cluster, instances, stream, tallies):
    accepted = {"views": 0, "likes": 0}
    unanswered = {"views": 0, "likes": 0}
    for t in tallies:
        assert not t.errors, t.errors
        for k in accepted:
            accepted[k] += t.accepted[k]
            unanswered[k] += t.unanswered[k]
    assert accepted["likes"] > 0 and accepted["views"] > 0

    def settled():
        tot = instances[0].totals(stream)
        return all(accepted[k] <= tot[k] <= accepted[k] + unanswered[k] for k in accepted)
    h.wait_until(settled, 20, interval=0.2,
                 desc="accepted %r <= totals <= + unanswered %r" % (accepted, unanswered))
    time.sleep(1.0)  # anything still arriving would break the bounds
    tot = instances[0].totals(stream)
    for k in accepted:
        assert accepted[k] <= tot[k] <= accepted[k] + unanswered[k], (k, tot, accepted, unanswered)
        assert cluster.hget(stream, k) == tot[k]
    return accepted, unanswered, tot


def _under_load(cluster, instances, stream, tag, fault):
    """Runs fault() while every instance takes a steady load on stream and
    has a subscriber of it; then checks the totals exact, that every
    subscriber heard pushes after the fault, and that one more like posted
    afterwards reaches all of them. Returns (fault's result, accepted,
    unanswered, totals)."""
    watch = Watch(instances, stream)
    loads = _loads(instances, stream, tag)
    try:
        try:
            time.sleep(1.5)
            result = fault()
            after = time.monotonic()
            time.sleep(2.5)
        finally:
            tallies = [ld.stop(drain=4.0) for ld in loads]
        accepted, unanswered, tot = _check_exact(cluster, instances, stream, tallies)
        h.wait_until(lambda: all(watch.pushed_since(after + 0.5)), 15,
                     desc="a push on every instance after the fault")
        posted = time.monotonic()
        r = instances[1].post_events(stream, {"type": "like", "n": 1})
        assert r.status == 202, r
        h.wait_until(lambda: all(watch.pushed_since(posted)), 10,
                     desc="the like posted after the fault pushed on every instance")
        assert not watch.errors, watch.errors
        return result, accepted, unanswered, tot
    finally:
        watch.close()


def test_reshard_under_load_is_exact_and_pushes_follow(cluster, instances):
    src, dst = cluster.masters()[0][0], cluster.masters()[2][0]
    stream = cluster.streams_on(src, 1, prefix="rs", lowest=True)[0]
    slot, accepted, unanswered, tot = _under_load(
        cluster, instances, stream, "rs", lambda: cluster.reshard_lowest_slot(src, dst))
    assert slot == ltcluster.stream_slot(stream) and cluster.owner(slot) == dst
    # Every instance took the new map (whether its commands met ASK, MOVED
    # or TRYAGAIN on the way depends on timing: the test above forces them).
    for srv in instances:
        assert h.metric(srv, "livetally_cluster_map_changes_total") >= 1
    print("reshard of slot %d: accepted %r unanswered %r totals views %d likes %d"
          % (slot, accepted, unanswered, tot["views"], tot["likes"]))


def test_a_master_lost_with_its_replica_behind_loses_no_batch(cluster, instances):
    """Why a batch is kept until WAIT says a replica has it. A master's
    replica is stopped (SIGSTOP) and its link cut (CLIENT KILL): it stays in
    the cluster but gets and confirms nothing, so every WAIT of that master
    fails and the workers keep its batches (sending them again: duplicates
    there). The master is killed and
    the replica resumed: it is promoted without what the master applied
    meanwhile, and the workers' resends bring those batches to it, counted
    once. Were batches dropped when the master answered, the totals would
    come out short."""
    victim = cluster.masters()[2][0]
    replica = cluster.replica_of(victim)
    stream = cluster.streams_on(victim, 1, prefix="lag")[0]
    assert instances[0].post_events(stream, {"type": "like", "n": 1}).status == 202
    instances[0].wait_totals(stream, {"likes": 1}, timeout=10)
    accepted = 1
    cluster.wait_synced(replica)
    lagging = cluster.node(replica)
    os.kill(lagging.proc.pid, signal.SIGSTOP)
    # Its link is cut too: what the master writes from now on cannot even
    # wait in the stopped replica's socket buffer.
    cluster.node(victim).cmd("CLIENT", "KILL", "TYPE", "replica")
    try:
        for i in range(30):
            r = instances[i % 3].post_events(stream, {"type": "like", "n": 1})
            assert r.status == 202, r
            accepted += 1
            time.sleep(0.03)
        time.sleep(1.0)
        waits_failed = sum(h.metric(srv, "livetally_cluster_wait_failed_total")
                           for srv in instances)
        applied = cluster.hget(stream, "likes")
        assert applied > 1  # the master has them; its replica does not
        cluster.node(victim).kill()
    finally:
        os.kill(lagging.proc.pid, signal.SIGCONT)
    h.wait_until(lambda: cluster.ok() and cluster.owner(ltcluster.stream_slot(stream)) == replica,
                 30, interval=0.1, desc="the lagging replica promoted")
    instances[1].wait_totals(stream, {"likes": accepted}, timeout=20, settle=0.5)
    assert cluster.hget(stream, "likes") == accepted
    assert waits_failed > 0  # the stopped replica confirmed nothing
    print("lagging replica promoted: %d likes accepted, %d were on the old master when it died"
          % (accepted, applied))
    # The old master comes back as the new one's replica (the next test
    # fails a master over again and needs replicas everywhere).
    cluster.node(victim).start()
    h.wait_until(lambda: cluster.ok() and victim in cluster.layout()
                 and cluster.layout()[victim][1] == "replica", 30, interval=0.1,
                 desc="the old master back as a replica")


def test_a_master_loading_its_dataset_is_waited_for(cluster, instances):
    """A master that answers LOADING (here DEBUG RELOAD; in life a restart
    with a large dataset) is retried with back-off, and batches that ran
    out of time are kept and sent again: exact totals, pushes go on."""
    victim = cluster.masters()[1][0]
    stream = cluster.streams_on(victim, 1, prefix="ld")[0]
    retries = sum(h.metric(srv, "livetally_cluster_retries_total") for srv in instances)
    refused, accepted, unanswered, tot = _under_load(
        cluster, instances, stream, "ld",
        lambda: h.reload_slowly(cluster.node(victim), "{%s}ballast" % stream)[0])
    assert refused > 0, "the master never answered LOADING: the test tested nothing"
    assert sum(h.metric(srv, "livetally_cluster_retries_total") for srv in instances) > retries
    print("master %d loading: %d LOADING answers to a probe; accepted %r unanswered %r totals "
          "views %d likes %d" % (victim, refused, accepted, unanswered, tot["views"], tot["likes"]))


def test_failover_under_load_is_exact_and_pushes_follow(cluster, instances):
    victim = cluster.masters()[1][0]
    stream = cluster.streams_on(victim, 1, prefix="fo")[0]
    promoted, accepted, unanswered, tot = _under_load(
        cluster, instances, stream, "fo", lambda: cluster.kill_master(victim))
    assert cluster.owner(ltcluster.stream_slot(stream)) == promoted != victim
    print("failover %d -> %d in %.1f s: accepted %r unanswered %r totals views %d likes %d"
          % (victim, promoted, cluster.failover_seconds, accepted, unanswered,
             tot["views"], tot["likes"]))


def test_a_cluster_down_then_back_counts_everything_once(cluster, instances):
    """Last (it needs a master without a replica, which the failover above
    left): that master dies, so no replica can take its slots and the whole
    cluster answers CLUSTERDOWN. Events are still accepted (the spool keeps
    them), the workers retry with back-off, and once the master is back from
    its AOF every event counts once."""
    lonely = next(p for p, i, _ in cluster.masters()
                  if not any(v[2] == i for v in cluster.layout().values()))
    streams = [cluster.streams_on(p, 1, prefix="down%d" % p)[0] for p, _, _ in cluster.masters()]
    for s in streams:
        assert instances[0].post_events(s, {"type": "like", "n": 1}).status == 202
        instances[0].wait_totals(s, {"likes": 1}, timeout=10)
    retries = sum(h.metric(srv, "livetally_cluster_retries_total") for srv in instances)
    node = cluster.node(lonely)
    node.kill()
    h.wait_until(lambda: b"cluster_state:fail" in cluster.live_nodes()[0].cmd("CLUSTER", "INFO"),
                 15, interval=0.1, desc="the cluster down")
    want = {s: 1 for s in streams}
    answers = {202: 0, 503: 0}
    for srv in instances:
        for s in streams:
            r = srv.post_events(s, {"type": "like", "n": 2})
            # 202: in the spool, counted when Redis is back; 503 not_ready
            # (a worker that lost its cached status cannot check the stream
            # now): counted nowhere, the client sends it again later.
            assert r.status in (202, 503), r
            if r.status == 503:
                h.assert_error(r, 503, "not_ready")
            else:
                want[s] += 2
            answers[r.status] += 1
    h.wait_until(lambda: sum(h.metric(srv, "livetally_cluster_retries_total")
                             for srv in instances) > retries, 10,
                 desc="CLUSTERDOWN met and retried")
    node.start()
    cluster.wait_ok(30)
    for s in streams:
        instances[1].wait_totals(s, {"likes": want[s]}, timeout=20, settle=0.5)
        assert cluster.hget(s, "likes") == want[s]
    print("cluster down: %d posts accepted, %d answered 503 not_ready" % (answers[202], answers[503]))
