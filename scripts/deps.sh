#!/usr/bin/env bash
# Installs the Debian 12 packages livetally needs. Usage: scripts/deps.sh [run|test|bench]
# Runs `apt-get update` and `apt-get install -y` (as root, or through sudo).
set -euo pipefail
what=${1:-run}

pkgs=(build-essential cmake pkg-config libevent-dev libhiredis-dev libjansson-dev libssl-dev zlib1g-dev
      redis-server redis-tools curl)
case "$what" in
  test) pkgs+=(libcmocka-dev python3 python3-pytest python3-websockets lua5.1 clang libfuzzer-14-dev
               libclang-rt-14-dev chromium fonts-wqy-zenhei faketime tzdata
               nginx-light systemd strace) ;;  # the last three: tests/integration/test_deploy_*.py
  bench) pkgs+=(nginx-light wrk libnginx-mod-nchan python3) ;;  # nchan: bench/run_all.py's reference
  run) ;;
  *) echo "usage: $0 [run|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get update -q >/dev/null; then
  echo "deps: apt-get update failed" >&2
  if [ ${#missing[@]} -gt 0 ]; then exit 1; fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# The build needs npm (it installs esbuild, which minifies the widget: see
# web/CMakeLists.txt) and so do the browser tests; a stock Debian has neither.
# Checked by command rather than by package: a newer Node.js may be installed
# from elsewhere. playwright-core comes from npm (never `npx playwright
# install`: the browser is Debian's chromium).
if ! command -v npm >/dev/null 2>&1; then
  echo "deps: installing nodejs npm"
  $sudo apt-get install -y -q nodejs npm >/dev/null
fi
if [ "$what" = test ]; then
  browser="$(dirname "$0")/../tests/browser"
  if [ -f "$browser/package.json" ]; then
    (cd "$browser" && npm install --no-audit --no-fund --loglevel=error)
  fi
fi
