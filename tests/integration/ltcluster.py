"""A throwaway Redis Cluster for the tests: redis-server nodes started in a
temporary directory and joined with `redis-cli --cluster create`, the way an
operator makes one (config/redis-cluster/README.md), with what the tests do
to it: ask who owns a slot, move a slot with `redis-cli --cluster reshard`,
kill a master and wait for its replica to take over.

Ports: a node also binds port + 10000 (the cluster bus); ports are picked
below 22000 so that the bus port stays below the ephemeral range (32768+),
where an outgoing connection of another process could take it.
Every process started here is stopped by its PID (stop()).
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import time

import ltharness as h


def binaries():
    """(redis-server, redis-cli), or a skip (a failure under LT_NO_SKIP).
    pytest is imported here only: bench/run_all.py uses this file too."""
    import pytest

    server = os.environ.get("LT_REDIS_SERVER") or shutil.which("redis-server")
    if not server or not os.access(server, os.X_OK):
        pytest.skip("no redis-server: set LT_REDIS_SERVER")
    cli = os.path.join(os.path.dirname(server), "redis-cli")
    if not os.access(cli, os.X_OK):
        cli = shutil.which("redis-cli")
    if not cli:
        pytest.skip("no redis-cli (Debian's redis-tools)")
    return server, cli


def port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_ports(n, low=12000, high=22000):
    """n ports in [low, high) that are free with their bus port (+10000)."""
    rng = random.Random()
    out = []
    for _ in range(5000):
        p = rng.randrange(low, high)
        if p not in out and port_free(p) and port_free(p + 10000):
            out.append(p)
            if len(out) == n:
                return out
    raise AssertionError("found only %d usable port pairs below %d" % (len(out), high))


def crc16(data):
    """CRC16/XMODEM, Redis Cluster's key hash."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    """The slot of key (str or bytes), hash tags included: CLUSTER KEYSLOT."""
    if isinstance(key, str):
        key = key.encode()
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return crc16(key) % 16384


def stream_slot(stream):
    return key_slot("lt:{%s}:totals" % stream)


