#!/usr/bin/env bash
# The costs of issue 8 (point 6) measured in one run, one after the other on
# one build, so that they describe the same machine at the same time:
#   1. HTTP ingest against nginx `return 204` and the Redis commands per
#      1,000 accepted events at that load (bench/http_bench.sh);
#   2. Redis memory per stream-hour of time buckets (bench/ts_memory.py);
#   3. a 24-hour 1-minute time series under wrk -c50 (bench/timeseries_bench.sh).
# Usage: [LT_BINARY=path/livetally] bench/costs.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
out=$(mktemp -d /tmp/lt-costs.XXXXXX)
trap 'rm -rf "$out"' EXIT

bench/http_bench.sh "$secs" > "$out/http.txt" 2>&1
/usr/bin/python3 bench/ts_memory.py > "$out/memory.txt" 2>&1
bench/timeseries_bench.sh "$secs" > "$out/ts.txt" 2>&1

echo "== costs ($(date -u +%FT%TZ), $(git rev-parse --short HEAD))"
sed -n '/== summary/,$p' "$out/http.txt" | sed 1d
cat "$out/memory.txt"
grep '^timeseries 24h@1m' "$out/ts.txt"
