#!/usr/bin/env python3
"""Redis memory of one stream-hour of time buckets (issue 8, point 1).

Starts a throwaway redis-server (no persistence), then runs
src/store/lua/apply.lua exactly as store.c calls it for one stream over one
hour of batch times at a steady rate (default: 20 batches/s, i.e. one per
flush_interval_ms = 50 ms, 2 new views/s, 50 likes/s spread over the
batches, 1 share/s, an online report of ~5,000 in every batch), and prints
MEMORY USAGE summed per key kind and used_memory before and after.
The batch times are the hour two hours ago, inside every default retention.

    bench/ts_memory.py                       # the defaults above
    bench/ts_memory.py --views 20 --likes 500  # a busier stream
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
APPLY = os.path.join(HERE, "..", "src", "store", "lua", "apply.lua")


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(1 << 16)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(1 << 16)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)

    def cmd(self, *args):
        self.send(*args)
        return self.reply()


def info_used_memory(r):
    for line in r.cmd("INFO", "memory").decode().split("\r\n"):
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=float, default=20, help="batches per second")
    ap.add_argument("--views", type=float, default=2, help="new viewers per second")
    ap.add_argument("--likes", type=float, default=50, help="likes per second")
    ap.add_argument("--online", type=int, default=5000)
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    a = ap.parse_args()
    with open(APPLY, "rb") as f:
        script = f.read()
    port = 20000 + os.getpid() % 20000
    tmp = tempfile.mkdtemp(prefix="ltmem-")
    proc = subprocess.Popen([a.redis_server, "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", tmp],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                r = Redis(port)
                r.cmd("PING")
                break
            except OSError:
                time.sleep(0.05)
        sha = r.cmd("SCRIPT", "LOAD", script).decode()
        stream = "mem-1"
        keys = ["lt:{%s}:%s" % (stream, k) for k in ("meta", "totals", "uniques", "lastview",
                                                     "online")]
        # Create the stream first, so that "before" holds its fixed keys.
        r.cmd("EVALSHA", sha, 5, *keys, "inc", 1, 0, 1800000, stream, "", 0, 10000,
              172800, 7776000, 94608000, 0, 0, 1, "direct", 1, 0)
        before = info_used_memory(r)
        start = (int(time.time()) // 3600 - 2) * 3600
        n = int(3600 * a.batches)
        views_acc = likes_acc = shares_acc = 0.0
        viewer = 0
        pending = 0
        for i in range(n):
            at_ms = start * 1000 + int(i * 1000 / a.batches)
            views_acc += a.views / a.batches
            likes_acc += a.likes / a.batches
            shares_acc += 1 / a.batches
            nv, nl, ns = int(views_acc), int(likes_acc), int(shares_acc)
            views_acc -= nv
            likes_acc -= nl
            shares_acc -= ns
            args = ["inc", i + 2, at_ms, 1800000, stream, "w.0", a.online + i % 7, 10000,
                    172800, 7776000, 94608000, 0, 0, 2, "direct", nl, "bili", 0]
            args += [1, "shares", ns] if ns else [0]
            for _ in range(nv):
                viewer += 1
                args += ["viewer-%08d" % viewer, 1 + viewer % 2]
            r.send("EVALSHA", sha, 5, *keys, *args)
            pending += 1
            if pending == 200:
                for _ in range(pending):
                    r.reply()
                pending = 0
        for _ in range(pending):
            r.reply()
        after = info_used_memory(r)
        kinds = {}
        cursor = b"0"
        while True:
            cursor, found = r.cmd("SCAN", cursor, "MATCH", "lt:{%s}:ts:*" % stream, "COUNT", 1000)
            for k in found:
                parts = k.decode().split(":")
                kind = "ts:%s%s" % (parts[3], " HLL" if k.endswith(b":u") else " hash")
                use = r.cmd("MEMORY", "USAGE", k, "SAMPLES", 0)
                c, b = kinds.get(kind, (0, 0))
                kinds[kind] = (c + 1, b + use)
            if cursor == b"0":
                break
        print("one stream-hour: %d batches, %d views, ~%d likes/s, online ~%d"
              % (n, viewer, a.likes, a.online))
        total = 0
        for kind in sorted(kinds, key=lambda k: (int(k.split(":")[1].split()[0]), k)):
            c, b = kinds[kind]
            total += b
            print("  %-14s %5d keys %10d bytes (MEMORY USAGE)" % (kind, c, b))
        print("  all bucket keys      %10d bytes" % total)
        print("used_memory before %d, after %d: +%d bytes" % (before, after, after - before))
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
