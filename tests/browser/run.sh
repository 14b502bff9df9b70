#!/bin/sh
# Runs the browser tests of the widget: installs playwright-core from
# package-lock.json when it is missing (npm ci; no browser is downloaded:
# Debian's /usr/bin/chromium is used), then `node --test` on this folder.
# Defaults: LT_SOURCE_DIR = the repo, LT_BINARY = build/livetally,
# LT_REDIS_SERVER = redis-server on PATH, LT_ARTIFACTS = ./artifacts.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund) ||
        echo "run.sh: npm ci failed; the tests will skip without playwright-core" >&2
fi
export LT_SOURCE_DIR="${LT_SOURCE_DIR:-$src}"
export LT_BINARY="${LT_BINARY:-$src/build/livetally}"
export LT_REDIS_SERVER="${LT_REDIS_SERVER:-$(command -v redis-server || echo redis-server)}"
export LT_ARTIFACTS="${LT_ARTIFACTS:-$here/artifacts}"
exec node --test "$here/"
