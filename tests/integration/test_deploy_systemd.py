"""Deployment: config/livetally.service, the systemd unit.

`systemd-analyze verify` on the shipped unit with ExecStart pointed at the
build's binary (verify checks that the command exists): any warning about
the unit fails, and a unit with a misspelled directive shows that the check
sees warnings at all. `systemd-analyze security --offline` rates the
sandbox; the sandboxing options the deployment relies on, and the stop
timeout against the sample config's shutdown_timeout_ms, are checked by
name.

systemd-analyze: LT_SYSTEMD_ANALYZE, else on PATH (Debian's systemd
package). Missing, the tests skip, which fails under LT_NO_SKIP/CI.
"""

import json
import os
import re
import shutil
import subprocess

import pytest

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
