"""bench/rehearse.py (issue 9, point 6): the lecture, end to end, small.

The tool is run as operators run it, against a real server, and must say
`check: ok` (exit 0); the test then reads the stream itself and checks the
tool's account against the server's own figures, so that a tool that only
agreed with itself would fail here. One test feeds likes behind the tool's
back and expects the check to catch them (exit 1), so the check can fail.

test_rehearse_lecture needs the partner endpoint, the segments endpoint and
`auth.sources` (AUTH and SEGMENTS, issue 9): it plays the whole event.
"""

import json
import os
import subprocess
import time

import ltharness as h
from conftest import OPERATOR_TOKEN, SOURCE_DIR

TOOL = os.path.join(SOURCE_DIR, "bench", "rehearse.py")
PARTNERS = {"wutongcun": "key-wutongcun-1", "bilibili": "key-bilibili-1",
            "douyin": "key-douyin-1"}
# Likes budgets as shipped; two workers, as a real deployment has.
# Hundreds of viewers come from 127.0.0.1: no per-client connection cap.
BASE = {"workers": 2, "push_interval_ms": 250, "limits.max_connections_per_client": 0}


def rehearse(srv, *args, timeout=180):
    """Runs the tool with --json; returns (exit status, the JSON, stdout, stderr)."""
    cmd = ["/usr/bin/python3", TOOL, "--url", "http://127.0.0.1:%d" % srv.port,
           "--operator-token", OPERATOR_TOKEN, "--server-pid", str(srv.pid), "--seed", "7",
           "--json"] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    try:
        out = json.loads(p.stdout)
    except ValueError:
        out = None
    return p.returncode, out, p.stdout, p.stderr


def assert_ok(rc, out, stdout, stderr):
    assert rc == 0 and out is not None and out["check"] == "ok" and out["differences"] == [], \
        "rehearse exit %s\nstdout: %s\nstderr: %s" % (rc, stdout[-3000:], stderr[-3000:])


def assert_server_agrees(srv, out, viewers):
    """The server's own figures, read by the test, against the tool's account."""
    t = srv.totals(out["stream"])
    sent = out["sent"]
    assert t["status"] == "ended", t
    assert t["sources"]["direct"]["views"] == sent["views"], (t, sent)
    assert t["sources"]["direct"]["likes"] == sent["likes_accepted"], (t, sent)
    assert sent["likes_sent"] > 0 and sent["joins"] > viewers, sent
    # Every viewer counted once at least; uniques is an estimate (HLL).
    assert sent["distinct"] == viewers, sent
    assert abs(t["uniques"] - viewers) <= max(2, 0.03 * viewers), t
    # The report the tool named is the stream's, frozen now that it ended.
    path = out["report_url"].split("127.0.0.1:%d" % srv.port, 1)[1]
    r1 = srv.get(path)
    r2 = srv.get(path)
    assert r1.status == 200 and r1.body == r2.body, (r1, r2)
    assert r1.json()["totals"]["views"] == t["views"]
    assert out["cpu_seconds"]["tool"] > 0 and "server" in out["cpu_seconds"], out["cpu_seconds"]


def test_rehearse_viewers_and_likes(lt):
    """Stream PUT, go live, 200 viewers over WebSocket and SSE with rejoins
    (inside the dedup window: no view) and like bursts, end, report."""
    srv = lt(BASE, operator=True)
    rc, out, so, se = rehearse(srv, "--viewers", "200", "--seconds", "12", "--no-segments",
                               "--stream", "rh-viewers")
    assert_ok(rc, out, so, se)
    sent = out["sent"]
    assert sent["ws_viewers"] > 0 and sent["sse_viewers"] > 0, sent
    assert sent["rejoins_without_view"] > 0 and sent["views"] == 200, sent
    assert out["server_settings"]["from_report"] and \
        out["server_settings"]["dedup_seconds"] == 1800, out["server_settings"]
    assert_server_agrees(srv, out, 200)
    t = srv.totals("rh-viewers")
    assert t["title"] and t["series"] == "tour-2022", t


