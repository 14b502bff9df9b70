"""Deployment: config/livetally.service, the systemd unit.

`systemd-analyze verify` on the shipped unit with ExecStart pointed at the
build's binary (verify checks that the command exists): any warning about
the unit fails, and a unit with a misspelled directive shows that the check
sees warnings at all. `systemd-analyze security --offline` rates the
sandbox; the sandboxing options the deployment relies on, and the stop
timeout against the sample config's shutdown_timeout_ms, are checked by
name.

And the sandbox against what livetally really does: the server runs
under strace through a workload (HTTP events and reads, a WebSocket with a
like, an event stream, /metrics, two workers, a SIGHUP reload, SIGTERM),
and every system call it made must pass the unit's SystemCallFilter (the
groups expanded by `systemd-analyze syscall-filter`), every socket its
RestrictAddressFamilies, no mapping be writable and executable
(MemoryDenyWriteExecute), and no file be opened for writing outside its
working directory (ProtectSystem=strict). systemd itself cannot run here
(no init in the test machine), so this is how the unit meets the binary.

systemd-analyze: LT_SYSTEMD_ANALYZE, else on PATH (Debian's systemd
package); strace: LT_STRACE, else on PATH. Missing, the tests skip, which
fails under LT_NO_SKIP/CI.
"""

import json
import os
import re
import shutil
import signal
import subprocess

import pytest

