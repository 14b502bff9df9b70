#!/usr/bin/env python3
"""Captures raw RESP replies of a real Redis Cluster, the seeds of
tests/fuzz/corpus/cluster_slots/ (which tests/unit/store/test_cluster_slots.c
also reads; the committed ones came from base port 21121).

Usage: capture_cluster_replies.py BASE_PORT OUT_DIR

Starts six redis-server --cluster-enabled yes on BASE_PORT..BASE_PORT+5
(BASE_PORT below 22700 keeps their bus ports, +10000, out of Linux's
ephemeral range), creates 3 masters with a replica each (redis-cli --cluster
create), and writes:
  shards_3m3r, slots_3m3r  CLUSTER SHARDS / SLOTS of the new cluster
  moved                    a GET sent to a master that does not own the key
  ask                      a GET for a slot being migrated (SETSLOT MIGRATING)
  shards_migrating         CLUSTER SHARDS during that migration
  shards_failover, slots_failover
                           after the first master is killed and its replica
                           has taken over
Every server is stopped by its PID at the end; every wait is bounded."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def read_reply(f):
    """One RESP2 reply from a socket file, as raw bytes."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise EOFError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind in (b"+", b"-", b":"):
        return line
    if kind == b"$":
        n = int(rest)
        return line + (f.read(n + 2) if n >= 0 else b"")
    if kind == b"*":
        n = int(rest)
        return line + b"".join(read_reply(f) for _ in range(max(n, 0)))
    raise ValueError("not RESP: %r" % line)


def raw(port, *args):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"*%d\r\n" % len(args) +
                  b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
        return read_reply(s.makefile("rb"))


def crc16(data):
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def wait_until(check, seconds, what):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(what)


def main():
    base, out = int(sys.argv[1]), sys.argv[2]
    ports = [base + i for i in range(6)]
    work = tempfile.mkdtemp(prefix="lt-cluster-capture-")
    procs = []
    try:
        for p in ports:
            d = os.path.join(work, str(p))
            os.mkdir(d)
            procs.append(subprocess.Popen(
                ["redis-server", "--port", str(p), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "3000", "--dir", d, "--save", "",
                 "--appendonly", "no"],
                stdout=open(os.path.join(d, "log"), "wb"), stderr=subprocess.STDOUT))
        for p in ports:
            wait_until(lambda p=p: raw(p, b"PING") == b"+PONG\r\n", 10, "port %d" % p)
        subprocess.run(["redis-cli", "--cluster", "create"] +
                       ["127.0.0.1:%d" % p for p in ports] +
                       ["--cluster-replicas", "1", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, timeout=60)
        wait_until(lambda: all(b"cluster_state:ok" in raw(p, b"CLUSTER", b"INFO")
                               for p in ports), 30, "cluster_state:ok")
        os.makedirs(out, exist_ok=True)
        # shards_3m3r is taken at once (the replicas may still be loading);
        # the rest waits for each master to have its replica in sync, or
        # the replica could not be promoted later.

        def save(name, data):
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)

        save("shards_3m3r", raw(ports[0], b"CLUSTER", b"SHARDS"))
        save("slots_3m3r", raw(ports[0], b"CLUSTER", b"SLOTS"))
        for p in ports[:3]:
            r = raw(p, b"GET", b"{stream-1}:totals")
            if r.startswith(b"-MOVED"):
                save("moved", r)
                break

        wait_until(lambda: all(b"slave0:" in raw(p, b"INFO", b"replication") and
                               b"state=online" in raw(p, b"INFO", b"replication")
                               for p in ports[:3]), 60, "replicas in sync")
        ids = {p: raw(p, b"CLUSTER", b"MYID").split(b"\r\n")[1] for p in ports[:3]}
        raw(ports[1], b"CLUSTER", b"SETSLOT", b"100", b"IMPORTING", ids[ports[0]])
        raw(ports[0], b"CLUSTER", b"SETSLOT", b"100", b"MIGRATING", ids[ports[1]])
        key = next(b"k%d" % i for i in range(10 ** 6) if crc16(b"k%d" % i) % 16384 == 100)
        assert raw(ports[0], b"CLUSTER", b"KEYSLOT", key) == b":100\r\n"
        save("ask", raw(ports[0], b"GET", key))
        save("shards_migrating", raw(ports[2], b"CLUSTER", b"SHARDS"))

        procs[0].kill()
        procs[0].wait(timeout=10)
        def promoted():
            # a healthy master other than the killed one now serves slot 0
            for line in raw(ports[1], b"CLUSTER", b"NODES").split(b"\n"):
                f = line.split()
                if len(f) > 8 and b"master" in f[2] and b"fail" not in f[2] and \
                        f[8].startswith(b"0-") and b":%d@" % ports[0] not in f[1]:
                    return True
            return False

        try:
            wait_until(promoted, 60, "failover")
        except TimeoutError:
            print(raw(ports[1], b"CLUSTER", b"NODES").decode(), file=sys.stderr)
            raise
        save("shards_failover", raw(ports[1], b"CLUSTER", b"SHARDS"))
        save("slots_failover", raw(ports[1], b"CLUSTER", b"SLOTS"))
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.terminate()
        for pr in procs:
            try:
                pr.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pr.kill()
                pr.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
