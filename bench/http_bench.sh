#!/usr/bin/env bash
# HTTP ingest benchmark: wrk POSTs one like per request (no viewer, keep-alive,
# -t2 -c64) against livetally (workers=2) and, in the same run, against nginx
# answering `return 204` with 2 worker processes. Prints requests per second
# of both, their ratio, and the Redis commands processed per 1,000 accepted
# events (INFO stats total_commands_processed counts calls inside scripts).
#
# Usage: [LT_BINARY=path/livetally] [LT_BENCH_SEGMENT=1] [LT_BENCH_FSYNC=always|everysec|no]
#        bench/http_bench.sh [seconds]
# LT_BENCH_SEGMENT=1: a segment runs on the stream while it is measured
# (each batch is then counted in it too: the cost of segments).
# (needs scripts/deps.sh bench; without LT_BINARY a release build in build/
# is made if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
source bench/lib.sh

rps_of() { awk '/Requests\/sec/ {print $2}' "$1"; }

start_redis

# nginx answering 204, two worker processes like livetally's two workers.
nport=$(free_port)
mkdir -p "$work/nginx/logs"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 2;
error_log $work/nginx/logs/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$nport reuseport;
    location / { return 204; }
  }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
sleep 0.5

echo "== nginx return 204 (${secs}s)"
wrk -t2 -c64 -d"${secs}s" -s bench/post_like.lua "http://127.0.0.1:$nport/v1/streams/bench/events" | tee "$work/nginx.txt"

# Every request comes from one address without a viewer, so it spends the
# budgets of one derived viewer and one client address: they are set as
# high as the config allows, so the checks run and refuse nothing (binaries
# from before the per-client budget existed do not know its keys).
budgets='"likes": {"rate_per_second": 1000000, "burst": 10000000'
# --help to a file first: `--help | grep -q` under pipefail fails at random
# when grep exits before the help is all written (SIGPIPE).
"$bin" --help > "$work/help.txt"
if grep -q per_client_burst "$work/help.txt"; then
  budgets="$budgets"', "per_client_rate_per_second": 1000000, "per_client_burst": 10000000'
fi
# The spool (binaries that have one) in the run's own directory, with
# spool.fsync from LT_BENCH_FSYNC (default: the default, everysec).
spool=''
if grep -q spool.fsync "$work/help.txt"; then
  spool=', "spool": {"dir": "'"$work/spool"'", "fsync": "'"${LT_BENCH_FSYNC:-everysec}"'"}'
fi
cat > "$work/lt.json" <<CONF
{"listen": "127.0.0.1:0", "workers": 2, "redis": {"port": $rport}, "log_level": "warn",
 $budgets}$spool}
CONF
[ -n "${LT_BENCH_SEGMENT:-}" ] && export LIVETALLY_OPERATOR_TOKENS=bench-token
start_livetally
# Warm up (creates the stream), then measure.
wrk -t2 -c64 -d2s -s bench/post_like.lua "http://127.0.0.1:$lport/v1/streams/bench/events" >/dev/null
if [ -n "${LT_BENCH_SEGMENT:-}" ]; then
  curl -sf -X POST -H 'Authorization: Bearer bench-token' -H 'Content-Type: application/json' \
    -d '{"title":"bench"}' "http://127.0.0.1:$lport/v1/streams/bench/segments" >/dev/null
fi
sleep 0.5
metric() { curl -s "http://127.0.0.1:$lport/metrics" | awk -v m="livetally_$1" '$1==m {print $2}'; }
cmds_before=$(redis-cli -p "$rport" info stats | awk -F: '/^total_commands_processed/ {print $2+0}')
# Batches: the batch script's calls (EVALSHA; EVAL after a script flush).
evals() { redis-cli -p "$rport" info commandstats | awk -F'[=,:]' '/^cmdstat_eval(sha)?:/ {n += $3} END {print n+0}'; }
evals_before=$(evals)
acc_before=$(metric events_accepted_total)
echo "== livetally workers=2 (${secs}s)"
wrk -t2 -c64 -d"${secs}s" --latency -s bench/post_like.lua "http://127.0.0.1:$lport/v1/streams/bench/events" | tee "$work/lt.txt"
sleep 0.5
cmds_after=$(redis-cli -p "$rport" info stats | awk -F: '/^total_commands_processed/ {print $2+0}')
evals_after=$(evals)
acc_after=$(metric events_accepted_total)
likes=$(curl -s "http://127.0.0.1:$lport/v1/streams/bench" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["likes"])')
accepted_total=$(metric events_accepted_total)

n_rps=$(rps_of "$work/nginx.txt"); l_rps=$(rps_of "$work/lt.txt")
accepted=$((acc_after - acc_before)); cmds=$((cmds_after - cmds_before))
# The metrics and INFO requests themselves are a handful of commands/events.
echo
echo "== summary"
printf 'nginx 204:           %10.0f req/s\n' "$n_rps"
printf 'livetally:           %10.0f req/s  (%.1f%% of nginx)\n' "$l_rps" "$(echo "$l_rps * 100 / $n_rps" | bc -l)"
printf 'accepted events:     %10d  (answers other than 2xx: %d)\n' "$accepted" \
  "$(awk '/Non-2xx/ {print $NF}' "$work/lt.txt" | grep . || echo 0)"
printf 'redis commands:      %10d  (%.2f per 1,000 accepted events)\n' "$cmds" "$(echo "$cmds * 1000 / $accepted" | bc -l)"
batches=$((evals_after - evals_before))
printf 'batches:             %10d  (%.2f redis commands per batch, %.0f events per batch)\n' \
  "$batches" "$(echo "$cmds / $batches" | bc -l)" "$(echo "$accepted / $batches" | bc -l)"
printf 'likes in totals:     %10d  (events accepted since start: %d)\n' "$likes" "$accepted_total"
printf 'livetally p99:       %10s  (wrk --latency)\n' "$(awk '$1=="99%" {print $2}' "$work/lt.txt")"
if [ -n "$spool" ]; then
  sb=$(metric spool_bytes_written_total); sr=$(metric spool_records_written_total)
  printf 'spool:               %10d bytes written, %d records, %.1f bytes per accepted event (%s)\n' \
    "$sb" "$sr" "$(echo "$sb / $accepted_total" | bc -l)" "${LT_BENCH_FSYNC:-everysec}"
fi
# Anything livetally logged at error level (a worker that died, a spool that
# filled up) makes the figures above suspect: shown here.
grep -E " error " "$work/lt.err" | head -5 || true
