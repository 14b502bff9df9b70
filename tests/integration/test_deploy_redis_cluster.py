"""Deployment: the Redis Cluster sample, config/redis-cluster/node-700N.conf.

The six shipped files are started as they are, with only what names this
machine substituted (the port, on free ports below 55535 whose bus port is
free too; the data dir; the password file; the log file), each substitution
checked; `redis-cli --cluster create ... --cluster-replicas 1` (as
config/redis-cluster/README.md says) makes three masters and three
replicas; the cluster then answers `cluster_state:ok`, runs with the
settings the sample promises (AOF, noeviction, ...), and a write to a
stream's slot reaches that master's replica (WAIT), which is what
livetally's cluster support will rely on.

This checks the sample only; livetally on a cluster is test_cluster.py.
"""

import os
import re
import subprocess

import pytest

import ltharness as h
from ltcluster import Node, binaries, cluster_ports

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("LT_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
SAMPLE_DIR = os.path.join(SOURCE_DIR, "config", "redis-cluster")
SHIPPED_PORTS = list(range(7001, 7007))
PASSWORD = "deploy-cluster-password-1"


def render(text, shipped_port, port, workdir, auth_file, log):
    def sub(pattern, repl):
        nonlocal text
        text, n = re.subn(pattern, repl, text, flags=re.M)
        assert n == 1, "expected one line matching %r in node-%d.conf" % (pattern, shipped_port)

    sub(r"^port %d$" % shipped_port, "port %d" % port)
    sub(r"^cluster-config-file nodes-%d\.conf$" % shipped_port,
        "cluster-config-file nodes-%d.conf" % port)
    sub(r"^dir /var/lib/redis-cluster/%d$" % shipped_port, "dir %s" % workdir)
    sub(r"^include /etc/redis/cluster-auth\.conf$", "include %s" % auth_file)
    sub(r'^logfile ""$', 'logfile "%s"' % log)
    return text


@pytest.fixture
def nodes(tmp_path):
    server, cli = binaries()
    h.record_secret(PASSWORD, "the Redis Cluster sample's requirepass")
    auth = tmp_path / "cluster-auth.conf"
    auth.write_text("requirepass %s\nmasterauth %s\n" % (PASSWORD, PASSWORD))
    ports = cluster_ports(6)
    started = []
    try:
        for shipped, port in zip(SHIPPED_PORTS, ports):
            with open(os.path.join(SAMPLE_DIR, "node-%d.conf" % shipped)) as f:
                text = f.read()
            conf = (lambda text, shipped, port:
                    lambda d, log: render(text, shipped, port, d, auth, log))(text, shipped, port)
            started.append(Node(server, tmp_path, port, password=PASSWORD, conf=conf))
        for n in started:
            h.wait_until(n.answers, 10, desc="redis-server on %d" % n.port)
        yield cli, started
    finally:
        for n in started:
            n.stop()


def test_sample_files_differ_only_in_their_port():
    texts = []
    for i, port in enumerate(SHIPPED_PORTS):
        with open(os.path.join(SAMPLE_DIR, "node-%d.conf" % port)) as f:
            text = f.read()
        for pattern, repl in ((r"^port %d$" % port, "port <port>"),
                              (r"nodes-%d\.conf$" % port, "nodes-<port>.conf"),
                              (r"/redis-cluster/%d$" % port, "/redis-cluster/<port>"),
                              (r"node %d of 6" % (i + 1), "node <n> of 6")):
            text, n = re.subn(pattern, repl, text, flags=re.M)
            assert n == 1, (port, pattern)
        texts.append(text)
    assert all(t == texts[0] for t in texts), "the node files differ beyond their port"
    for required in (r"^cluster-enabled yes$", r"^appendonly yes$",
                     r"^maxmemory-policy noeviction$"):
        assert re.search(required, texts[0], re.M), required


def test_sample_makes_a_cluster_with_replicas(nodes):
    cli, started = nodes
    p = subprocess.run([cli, "--cluster", "create"]
                       + ["127.0.0.1:%d" % n.port for n in started]
                       + ["--cluster-replicas", "1", "--cluster-yes"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=dict(os.environ, REDISCLI_AUTH=PASSWORD), timeout=60)
    out = p.stdout.decode("utf-8", "replace")
    log = os.path.join(started[0].dir, "cluster-create.out")
    with open(log, "w") as f:
        f.write(out)
    h.keep_log(log)
    assert p.returncode == 0, "redis-cli --cluster create:\n%s" % out[-3000:]

    def layout(n):
        """(masters with slots, {replica: its master}) as node n sees them."""
        rows = [line.split() for line in n.cmd("CLUSTER", "NODES").decode().splitlines()]
        masters = {r[0] for r in rows if "master" in r[2].split(",") and len(r) > 8}
        replicas = {r[0]: r[3] for r in rows if "slave" in r[2].split(",")}
        return masters, replicas

    def ok():
        # every node agrees: the state is ok, three masters serve slots and
        # each has one replica (the roles spread over the gossip a moment
        # after the create)
        for n in started:
            if b"cluster_state:ok" not in n.cmd("CLUSTER", "INFO"):
                return False
            masters, replicas = layout(n)
            if len(masters) != 3 or sorted(replicas.values()) != sorted(masters):
                return False
        return True
    try:
        h.wait_until(ok, 30, interval=0.2,
                     desc="cluster_state:ok and 3 masters with a replica each, on all six")
    except AssertionError as e:
        raise AssertionError("%s; the first node sees %r" % (e, layout(started[0])))

    for n in started:
        for key, want in (("appendonly", b"yes"), ("maxmemory-policy", b"noeviction"),
                          ("cluster-require-full-coverage", b"no"),
                          ("cluster-node-timeout", b"5000")):
            assert n.cmd("CONFIG", "GET", key)[1] == want, (n.port, key)

    # A stream's key lives in its {id} slot; written on the slot's master,
    # WAIT sees the write reach that master's replica.
    key = "lt:{deploy-stream}:totals"
    slot = started[0].cmd("CLUSTER", "KEYSLOT", key)
    by_port = {n.port: n for n in started}
    owner = next(by_port[int(s[2][1])] for s in started[0].cmd("CLUSTER", "SLOTS")
                 if s[0] <= slot <= s[1])
    # (the replica's first full sync may still run after the create)
    h.wait_until(lambda: "state=online" in owner.cmd("INFO", "replication").decode(), 20,
                 interval=0.1, desc="the replica of the slot's master online")
    with owner.client() as r:
        r.cmd("HINCRBY", key, "likes", 7)
        assert r.cmd("WAIT", 1, 2000) == 1, "no replica acknowledged the write"
    replica_of_owner = next(n for n in started
                            if n is not owner and n.cmd("ROLE")[0] == b"slave"
                            and n.cmd("ROLE")[2] == owner.port)
    with replica_of_owner.client() as r:
        r.cmd("READONLY")
        assert r.cmd("HGET", key, "likes") == b"7"