class Node:
    """One redis-server in cluster mode, in workdir/node-<port>. conf: a
    function (node dir, log path) -> the text of a redis.conf to start it
    with (test_deploy_redis_cluster.py: the shipped sample); else it is
    started with command-line settings."""

    def __init__(self, server, workdir, port, node_timeout_ms=1000, password=None, conf=None):
        self.port = port
        self.password = password
        self.dir = os.path.join(str(workdir), "node-%d" % port)
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(self.dir, "redis.log")
        h.keep_log(self.log)
        if conf:
            path = os.path.join(self.dir, "node.conf")
            with open(path, "w") as f:
                f.write(conf(self.dir, self.log))
            args = [server, path]
        else:
            args = [server, "--port", str(port), "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", str(node_timeout_ms),
                    "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                    "--enable-debug-command", "local",
                    "--dir", self.dir, "--logfile", self.log]
            if password:
                args += ["--requirepass", password, "--masterauth", password]
        self.args = args
        self.start()

    def start(self):
        """Starts (or starts again: a killed node rejoins with its
        nodes.conf, as a replica of whoever took its slots)."""
        out = os.path.join(self.dir, "redis.stdout")
        h.keep_log(out)
        with open(out, "ab") as f:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=subprocess.STDOUT, cwd=self.dir,
                                         start_new_session=True)

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def alive(self):
        return self.proc.poll() is None

    def client(self, timeout=5.0):
        r = h.Resp("127.0.0.1", self.port, timeout=timeout)
        if self.password:
            r.cmd("AUTH", self.password)
        return r

    def cmd(self, *args):
        with self.client() as r:
            return r.cmd(*args)

    def answers(self):
        if not self.alive():
            raise AssertionError("redis-server on %d exited with %s:\n%s"
                                 % (self.port, self.proc.returncode, h.tail(self.log)))
        try:  # this node, not another process that took the port first
            with self.client() as r:
                return r.cmd("PING") == "PONG" and \
                    r.info("server").get("process_id") == str(self.proc.pid)
        except (OSError, h.RespError):
            return False

    def kill(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class RedisCluster:
    """masters * (1 + replicas) nodes joined into one cluster."""

    def __init__(self, workdir, masters=3, replicas=1, node_timeout_ms=1000, password=None):
        self.server, self.cli = binaries()
        self.workdir = str(workdir)
        self.password = password
        self.n = masters * (1 + replicas)
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.nodes = []

    # -- life
    def start(self, timeout=30.0):
        for port in cluster_ports(self.n):
            self.nodes.append(Node(self.server, self.workdir, port, self.node_timeout_ms,
                                   self.password))
        for n in self.nodes:
            h.wait_until(n.answers, 10, desc="redis-server on %d" % n.port)
        out = self.redis_cli(["--cluster", "create"] + [n.addr for n in self.nodes]
                             + ["--cluster-replicas", str(self.replicas), "--cluster-yes"],
                             timeout=60)
        self.wait_ok(timeout, "the cluster after --cluster create:\n" + out[-2000:])
        return self

    def stop(self):
        for n in self.nodes:
            n.stop()

    def redis_cli(self, args, timeout=60):
        env = dict(os.environ)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        p = subprocess.run([self.cli] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, timeout=timeout)
        out = p.stdout.decode("utf-8", "replace")
        log = os.path.join(self.workdir, "redis-cli.out")
        with open(log, "a") as f:
            f.write("$ redis-cli %s\n%s\n" % (" ".join(args), out))
        h.keep_log(log)
        assert p.returncode == 0, "redis-cli %s:\n%s" % (" ".join(args), out[-3000:])
        return out

    # -- what the nodes say
    def live_nodes(self):
        return [n for n in self.nodes if n.alive()]

    def layout(self, node=None):
        """{port: (id, role, master id or None, [slot ranges])} as a live
        node sees it (CLUSTER NODES); failed nodes are left out."""
        node = node or self.live_nodes()[0]
        out = {}
        for line in node.cmd("CLUSTER", "NODES").decode().splitlines():
            f = line.split()
            flags = f[2].split(",")
            if "fail" in flags or "fail?" in flags or "noaddr" in flags:
                continue
            port = int(f[1].split("@")[0].rsplit(":", 1)[1])
            role = "master" if "master" in flags else "replica"
            ranges = []
            for r in f[8:]:
                if r.startswith("["):
                    continue  # a slot being migrated or imported
                a, _, b = r.partition("-")
                ranges.append((int(a), int(b or a)))
            out[port] = (f[0], role, None if f[3] == "-" else f[3], ranges)
        return out

    def replica_of(self, port):
        """The port of a replica of the master on port."""
        lay = self.layout()
        mid = lay[port][0]
        return next(p for p, v in lay.items() if v[1] == "replica" and v[2] == mid)

    def wait_synced(self, replica_port, timeout=20.0):
        """Until the replica on replica_port has its master link up (a replica
        that never synced cannot be promoted: Redis finds its data too old)."""
        def up():
            info = self.node(replica_port).cmd("INFO", "replication")
            return b"master_link_status:up" in info
        h.wait_until(up, timeout, interval=0.05, desc="replica %d in sync" % replica_port)

    def masters(self):
        """[(port, id, ranges)] of the masters that serve slots."""
        return sorted((p, v[0], v[3]) for p, v in self.layout().items()
                      if v[1] == "master" and v[3])

    def node(self, port):
        return next(n for n in self.nodes if n.port == port)

    def owner(self, slot):
        """The port of the master that serves slot."""
        for port, _, ranges in self.masters():
            if any(a <= slot <= b for a, b in ranges):
                return port
        raise AssertionError("no master serves slot %d" % slot)

    def ok(self):
        for n in self.live_nodes():
            try:
                if b"cluster_state:ok" not in n.cmd("CLUSTER", "INFO"):
                    return False
            except (OSError, h.RespError):
                return False
        lay = [self.layout(n) for n in self.live_nodes()]
        # every live node sees the same masters serving all 16384 slots
        views = {tuple(sorted((p, tuple(v[3])) for p, v in x.items() if v[1] == "master"
                              and v[3])) for x in lay}
        if len(views) != 1:
            return False
        covered = sum(b - a + 1 for _, ranges in next(iter(views)) for a, b in ranges)
        return covered == 16384

    def wait_ok(self, timeout=30.0, desc="cluster_state:ok on every node"):
        h.wait_until(self.ok, timeout, interval=0.1, desc=desc)

    # -- what the tests do
    def streams_on(self, port, n, prefix="s", lowest=False):
        """n stream ids whose slot the master on port serves; lowest: the
        first is the one on its lowest slot (what `--cluster reshard
        --cluster-slots 1` moves first)."""
        ranges = dict((p, r) for p, _, r in self.masters())[port]
        out = []
        if lowest:
            target = min(a for a, _ in ranges)
            i = 0
            while stream_slot("%s%d" % (prefix, i)) != target:
                i += 1
            out.append("%s%d" % (prefix, i))
        i = 0
        while len(out) < n:
            s = "%s-%d" % (prefix, i)
            if any(a <= stream_slot(s) <= b for a, b in ranges):
                out.append(s)
            i += 1
        return out

    def reshard_lowest_slot(self, from_port, to_port):
        """Moves the lowest slot of the master on from_port to the one on
        to_port with `redis-cli --cluster reshard --cluster-slots 1`, and
        returns it once every node agrees."""
        ids = {p: i for p, i, _ in self.masters()}
        slot = min(a for a, _ in dict((p, r) for p, _, r in self.masters())[from_port])
        self.redis_cli(["--cluster", "reshard", self.node(from_port).addr,
                        "--cluster-from", ids[from_port], "--cluster-to", ids[to_port],
                        "--cluster-slots", "1", "--cluster-yes"], timeout=60)
        h.wait_until(lambda: self.ok() and self.owner(slot) == to_port, 20, interval=0.1,
                     desc="slot %d served by %d on every node" % (slot, to_port))
        return slot

    def begin_migration(self, slot, from_port, to_port):
        """Moves slot's keys by hand as far as `--cluster reshard` does before
        it hands the slot over: IMPORTING on the target, MIGRATING on the
        source, every key MIGRATEd. The slot then belongs to neither fully:
        the source answers ASK (or TRYAGAIN for keys split between them)."""
        ids = {p: i for p, i, _ in self.masters()}
        src, dst = self.node(from_port), self.node(to_port)
        dst.cmd("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[from_port])
        src.cmd("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[to_port])
        keys = src.cmd("CLUSTER", "GETKEYSINSLOT", slot, 1000)
        if keys:
            auth = ["AUTH", self.password] if self.password else []
            src.cmd("MIGRATE", "127.0.0.1", to_port, "", 0, 5000, *auth, "KEYS", *keys)
        return len(keys or [])

    def finish_migration(self, slot, to_port):
        """Hands slot to the master on to_port, told to every master (the
        target first, as redis-cli does)."""
        target = self.masters()
        to_id = dict((p, i) for p, i, _ in target)[to_port]
        for port in [to_port] + [p for p, _, _ in target if p != to_port]:
            self.node(port).cmd("CLUSTER", "SETSLOT", slot, "NODE", to_id)
        h.wait_until(lambda: self.owner(slot) == to_port, 10, interval=0.05,
                     desc="slot %d on %d" % (slot, to_port))

    def kill_master(self, port, timeout=30.0):
        """kill -9 the master on port; returns the port of the replica that
        took over, once the cluster is ok again without it."""
        slots = dict((p, r) for p, _, r in self.masters())[port]
        self.wait_synced(self.replica_of(port))
        self.node(port).kill()
        t0 = time.monotonic()
        h.wait_until(lambda: self.ok() and self.owner(slots[0][0]) != port, timeout,
                     interval=0.1, desc="a replica promoted for the slots of %d" % port)
        self.failover_seconds = time.monotonic() - t0
        return self.owner(slots[0][0])

    def hget(self, stream, field):
        """A field of the stream's totals hash, read at its master."""
        v = self.node(self.owner(stream_slot(stream))).cmd(
            "HGET", "lt:{%s}:totals" % stream, field)
        return int(v) if v is not None else 0
