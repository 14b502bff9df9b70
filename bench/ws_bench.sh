#!/usr/bin/env bash
# WebSocket fan-out benchmark: lt-wsbench against livetally (workers=2) with
# a throwaway redis-server, in three scenarios, each on a fresh server:
#
#   fanout  20,000 subscribers of one stream, 20 likes posted 500 ms apart:
#           publish-to-receive percentiles, missed final values, server CPU
#           per pushed frame (target: p99 <= flush_interval_ms + 100 ms, no
#           missed final value)
#   held    30,000 subscribers held (about 15,000 per worker), 5 updates (target:
#           no missed final value)
#   idle    10,000 idle subscribers: server RSS per connection (target:
#           <= 4 KB)
#
# Usage: bench/ws_bench.sh [fanout] [held] [idle]   (all three when none named)
# Environment: LT_BINARY (a livetally binary; else a Release build is made in
# build-bench), WSBENCH (an lt-wsbench binary; else built in build-bench),
# FANOUT_CLIENTS, HELD_CLIENTS, IDLE_CLIENTS, UPDATES to scale the runs down.
#
# Loopback only. The open-file limit (20,000 per process) is left as it is:
# the generator splits its clients over processes and source addresses, and
# each server worker holds about 15,000 of them. Everything started here is
# stopped by its PID on exit, Ctrl-C included.
set -euo pipefail
cd "$(dirname "$0")/.."

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(fanout fanout-epoll held idle)
# How the generator waits for frames (lt-wsbench --poll-us): by default it
# looks every millisecond instead of sleeping in epoll. Asleep, it is woken
# and switched in over and over during a fan-out (about 4.8 us of its CPU per
# frame against 2.8 us polling), CPU taken from the same two cores the server
# needs; a frame read up to 1 ms later only makes the measured latency
# larger. fanout-epoll runs the same scenario with the generator asleep in
# epoll; both are reported, the target is checked on fanout.
POLL_US=${POLL_US:-1000}
for s in "${scenarios[@]}"; do
  case $s in fanout|fanout-epoll|held|idle) ;; *) echo "unknown scenario: $s (fanout, fanout-epoll, held, idle)" >&2; exit 2 ;; esac
done

FLUSH_MS=50   # flush_interval_ms and push_interval_ms, written into the config
PUSH_MS=250   # so that the targets below are computed from what ran