def test_rehearse_counts_rejoins_after_the_dedup_window(lt):
    """With views.dedup_seconds 2 every rejoin (at least 3 s after the first
    join) is a view again, and the tool's arithmetic must say so."""
    srv = lt(dict(BASE, **{"views.dedup_seconds": 2}), operator=True)
    rc, out, so, se = rehearse(srv, "--viewers", "150", "--seconds", "10", "--no-segments",
                               "--stream", "rh-dedup")
    assert_ok(rc, out, so, se)
    sent = out["sent"]
    assert out["server_settings"]["dedup_seconds"] == 2
    assert sent["views"] > 150 and sent["rejoins_without_view"] == 0, sent
    assert sent["views"] == sent["joins"], sent
    assert_server_agrees(srv, out, 150)


def test_rehearse_tight_budgets_count_dropped_taps(lt):
    """Budgets from the report's method: a server with small ones. The tool
    stays inside what it read; taps the server drops anyway would be
    subtracted from what rate_limited messages said."""
    srv = lt(dict(BASE, **{"likes.burst": 4, "likes.rate_per_second": 2,
                           "likes.per_client_burst": 60,
                           "likes.per_client_rate_per_second": 40}), operator=True)
    rc, out, so, se = rehearse(srv, "--viewers", "120", "--seconds", "10", "--no-segments",
                               "--stream", "rh-budget")
    assert_ok(rc, out, so, se)
    st = out["server_settings"]
    assert (st["viewer_burst"], st["client_rate"]) == (4, 40), st
    # 10 s at 20 taps/s (a share of 40) plus small bursts: a few hundred.
    assert 0 < out["sent"]["likes_sent"] < 1000, out["sent"]
    assert_server_agrees(srv, out, 120)


def test_rehearse_catches_likes_it_did_not_send(lt):
    """Seven likes posted by someone else during the run: the check fails
    and names likes."""
    srv = lt(BASE, operator=True)
    cmd = ["/usr/bin/python3", TOOL, "--url", "http://127.0.0.1:%d" % srv.port,
           "--operator-token", OPERATOR_TOKEN, "--viewers", "60", "--seconds", "8",
           "--no-segments", "--stream", "rh-intruder", "--seed", "3"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        h.wait_until(lambda: (srv.totals("rh-intruder") or {}).get("status") == "live",
                     timeout=10, desc="the stream live")
        time.sleep(1.0)
        r = srv.post_events("rh-intruder", {"type": "like", "n": 7, "viewer": "intruder-0001"})
        assert r.status == 202 and r.json() == {"accepted": 1, "rejected": 0}, r
        stdout, stderr = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1, "exit %s\n%s\n%s" % (p.returncode, stdout, stderr)
    lines = stdout.splitlines()
    assert lines[-1].startswith("check: FAILED"), stdout
    assert any(l.startswith("differs: likes: report ") for l in lines), stdout
    assert "check: ok" not in stdout


def test_rehearse_lecture(lt):
    """The whole lecture: three segments, three partner platforms reporting
    every few seconds, 300 viewers. Needs AUTH's and SEGMENTS' parts of
    issue 9 (partner endpoint and auth.sources, segments endpoint)."""
    env = {"LT_TEST_KEY_" + s.upper(): k for s, k in PARTNERS.items()}
    cfg = dict(BASE, **{"auth.sources": {s: {"key_env": "LT_TEST_KEY_" + s.upper()}
                                         for s in PARTNERS}})
    srv = lt(cfg, operator=True, env=env)
    partners = []
    for s, k in PARTNERS.items():
        partners += ["--partner", "%s=%s" % (s, k)]
    rc, out, so, se = rehearse(srv, "--viewers", "300", "--seconds", "15",
                               "--stream", "rh-lecture", *partners)
    assert_ok(rc, out, so, se)
    titles = [s["title"] for s in out["segments"]]
    assert titles == ["开幕式", "城市分享", "圆桌会议"], out
    assert sum(s["views"] for s in out["segments"]) == out["sent"]["views"], out
    assert set(out["partners"]) == set(PARTNERS), out["partners"]
    assert all(p["reports"] >= 3 for p in out["partners"].values()), out["partners"]
    t = srv.totals("rh-lecture")
    for s, p in out["partners"].items():
        assert t["sources"][s]["reported"]["views"] == p["views"], (s, t)
    assert t["views"] == out["sent"]["views"] + sum(p["views"] for p in out["partners"].values())
    assert_server_agrees(srv, out, 300)
