#!/usr/bin/env bash
# Sets up and runs livetally with a local Redis (data under var/redis,
# appendonly on) and config/livetally.json. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLT_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"

mkdir -p var/redis
redis_port=${LT_REDIS_PORT:-6379}
if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
  echo "run: a Redis already answers on port $redis_port; using it"
  redis_pid=""
else
  # appendfsync always: an acknowledged batch survives even a crash of Redis.
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$PWD/var/redis" \
    --appendonly yes --appendfsync always --save "" --daemonize no \
    --logfile "$PWD/var/redis/redis.log" &
  redis_pid=$!
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

# The operators' dashboard (/dashboard) needs an operator token: without
# LIVETALLY_OPERATOR_TOKENS set, one is made once and kept in
# var/operator-token (readable by this user only), never printed by the server.
if [ -z "${LIVETALLY_OPERATOR_TOKENS:-}" ]; then
  if [ ! -s var/operator-token ]; then
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > var/operator-token)
  fi
  LIVETALLY_OPERATOR_TOKENS=$(cat var/operator-token)
  export LIVETALLY_OPERATOR_TOKENS
  token_note="the token is in var/operator-token"
else
  token_note="sign in with a token from LIVETALLY_OPERATOR_TOKENS"
fi

# The ready line names the address; the demo broadcast page is /demo there.
build/livetally --config config/livetally.json --redis "127.0.0.1:$redis_port" "$@" \
  > >(while IFS= read -r line; do
        echo "$line"
        case "$line" in
          *"ready on "*)
            echo "run: demo broadcast page: ${line##* }/demo  (open it in two tabs and press like)"
            echo "run: operators' dashboard: ${line##* }/dashboard  ($token_note)" ;;
        esac
      done) &
lt_pid=$!
stop() {
  trap - INT TERM EXIT
  kill -TERM "$lt_pid" 2>/dev/null && wait "$lt_pid" 2>/dev/null || true
  if [ -n "$redis_pid" ]; then kill -TERM "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null || true; fi
}
trap stop INT TERM EXIT
wait "$lt_pid"