work=$(mktemp -d /tmp/lt-wsbench.XXXXXX)
redis_pid=""
lt_pid=""
gen_pid=""
stop_pid() { # PID: TERM, up to 10 s, then KILL
  local p=$1
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
gen_out=""
cleanup() {
  if [ -n "$gen_pid" ]; then # interrupted: show what the generator reported
    stop_pid "$gen_pid"
    [ -z "$gen_out" ] || cat "$gen_out"
  fi
  stop_pid "$lt_pid"
  stop_pid "$redis_pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM HUP
trap 'exit 141' PIPE # a closed stdout (e.g. | head) still cleans up

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Binaries.
if [ -z "${LT_BINARY:-}" ] || [ -z "${WSBENCH:-}" ]; then
  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
  targets=()
  [ -n "${LT_BINARY:-}" ] || targets+=(livetally)
  [ -n "${WSBENCH:-}" ] || targets+=(lt-wsbench)
  cmake --build build-bench -j"$(nproc)" --target "${targets[@]}" >/dev/null
fi
LT_BINARY=${LT_BINARY:-build-bench/livetally}
WSBENCH=${WSBENCH:-build-bench/bench/lt-wsbench}
[ -x "$LT_BINARY" ] || { echo "no livetally binary at $LT_BINARY" >&2; exit 1; }
[ -x "$WSBENCH" ] || { echo "no lt-wsbench binary at $WSBENCH" >&2; exit 1; }

# Redis: throwaway, no persistence (the pushes are what is measured here).
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" --save "" --appendonly no \
  --logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$rport" ping >/dev/null

# Starts a fresh livetally; sets lt_pid, lt_port and server_pids (the master
# and its workers, as lt-wsbench sums CPU and RSS over all of them).
start_livetally() {
  cat > "$work/lt.json" <<CONF
{"listen": "127.0.0.1:0", "workers": 2,
 "redis": {"host": "127.0.0.1", "port": $rport},
 "flush_interval_ms": $FLUSH_MS, "push_interval_ms": $PUSH_MS,
 "limits": {"max_connections": 20000, "max_connections_per_client": 0}, "log_level": "warn"}
CONF
  : > "$work/lt.out"
  "$LT_BINARY" --config "$work/lt.json" > "$work/lt.out" 2> "$work/lt.err" &
  lt_pid=$!
  for _ in $(seq 100); do grep -q "ready on" "$work/lt.out" 2>/dev/null && break; sleep 0.1; done
  if ! grep -q "ready on" "$work/lt.out"; then
    echo "livetally did not get ready:" >&2; tail -20 "$work/lt.err" >&2; exit 1
  fi
  lt_port=$(grep -o 'ready on http://[^ ]*' "$work/lt.out" | grep -o '[0-9]*$')
  local kids=""
  for _ in $(seq 50); do
    kids=$(cat /proc/"$lt_pid"/task/*/children 2>/dev/null | xargs)
    [ "$(echo "$kids" | wc -w)" -ge 2 ] && break
    sleep 0.1
  done
  server_pids=$(echo "$lt_pid $kids" | xargs | tr ' ' ',')
}

stop_livetally() {
  if ! kill -0 "$lt_pid" 2>/dev/null; then
    echo "  livetally had exited before the end of the run; its stderr:"; tail -20 "$work/lt.err" | sed 's/^/  /'
  fi
  stop_pid "$lt_pid"
  lt_pid=""
  if grep -qiE 'error|fatal' "$work/lt.err"; then
    echo "  (livetally stderr, last lines:)"; grep -iE 'error|fatal' "$work/lt.err" | tail -5 | sed 's/^/  /'
  fi
}

# Runs lt-wsbench on a fresh server; appends its JSON line to results.
run() { # NAME ARGS...
  local name=$1; shift
  start_livetally
  echo
  echo "== $name: livetally on port $lt_port, pids $server_pids"
  echo "\$ lt-wsbench --port $lt_port --server-pids $server_pids --label $name $*"
  "$WSBENCH" --host 127.0.0.1 --port "$lt_port" --server-pids "$server_pids" --stream "wsb-$name" \
    --label "$name" "$@" > "$work/$name.out" &
  gen_pid=$!
  gen_out=$work/$name.out
  local rc=0
  wait "$gen_pid" || rc=$?
  gen_pid=""
  cat "$work/$name.out"
  [ $rc -eq 0 ] || echo "  (lt-wsbench exited $rc)"
  tail -n1 "$work/$name.out" | grep '^{' >> "$work/results.jsonl" || true
  stop_livetally
  sleep 2 # let the closed connections' TIME_WAIT and the server's exit settle
}

updates=${UPDATES:-20}
for s in "${scenarios[@]}"; do
  case $s in
    fanout) run fanout --clients "${FANOUT_CLIENTS:-20000}" --procs 2 \
              --sources 127.0.0.2,127.0.0.3 --updates "$updates" --interval-ms 500 \
              --idle-seconds 3 --timeout 180 --poll-us "$POLL_US" ;;
    fanout-epoll) run fanout-epoll --clients "${FANOUT_CLIENTS:-20000}" --procs 2 \
              --sources 127.0.0.2,127.0.0.3 --updates "$updates" --interval-ms 500 \
              --idle-seconds 3 --timeout 180 --poll-us 0 ;;
    held) run held --clients "${HELD_CLIENTS:-30000}" --procs 2 \
              --sources 127.0.0.4,127.0.0.5 --updates 5 --interval-ms 500 \
              --idle-seconds 3 --timeout 240 --poll-us "$POLL_US" ;;
    idle) run idle --clients "${IDLE_CLIENTS:-10000}" --procs 2 --sources 127.0.0.6 \
              --updates 0 --idle-seconds 10 --timeout 120 ;;
  esac
done

echo
echo "== summary (flush_interval_ms $FLUSH_MS, push_interval_ms $PUSH_MS)"
[ -s "$work/results.jsonl" ] || { echo "no results"; exit 1; }
/usr/bin/python3 - "$work/results.jsonl" "$FLUSH_MS" <<'PY'
import json, sys
flush = int(sys.argv[2])
ok = True
def check(name, good, text):
    global ok
    ok &= good
    print("  %-4s %-12s %s" % ("ok" if good else "FAIL", name, text))
for line in open(sys.argv[1]):
    r = json.loads(line)
    n = r["label"]
    if not r["complete"]:
        check(n, False, "run incomplete")
    check(n, r["clients_failed"] == 0, "%d of %d clients subscribed in %.1f s" %
          (r["clients_subscribed"], r["clients_requested"], r["connect_seconds"]))
    if r["updates"] and r["missed_final"] is not None:
        check(n, r["missed_final"] == 0, "missed final value: %d" % r["missed_final"])
        print("       %-12s p50 %.1f / p90 %.1f / p99 %.1f / max %.1f ms over %d pairs; %.2f frames per client" %
              (n, r["latency_p50_ms"] or 0, r["latency_p90_ms"] or 0, r["latency_p99_ms"] or 0,
               r["latency_max_ms"] or 0, r["latency_samples"] or 0, r["frames_per_client"] or 0))
        print("       %-12s server cpu %.2f s (%.2f us/frame), generator cpu %.2f s (%.2f us/frame)" %
              (n, r["server_cpu_seconds"] or 0, r["server_cpu_us_per_frame"] or 0,
               r["generator_cpu_seconds"] or 0, r["generator_cpu_us_per_frame"] or 0))
    if n == "fanout" and r["latency_p99_ms"] is not None:
        check(n, r["latency_p99_ms"] <= flush + 100,
              "p99 %.1f ms <= flush_interval_ms + 100 = %d ms" % (r["latency_p99_ms"], flush + 100))
    if n == "fanout-epoll" and r["latency_p99_ms"] is not None:
        print("  info %-12s p99 %.1f ms with the generator asleep in epoll (its own CPU per frame "
              "nearly doubles, on the cores the server shares)" % (n, r["latency_p99_ms"]))
    if n == "idle" and r["server_rss_per_idle_conn_bytes"] is not None:
        check(n, r["server_rss_per_idle_conn_bytes"] <= 4096,
              "server RSS per idle connection %.0f bytes <= 4096 (%d kB before, %d kB with %d)" %
              (r["server_rss_per_idle_conn_bytes"], r["server_rss_before_kb"],
               r["server_rss_idle_kb"], r["idle_connections"]))
sys.exit(0 if ok else 1)
PY
