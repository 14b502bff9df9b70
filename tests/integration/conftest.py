"""Fixtures shared by livetally's integration tests.

- `redis`: one throwaway redis-server per test module (fsync-always AOF, so a
  SIGKILL loses nothing that was acknowledged), flushed before each test and
  restarted if a test left it dead.
- `lt`: a factory that starts livetally with a config made of DEFAULTS, the
  fixture's Redis and the test's overrides; every server it started is
  stopped by PID at teardown and must exit 0 on SIGTERM.

Environment (set by tests/CMakeLists.txt): LT_BINARY, LT_REDIS_SERVER,
LT_SOURCE_DIR. Without LT_BINARY, build/livetally of the source tree is used
when it exists.

LT_NO_SKIP=1 (scripts/test.sh sets it; CI=true turns it on too): a test that
would be skipped (no redis-server, no websockets module, no binary...)
fails instead, with the reason, so that CI cannot pass by skipping.
"""

import os
import re
import shutil
import sys

import pytest

import ltharness as h

HERE = os.path.dirname(os.path.abspath(__file__))


def no_skip():
    """Is the switch on under which a skip is a failure?"""
    return os.environ.get("LT_NO_SKIP", "") not in ("", "0") or \
        os.environ.get("CI", "").lower() == "true"

SOURCE_DIR = os.environ.get("LT_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))


def _binary():
    path = os.environ.get("LT_BINARY")
    if path:
        if not os.access(path, os.X_OK):
            pytest.fail("LT_BINARY=%s is not an executable file" % path)
        return path
    path = os.path.join(SOURCE_DIR, "build", "livetally")
    if not os.access(path, os.X_OK):
        pytest.skip("no livetally binary: set LT_BINARY (ctest does)")
    return path


def _redis_binary():
    path = os.environ.get("LT_REDIS_SERVER") or shutil.which("redis-server")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("no redis-server: set LT_REDIS_SERVER")
    return path


# Every server starts from this; tests merge their overrides into it.
DEFAULTS = {
    "listen": "127.0.0.1:0",
    "workers": 1,
    "flush_interval_ms": 50,
    "log_level": "info",
}

OPERATOR_TOKEN = "op-token-1"
OPERATOR_ENV = {"LIVETALLY_OPERATOR_TOKENS": OPERATOR_TOKEN + ",op-token-2"}


def _skip_to_failure(rep):
    """Under LT_NO_SKIP, turns a skipped report into a failed one that says
    what was missing."""
    if not (rep.skipped and no_skip()) or hasattr(rep, "wasxfail"):
        return
    reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
    rep.outcome = "failed"
    rep.longrepr = "skipped, and skips are failures under LT_NO_SKIP/CI: %s" % reason


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Lets fixtures see at teardown whether the test failed.
    outcome = yield
    rep = outcome.get_result()
    _skip_to_failure(rep)
    setattr(item, "rep_" + rep.when, rep)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    # A whole module skipped at import (pytest.importorskip) counts too.
    outcome = yield
    _skip_to_failure(outcome.get_result())


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    setup = getattr(request.node, "rep_setup", None)
    return (rep is not None and rep.failed) or (setup is not None and setup.failed)


@pytest.fixture(scope="session")
def lt_binary():
    return _binary()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    srv = h.RedisServer(_redis_binary(), tmp_path_factory.mktemp("redis"))
    srv.start()
    yield srv
    srv.kill()


@pytest.fixture
def redis(redis_server):
    """The module's Redis, running and empty."""
    if not redis_server.running():
        redis_server.start()
    redis_server.flushall()
    yield redis_server
    if not redis_server.running():
        redis_server.start()


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer")


def _sanitizer_report(path):
    """The first lines of an ASan/UBSan/LSan report in a server's stderr
    (LT_SANITIZE builds), or None."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    for marker in SANITIZER_MARKERS:
        i = text.find(marker)
        if i >= 0:
            start = text.rfind("\n", 0, i) + 1
            return "\n".join(text[start:].splitlines()[:40])
    return None


# The master's log line for a worker that ended without being asked
# ("master: worker 0 (pid 123) died (signal 11); restarting in 100 ms").
WORKER_DIED = re.compile(r"^.*\bmaster\b.*\bworker \d+ .*\bdied\b.*$", re.M)


def _worker_deaths(path):
    try:
        with open(path, "rb") as f:
            return WORKER_DIED.findall(f.read().decode("utf-8", "replace"))
    except OSError:
        return []


class ServerFactory:
    def __init__(self, binary, redis, tmp_path):
        self.binary = binary
        self.redis = redis
        self.tmp = tmp_path
        self.servers = []
        self.expect_clean_exit = []

    def config(self, overrides=None):
        cfg = h.deep_merge(DEFAULTS, {"redis": {"host": "127.0.0.1", "port": self.redis.port}})
        return h.deep_merge(cfg, overrides or {})

    def __call__(self, overrides=None, env=None, args=(), wait_ready=True, check_exit=True,
                 operator=False, preexec=None):
        """Starts a server. operator=True sets LIVETALLY_OPERATOR_TOKENS to
        OPERATOR_TOKEN (and a second token). check_exit: at teardown, SIGTERM
        must end it with status 0. preexec: run in the child before exec."""
        e = dict(OPERATOR_ENV) if operator else {}
        e.update(env or {})
        name = "lt%d" % len(self.servers)
        cfg = self.config(overrides)
        # Each server its own spool (one livetally per spool.dir), unless
        # the test names one (a restart that must replay it).
        if "dir" not in (overrides or {}).get("spool", {}):
            cfg = h.deep_merge(cfg, {"spool": {"dir": name + "-spool"}})
        srv = h.LivetallyServer(self.binary, self.tmp, cfg, env=e,
                                args=args, name=name, preexec=preexec)
        self.servers.append(srv)
        self.expect_clean_exit.append(check_exit)
        srv.start(wait_ready=wait_ready)
        return srv

    def teardown(self, failed):
        problems = []
        for srv, check in zip(self.servers, self.expect_clean_exit):
            was_running = srv.running()
            stopped_by_test = srv.returncode is not None
            rc = srv.stop(timeout=15)
            if failed:
                sys.stderr.write("---- %s stderr (tail) ----\n%s\n"
                                 % (srv.name, h.tail(srv.stderr_path)))
            report = _sanitizer_report(srv.stderr_path)
            if report:
                problems.append("%s: sanitizer report in stderr:\n%s" % (srv.name, report))
            if not srv.worker_deaths_expected:
                died = _worker_deaths(srv.stderr_path)
                if died:
                    problems.append("%s: a worker died during the test:\n%s"
                                    % (srv.name, "\n".join(died[:5])))
            if not check:
                continue
            if was_running and rc != 0:
                problems.append("%s: SIGTERM gave exit status %s\n%s"
                                % (srv.name, rc, h.tail(srv.stderr_path)))
            elif not was_running and not stopped_by_test:
                problems.append("%s: exited on its own with status %s\n%s"
                                % (srv.name, rc, h.tail(srv.stderr_path)))
            if srv.leftover_workers:
                problems.append("%s: workers %s outlived the master"
                                % (srv.name, srv.leftover_workers))
        return problems


@pytest.fixture
def lt(lt_binary, redis, tmp_path, request):
    """Factory: lt(overrides=None, env=None, args=(), ...) -> LivetallyServer."""
    factory = ServerFactory(lt_binary, redis, tmp_path)
    yield factory
    failed = _failed(request)
    problems = factory.teardown(failed)
    if problems and failed:
        sys.stderr.write("server shutdown problems:\n%s\n" % "\n".join(problems))
    elif problems:
        pytest.fail("server shutdown problems:\n" + "\n".join(problems))