import ltharness as h

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("LT_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
UNIT = os.path.join(SOURCE_DIR, "config", "livetally.service")
SAMPLE_CONF = os.path.join(SOURCE_DIR, "config", "livetally-behind-nginx.json")
SHIPPED_BINARY = "/usr/local/bin/livetally"


@pytest.fixture(scope="module")
def analyze():
    for path in (os.environ.get("LT_SYSTEMD_ANALYZE"), shutil.which("systemd-analyze"),
                 "/usr/bin/systemd-analyze"):
        if path and os.access(path, os.X_OK):
            return path
    pytest.skip("no systemd-analyze (Debian's systemd: scripts/deps.sh test); "
                "set LT_SYSTEMD_ANALYZE")


def unit_text():
    with open(UNIT) as f:
        return f.read()


def directives(text):
    """[(key, value)] of the unit's assignments, in order (comments and
    section headers left out)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, sep, value = line.partition("=")
        assert sep, "not an assignment: %r" % line
        out.append((key.strip(), value.strip()))
    return out


def render(text, binary, tmp_path, name="livetally.service"):
    """The unit with ExecStart's binary replaced by `binary`, written to
    tmp_path/name."""
    starts = [v for k, v in directives(text) if k == "ExecStart"]
    assert len(starts) == 1 and starts[0].startswith(SHIPPED_BINARY + " "), \
        "expected one ExecStart=%s ...: %r" % (SHIPPED_BINARY, starts)
    text = text.replace("ExecStart=" + SHIPPED_BINARY + " ", "ExecStart=" + binary + " ", 1)
    path = tmp_path / name
    path.write_text(text)
    return str(path)


OTHER_UNIT = re.compile(r"\b[\w@.-]+\.(service|socket|target|mount|timer|path|slice|device)\b")


def verify(analyze, path):
    """(exit status, output lines about this unit, lines about other units)
    of systemd-analyze verify. A line that names no other unit counts as
    about this one."""
    p = subprocess.run([analyze, "verify", path], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60,
                       env=dict(os.environ, SYSTEMD_LOG_COLOR="0", SYSTEMD_PAGER=""))
    name = os.path.basename(path)
    ours, others = [], []
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        named = {m.group(0) for m in OTHER_UNIT.finditer(line)} - {name}
        if name in line or path in line or not named:
            ours.append(line)
        else:
            others.append(line)
    return p.returncode, ours, others


def test_unit_verifies_without_warnings(analyze, lt_binary, tmp_path):
    path = render(unit_text(), lt_binary, tmp_path)
    rc, ours, others = verify(analyze, path)
    assert rc == 0 and not ours, \
        "systemd-analyze verify %s: status %d\n%s\n(about other units: %s)" \
        % (path, rc, "\n".join(ours), others)


def test_verify_reports_what_is_wrong(analyze, lt_binary, tmp_path):
    """The check above can fail: a misspelled directive, and ExecStart at a
    path with no binary, are both reported about the unit."""
    text = unit_text().replace("ProtectSystem=strict", "ProtectSytem=strict", 1)
    rc, ours, _ = verify(analyze, render(text, lt_binary, tmp_path, "typo.service"))
    assert any("ProtectSytem" in line for line in ours), (rc, ours)
    missing = str(tmp_path / "no-such-livetally")
    rc, ours, _ = verify(analyze, render(unit_text(), missing, tmp_path, "missing.service"))
    assert rc != 0 and any("no-such-livetally" in line for line in ours), (rc, ours)


def test_sandbox_and_stop_settings(analyze, lt_binary, tmp_path):
    d = directives(unit_text())
    keys = {}
    for k, v in d:
        keys.setdefault(k, []).append(v)

    def one(key):
        assert key in keys, "%s is not set" % key
        return keys[key][-1]

    assert one("DynamicUser") == "yes" or "User" in keys
    for key in ("ProtectHome", "PrivateTmp", "NoNewPrivileges", "MemoryDenyWriteExecute"):
        assert one(key) == "yes", key
    assert one("ProtectSystem") == "strict"
    assert one("StateDirectory") == "livetally"
    # the spool (spool.dir, "var/spool" relative to the working directory)
    # lands in the state directory, the one writable place.
    assert one("WorkingDirectory") == "/var/lib/livetally"
    assert set(one("RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert "@system-service" in keys["SystemCallFilter"]
    assert int(one("LimitNOFILE")) >= 65536
    assert one("KillSignal") == "SIGTERM"
    assert one("KillMode") == "mixed"
    assert one("Restart") == "on-failure"
    assert re.fullmatch(r"/bin/kill -HUP \$MAINPID", one("ExecReload")), one("ExecReload")
    assert one("EnvironmentFile").lstrip("-").startswith("/etc/livetally/")
    # systemd's SIGKILL must not cut the flush short: the master kills its
    # workers itself after shutdown_timeout_ms + 2 s.
    with open(SAMPLE_CONF) as f:
        shutdown_ms = json.load(f).get("shutdown_timeout_ms", 10000)
    stop = one("TimeoutStopSec")
    m = re.fullmatch(r"(\d+)s?", stop)
    assert m, "TimeoutStopSec=%s: write it in seconds" % stop
    assert int(m.group(1)) * 1000 > shutdown_ms + 2000, (stop, shutdown_ms)

    # systemd's own rating of the sandbox (0 = fully sandboxed, 10 = none).
    path = render(unit_text(), lt_binary, tmp_path)
    p = subprocess.run([analyze, "security", "--offline=true", "--no-pager", path],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60, env=dict(os.environ, SYSTEMD_LOG_COLOR="0"))
    out = p.stdout.decode("utf-8", "replace")
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", out)
    assert m, "no exposure level in:\n%s" % out[-2000:]
    assert float(m.group(1)) <= 2.0, "exposure %s %s:\n%s" % (m.group(1), m.group(2), out)


# ---------------------------------------------------------------------------
# the unit's sandbox against the system calls livetally makes


def syscall_groups(analyze):
    """{"@group": [names and @subgroups]} from systemd-analyze syscall-filter."""
    p = subprocess.run([analyze, "syscall-filter", "--no-pager"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60)
    groups, cur = {}, None
    for line in p.stdout.decode().splitlines():
        if re.fullmatch(r"@[\w-]+", line.strip()) and not line.startswith(" "):
            cur = line.strip()
            groups[cur] = []
        elif cur and line.strip() and not line.strip().startswith("#"):
            groups[cur].append(line.strip())
    assert "@system-service" in groups, "no @system-service in systemd-analyze syscall-filter"
    return groups


def expand(groups, items):
    out = set()
    for item in items:
        if item.startswith("@"):
            assert item in groups, "unknown syscall group %s" % item
            out |= expand(groups, groups[item])
        else:
            out.add(item)
    return out


def allowed_syscalls(analyze, d):
    """The set SystemCallFilter= lines allow, in systemd's terms: the first
    allow-list, minus every ~deny-list after it."""
    groups = syscall_groups(analyze)
    allow, deny = None, set()
    for value in (v for k, v in d if k == "SystemCallFilter"):
        if value.startswith("~"):
            deny |= expand(groups, value[1:].split())
        else:
            allow = (allow or set()) | expand(groups, value.split())
    assert allow, "no SystemCallFilter allow-list"
    return allow - deny


@pytest.fixture
def strace():
    for path in (os.environ.get("LT_STRACE"), shutil.which("strace"), "/usr/bin/strace"):
        if path and os.access(path, os.X_OK):
            return path
    pytest.skip("no strace (scripts/deps.sh test); set LT_STRACE")


def traced_workload(lt_binary, strace, redis, tmp_path):
    """Runs livetally under strace -f through a workload; returns the
    trace lines of every process (one file each) and the working dir."""
    trace = tmp_path / "trace"
    trace.mkdir()
    wrapper = tmp_path / "livetally-traced"
    wrapper.write_text("#!/bin/sh\nexec %s -f -ff -qq -e signal=none -o %s %s \"$@\"\n"
                       % (strace, trace / "t", lt_binary))
    wrapper.chmod(0o755)
    work = tmp_path / "work"
    config = {"listen": "127.0.0.1:0", "workers": 2, "flush_interval_ms": 50,
              "log_level": "info", "redis": {"host": "127.0.0.1", "port": redis.port}}
    # LeakSanitizer cannot run under ptrace (LT_SANITIZE builds).
    asan = (os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    srv = h.LivetallyServer(str(wrapper), work, config, name="traced",
                            env={"ASAN_OPTIONS": asan})
    srv.start(timeout=30)
    # srv.pid is strace; the master is its child.
    master = h.wait_until(lambda: h.children_of(srv.pid), 5, desc="the traced master")[0]
    try:
        stream = "traced-stream"
        r = srv.post_events(stream, [{"type": "view", "viewer": "viewer-trace-1"},
                                     {"type": "like", "n": 2, "viewer": "viewer-trace-1"}])
        assert r.status == 202, r
        srv.wait_totals(stream, {"views": 1, "likes": 2})
        with h.ws_connect(srv, "/v1/streams/%s/ws?viewer=viewer-trace-2" % stream) as ws:
            ws.wait_message(lambda m: m.get("type") == "totals")
            ws.send_json({"type": "like", "n": 3})
            ws.wait_totals(likes=5)
        with h.sse_connect(srv, "/v1/streams/%s/live" % stream) as sse:
            sse.wait_event(lambda e: e.get("event") == "totals")
        assert srv.get("/metrics").status == 200
        os.kill(master, signal.SIGHUP)
        h.wait_until(lambda: "SIGHUP: config" in srv.stderr_text(), 5, desc="the reload")
        assert srv.get("/healthz").status == 200
        os.kill(master, signal.SIGTERM)
        assert srv.wait_exit(20) == 0, h.tail(srv.stderr_path)
    finally:
        srv.stop()
    lines = []
    for name in sorted(os.listdir(trace)):
        with open(trace / name, errors="replace") as f:
            lines += f.read().splitlines()
    assert len(os.listdir(trace)) >= 3, "expected the master and two workers in the trace"
    return lines, str(work)


def test_sandbox_allows_what_livetally_does(analyze, strace, lt_binary, redis, tmp_path):
    d = directives(unit_text())
    allowed = allowed_syscalls(analyze, d)
    families = set(next(v for k, v in d if k == "RestrictAddressFamilies").split())
    lines, work = traced_workload(lt_binary, strace, redis, tmp_path)

    called = {}
    for line in lines:
        m = re.match(r"^([a-z_0-9]+)\(", line)
        if m:
            called.setdefault(m.group(1), line)
    assert "epoll_wait" in called and "accept4" in called, sorted(called)
    # execve is the exec of livetally itself, which systemd does before the
    # filter applies.
    denied = {name: line for name, line in called.items()
              if name not in allowed and name != "execve"}
    assert not denied, "system calls the unit's SystemCallFilter refuses:\n%s" \
        % "\n".join(denied.values())

    for line in lines:
        m = re.match(r"^(socket|socketpair)\((AF_\w+)", line)
        if m:
            assert m.group(2) in families, "not in RestrictAddressFamilies: %s" % line
        if re.match(r"^(mmap|mprotect|pkey_mprotect)\(", line):
            assert not ("PROT_WRITE" in line and "PROT_EXEC" in line), \
                "writable and executable memory (MemoryDenyWriteExecute): %s" % line
        m = re.match(r'^open(at)?\((?:AT_FDCWD, )?"([^"]*)", ([A-Z_|]+)', line)
        if m and re.search(r"O_WRONLY|O_RDWR|O_CREAT", m.group(3)):
            path = os.path.normpath(os.path.join(work, m.group(2)))
            assert path.startswith(work + os.sep) or path == "/dev/null", \
                "opened for writing outside the working directory " \
                "(ProtectSystem=strict): %s" % line
