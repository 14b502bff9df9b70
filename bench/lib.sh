# Shared by the benchmark scripts (sourced, from the project root):
# a work directory and the processes started, all removed and stopped on
# exit; the livetally binary; a throwaway Redis; a livetally started from
# $work/lt.json.
work=$(mktemp -d /tmp/lt-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# LT_BINARY, else build/livetally (a release build made when missing).
bin=${LT_BINARY:-build/livetally}
if [ -z "${LT_BINARY:-}" ] && [ ! -x build/livetally ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null; cmake --build build -j"$(nproc)" >/dev/null
fi

# Redis as scripts/run.sh runs it (AOF, fsync always); sets rport.
start_redis() {
  rport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" --appendonly yes \
    --appendfsync always --save "" --logfile "$work/redis.log" &
  pids+=($!)
  for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
}

# livetally with $work/lt.json, once it printed its ready line; sets lport.
start_livetally() {
  "$bin" --config "$work/lt.json" > "$work/lt.out" 2> "$work/lt.err" &
  pids+=($!)
  for _ in $(seq 100); do grep -q "ready on" "$work/lt.out" 2>/dev/null && break; sleep 0.1; done
  lport=$(grep -o '[0-9]*$' "$work/lt.out")
}
