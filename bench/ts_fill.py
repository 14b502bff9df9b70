#!/usr/bin/env python3
"""Fills a stream with the last N hours of time buckets straight through
src/store/lua/apply.lua (as store.c calls it): one batch every 10 s with a
few views, likes, a share and an online report, so every 10 s, 1 min and
1 h bucket of the range exists. Used by bench/timeseries_bench.sh.

    bench/ts_fill.py PORT STREAM [HOURS]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ts_memory import APPLY, Redis  # noqa: E402


def main():
    port, stream = int(sys.argv[1]), sys.argv[2]
    hours = int(sys.argv[3]) if len(sys.argv) > 3 else 24
    r = Redis(port)
    with open(APPLY, "rb") as f:
        sha = r.cmd("SCRIPT", "LOAD", f.read()).decode()
    keys = ["lt:{%s}:%s" % (stream, k) for k in ("meta", "totals", "uniques", "lastview",
                                                 "online")]
    now = int(time.time())
    start = now - hours * 3600
    n = hours * 360
    viewer = 0
    for i in range(n):
        at_ms = (start + i * 10) * 1000 + 500
        args = ["fill", i + 1, at_ms, 1800000, stream, "w.0", 1000 + i % 50, 10000,
                172800, 7776000, 94608000, 0, 0, 1, "direct", 1 + i % 9, 1, "shares", 1]
        for _ in range(3):
            viewer += 1
            args += ["viewer-%08d" % viewer, 1]
        r.send("EVALSHA", sha, 5, *keys, *args)
        if i % 200 == 199:
            for _ in range(200):
                r.reply()
    for _ in range(n % 200):
        r.reply()
    # Index the stream as a worker would.
    r.cmd("ZADD", "lt:streams", "NX", start * 1000, stream)
    print("filled %s: %d batches over %d h" % (stream, n, hours))


if __name__ == "__main__":
    main()
