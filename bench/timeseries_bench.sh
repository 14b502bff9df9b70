#!/usr/bin/env bash
# Time-series read benchmark (issue 8, point 6): a stream filled with 24 h of
# buckets (bench/ts_fill.py, straight through apply.lua), then wrk -t2 -c50
# asks GET /v1/streams/{id}/timeseries for those 24 hours at step 1m (1,440
# points of every metric, uniques included) against livetally (workers=2).
# Prints wrk's latency distribution, p99 and requests per second.
#
# Usage: [LT_BINARY=path/livetally] bench/timeseries_bench.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
source bench/lib.sh

start_redis
/usr/bin/python3 bench/ts_fill.py "$rport" tsbench 24

cat > "$work/lt.json" <<CONF
{"listen": "127.0.0.1:0", "workers": 2, "redis": {"port": $rport}, "log_level": "warn",
 "counters": ["shares"]}
CONF
start_livetally
now=$(date +%s)
url="http://127.0.0.1:$lport/v1/streams/tsbench/timeseries?from=$((now - 86400))&to=$now&step=1m"
points=$(curl -s "$url" | /usr/bin/python3 -c 'import json,sys; b=json.load(sys.stdin); print(len(b["points"]), sum(p[1] for p in b["points"]))')
echo "== one answer: points, views summed: $points"
echo "== wrk -t2 -c50 -d${secs}s --latency (24 h at 1 m)"
wrk -t2 -c50 -d"${secs}s" --latency "$url" | tee "$work/wrk.txt"
p99=$(awk '$1=="99%" {print $2}' "$work/wrk.txt")
rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
echo "timeseries 24h@1m: p99 $p99, $rps req/s"
