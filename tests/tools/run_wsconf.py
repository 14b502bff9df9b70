#!/usr/bin/env python3
"""Runs ../shared/tools/wsconf.py against lt-ws-echo on a free port.

Usage: run_wsconf.py LT_WS_ECHO WSCONF_PY
Exits 77 (CTest: skipped) when wsconf.py is not there, else wsconf's code.
Under LT_NO_SKIP=1 (or CI=true) a missing wsconf.py is a failure (exit 1)."""
import os
import subprocess
import sys

MAX_PAYLOAD = 65536


def no_skip():
    return os.environ.get("LT_NO_SKIP", "") not in ("", "0") or \
        os.environ.get("CI", "").lower() == "true"


def main():
    echo, checker = sys.argv[1], sys.argv[2]
    if not os.path.exists(checker):
        if no_skip():
            print("wsconf.py not found at %s: a failure under LT_NO_SKIP/CI" % checker)
            return 1
        print("wsconf.py not found at %s: skipped" % checker)
        return 77
    srv = subprocess.Popen([echo, "--listen", "127.0.0.1:0", "--max-payload", str(MAX_PAYLOAD)],
                           stdout=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline()
        if "ready on" not in line:
            print("lt-ws-echo did not start: %r" % line)
            return 1
        port = line.strip().rsplit(":", 1)[1]
        return subprocess.call([sys.executable, checker, "127.0.0.1", port, "/",
                                "--max-payload", str(MAX_PAYLOAD)], timeout=240)
    finally:
        srv.terminate()
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()


if __name__ == "__main__":
    sys.exit(main())
