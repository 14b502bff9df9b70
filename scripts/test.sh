#!/usr/bin/env bash
# Sets up and runs every test: installs what is missing, builds a release
# build and an ASan+UBSan build, and runs CTest in both (unit, fuzz corpus
# replay, integration against throwaway redis-servers the tests start, the
# fault suite).
#
# LT_NO_SKIP: a test that cannot run (no redis-server, node, Chromium,
# playwright-core, python3-websockets, wsconf.py) fails instead of skipping,
# and configuring fails when a tool the tests need is missing: this script
# cannot pass by skipping. LT_NO_SKIP=0 scripts/test.sh turns it off.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)
export LT_NO_SKIP="${LT_NO_SKIP:-1}"
if [ "$LT_NO_SKIP" = 0 ]; then no_skip=OFF; else no_skip=ON; fi

cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLT_NO_SKIP=$no_skip >/dev/null
cmake --build build-test -j"$jobs"
ctest --test-dir build-test --output-on-failure -j"$jobs"

# The sanitizer build runs the unit tests, the fuzz corpora, the
# integration tests and the fault suite again, so memory errors on the real
# paths (crash recovery and replay included) fail CI.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLT_SANITIZE=ON -DLT_NO_SKIP=$no_skip >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -L 'unit|fuzz|integration|faults' -E '^web/'

# libFuzzer (clang): every parser's fuzz target runs briefly from its corpus.
if command -v clang >/dev/null 2>&1; then
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DLT_FUZZ=ON -DLT_NO_SKIP=$no_skip >/dev/null
  cmake --build build-fuzz -j"$jobs" --target $(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
  ctest --test-dir build-fuzz --output-on-failure -j"$jobs" -L fuzz
elif [ "$no_skip" = ON ]; then
  echo "test.sh: no clang, so the libFuzzer runs cannot run (a failure under LT_NO_SKIP)" >&2
  exit 1
fi
