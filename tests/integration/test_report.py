"""GET /v1/streams/{id}/report (issue 8, points 3 and 5): the report's
numbers against the totals and the per-minute series, the per-stream
refusals, the Repr-Digest header and the JSON's own sha256 (README's rule),
freezing once the stream has ended (across a restart too, each locale's
bytes apart), CSV, ?tz, ?locale (the HTML's words in it), and bad
parameters. The clock is libfaketime's, as in
test_timeseries.py, so the events fall in chosen minutes."""

import base64
import csv
import hashlib
import io
import json
import os
import time

import pytest

import ltharness as h
from conftest import OPERATOR_TOKEN
from test_timeseries import FAKETIME_LIB, Clock

pytestmark = pytest.mark.skipif(not os.path.exists(FAKETIME_LIB),
                                reason="no libfaketime (Debian package faketime)")

CONFIG = {"counters": ["shares"], "likes.max_per_message": 100000, "likes.burst": 20000,
          "likes.rate_per_second": 1, "likes.per_client_burst": 100000}


ZH_HEADINGS = ["<h2>总计</h2>", "<h2>每分钟走势</h2>", "<h2>分段</h2>", "<h2>来源</h2>",
               "<h2>统计方法</h2>", "<h2>每分钟数据</h2>"]
EN_HEADINGS = ["<h2>Totals</h2>", "<h2>Per minute</h2>", "<h2>Segments</h2>",
               "<h2>Sources</h2>", "<h2>Counting method</h2>", "<h2>Per-minute figures</h2>"]


def assert_words(text, chinese):
    """The HTML's headings in the report's language, none of the other's."""
    want, other = (ZH_HEADINGS, EN_HEADINGS) if chinese else (EN_HEADINGS, ZH_HEADINGS)
    for heading in want:
        assert heading in text, heading
    for heading in other:
        assert heading not in text, heading
    assert ('<html lang="zh-CN">' if chinese else '<html lang="en">') in text


def report(srv, stream, query=""):
    return srv.get("/v1/streams/%s/report%s" % (stream, query))


def json_sha256_rule(body):
    """README's rule: the bytes before ',"sha256"', then '}'."""
    cut = body.rindex(b',"sha256"')
    return hashlib.sha256(body[:cut] + b"}").hexdigest()


def check_digest(r):
    want = "sha-256=:" + base64.b64encode(hashlib.sha256(r.body).digest()).decode() + ":"
    assert r.header("Repr-Digest") == want


@pytest.fixture
def filled(lt, tmp_path):
    clock = Clock(tmp_path)
    base = int(time.time()) // 60 * 60 - 600
    clock.set(base + 1)
    srv = lt(CONFIG, env=clock.env(), operator=True)
    s = "report-1"
    clock.set(base + 2)
    evs = [{"type": "view", "viewer": "viewer-%02d" % i} for i in range(3)]
    evs[1]["source"] = "bili"
    evs.append({"type": "like", "n": 12345, "viewer": "fan-one-1"})
    assert srv.post_events(s, evs).json() == {"accepted": 4, "rejected": 0}
    srv.wait_totals(s, {"views": 3, "likes": 12345}, settle=0)
    clock.set(base + 62)
    evs = [{"type": "view", "viewer": "viewer-%02d" % i} for i in (3, 4)]
    evs += [{"type": "like", "n": 3, "viewer": "fan-two-2", "source": "bili"},
            {"type": "shares", "n": 2, "viewer": "fan-two-2"}]
    assert srv.post_events(s, evs).json() == {"accepted": 4, "rejected": 0}
    srv.wait_totals(s, {"views": 5, "likes": 12348}, settle=0)
    clock.set(base + 122)
    # Over the viewer's budget (refused whole: 20000 taps dropped, one
    # event rejected) and two invalid events.
    evs = [{"type": "like", "n": 20000, "viewer": "fan-one-1"}, {"type": "bogus"},
           {"type": "like", "n": 0}]
    assert srv.post_events(s, evs).json() == {"accepted": 0, "rejected": 3}
    # A view in the same minute carries the refusals' batch along anyway.
    assert srv.post_events(s, {"type": "view", "viewer": "viewer-05"}).status == 202
    srv.wait_totals(s, {"views": 6}, settle=0)
    h.wait_until(lambda: report(srv, s).json()["method"]["rejected_events"] == 3, 5,
                 desc="refusals counted")
    clock.set(base + 150)
    return srv, s, base, clock


def test_report_numbers_equal_totals_and_minutes(filled):
    srv, s, base, _ = filled
    r = report(srv, s)
    assert r.status == 200, r
    h.assert_json_content_type(r)
    check_digest(r)
    body = r.json()
    assert list(body)[-1] == "sha256"
    assert body["sha256"] == json_sha256_rule(r.body)
    t = srv.totals(s)
    assert body["totals"]["views"] == t["views"] == 6
    assert body["totals"]["likes"] == t["likes"] == 12348
    assert body["totals"]["counters"]["shares"] == 2
    assert body["stream"] == s and body["tz"] == "UTC" and body["locale"] == "en"
    assert body["segments"] == []
    srcs = {x["source"]: x for x in body["sources"]}
    assert srcs["bili"]["counted_here"] == {"views": 1, "likes": 3}
    assert srcs["bili"]["partner_reported"] is None
    assert sum(x["counted_here"]["views"] for x in body["sources"]) == 6
    pm = body["per_minute"]
    assert pm["step"] == 60 and pm["columns"] == ["t", "views", "likes", "uniques", "online"]
    pts = pm["points"]
    assert pts[0][0] == base
    assert [p[0] for p in pts] == list(range(base, base + 60 * len(pts), 60))
    assert sum(p[1] for p in pts) == 6 and sum(p[2] for p in pts) == 12348
    assert [p[1] for p in pts[:3]] == [3, 2, 1]
    assert [p[2] for p in pts[:3]] == [12345, 3, 0]
    m = body["method"]
    assert m["dedup_seconds"] > 0
    assert m["like_budgets"]["per_viewer"] == {"rate_per_second": 1, "burst": 20000}
    assert m["dropped_taps"] == 20000 and m["rejected_events"] == 3
    assert body["peak"]["online"] == t["peak_online"]


def test_refusals_are_per_stream(filled):
    srv, s, _, _ = filled
    assert srv.post_events("report-other", {"type": "view", "viewer": "viewer-x"}).status == 202
    srv.wait_totals("report-other", {"views": 1}, settle=0.3)
    m = report(srv, "report-other").json()["method"]
    assert (m["dropped_taps"], m["rejected_events"]) == (0, 0)
    assert report(srv, s).json()["method"]["rejected_events"] == 3


def test_live_report_is_fresh(filled):
    srv, s, _, _ = filled
    a = report(srv, s).json()["generated_at"]
    time.sleep(0.05)
    b = report(srv, s).json()["generated_at"]
    assert a != b


def test_csv_tz_and_locale(filled):
    srv, s, base, _ = filled
    r = report(srv, s, "?format=csv&tz=Asia/Shanghai")
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/csv")
    assert "report-1-report.csv" in r.header("Content-Disposition")
    check_digest(r)
    assert b"\r\n" in r.body
    rows = list(csv.DictReader(io.StringIO(r.body.decode("utf-8"), newline="")))
    assert list(rows[0]) == ["section", "key", "time", "value", "views", "likes", "uniques",
                             "online"]
    by = {(x["section"], x["key"]): x for x in rows}
    assert by[("report", "tz")]["value"] == "Asia/Shanghai"
    assert by[("totals", "views")]["value"] == "6"
    assert by[("totals", "likes")]["value"] == "12348"
    assert by[("method", "dropped_taps")]["value"] == "20000"
    assert by[("method", "rejected_events")]["value"] == "3"
    assert by[("source_counted_here", "bili")]["likes"] == "3"
    minutes = [x for x in rows if x["section"] == "minute"]
    assert sum(int(x["views"]) for x in minutes) == 6
    assert sum(int(x["likes"]) for x in minutes) == 12348
    assert minutes[0]["key"] == str(base)
    assert minutes[0]["time"].endswith("+08:00")
    j = report(srv, s, "?tz=Asia/Shanghai&locale=zh-CN").json()
    assert j["tz"] == "Asia/Shanghai" and j["locale"] == "zh-CN"
    assert j["totals"]["display"]["likes"] == "1万+"
    html = report(srv, s, "?format=html&locale=zh-CN&tz=Asia/Shanghai")
    assert html.status == 200 and html.header("Content-Type").startswith("text/html")
    check_digest(html)
    text = html.body.decode("utf-8")
    assert "12,348 (1万+)" in text and "<svg" in text and "<script" not in text
    assert "+08:00" in text
    assert_words(text, chinese=True)
    assert "<th>观看次数</th>" in text and "；时区：Asia/Shanghai。" in text
    en = report(srv, s, "?format=html").body.decode("utf-8")
    assert "12,348 (12K+)" in en
    assert_words(en, chinese=False)
    # The machine formats keep their English keys whatever the locale.
    assert report(srv, s, "?format=csv&locale=zh-CN").body.startswith(
        b"section,key,time,value,views,likes,uniques,online\r\n")


def test_title_is_escaped(filled):
    srv, s, _, _ = filled
    title = "<b>\"Q&A\"</b>, 开幕"
    assert srv.put_stream(s, {"title": title}, token=OPERATOR_TOKEN).status == 200
    text = report(srv, s, "?format=html").body.decode("utf-8")
    assert "<b>" not in text and "&lt;b&gt;&quot;Q&amp;A&quot;&lt;/b&gt;, 开幕" in text
    # In Chinese too: the words change, the escaping does not.
    r = report(srv, s, "?format=html&locale=zh-CN&tz=Asia/Shanghai")
    assert r.status == 200, r
    check_digest(r)
    text = r.body.decode("utf-8")
    assert "<b>" not in text
    assert "<title>直播数据报告：&lt;b&gt;&quot;Q&amp;A&quot;&lt;/b&gt;, 开幕</title>" in text
    assert "<h1>&lt;b&gt;&quot;Q&amp;A&quot;&lt;/b&gt;, 开幕</h1>" in text
    assert_words(text, chinese=True)
    rows = list(csv.reader(io.StringIO(report(srv, s, "?format=csv").body.decode(), newline="")))
    assert ["report", "title", "", title, "", "", "", ""] in rows


def test_frozen_once_ended(filled, lt):
    srv, s, _, clock = filled
    assert srv.put_stream(s, {"status": "ended"}, token=OPERATOR_TOKEN).status == 200
    variants = ["", "?format=csv", "?format=html&locale=zh-CN-W&tz=Asia/Shanghai",
                "?format=html"]
    first = {}
    for q in variants:
        r = report(srv, s, q)
        assert r.status == 200, r
        check_digest(r)
        first[q] = (r.body, r.header("Repr-Digest"))
    body = json.loads(first[""][0])
    assert body["totals"]["status"] == "ended"
    assert body["sha256"] == json_sha256_rule(first[""][0])
    # Each locale's HTML is frozen in its own words.
    assert_words(first["?format=html&locale=zh-CN-W&tz=Asia/Shanghai"][0].decode(), chinese=True)
    assert "状态：已结束" in first["?format=html&locale=zh-CN-W&tz=Asia/Shanghai"][0].decode()
    assert_words(first["?format=html"][0].decode(), chinese=False)
    time.sleep(1.1)
    clock.set(time.time() + 3600)
    for q in variants:
        r = report(srv, s, q)
        assert (r.body, r.header("Repr-Digest")) == first[q]
    # Another variant is frozen when first asked, on its own.
    other = report(srv, s, "?tz=Europe/Berlin")
    assert other.status == 200 and other.json()["tz"] == "Europe/Berlin"
    # Events are refused (409) and the frozen bytes stay.
    assert srv.post_events(s, {"type": "view", "viewer": "late-viewer"}).status == 409
    srv.stop()
    again = lt(CONFIG, env=clock.env(), operator=True)
    for q in variants:
        r = report(again, s, q)
        assert (r.body, r.header("Repr-Digest")) == first[q]


def test_bad_parameters_and_unknown_stream(filled):
    srv, s, _, _ = filled
    h.assert_error(report(srv, "no-such-stream"), 404, "unknown_stream")
    for q in ("?format=pdf", "?format=", "?tz=Mars/Olympus", "?tz=../etc/passwd",
              "?locale=fr", "?locale=xx-YY"):
        r = report(srv, s, q)
        h.assert_error(r, 400, "bad_request")
    h.assert_error(report(srv, "bad%20id"), 400)


def test_websocket_refusals_counted_per_stream(lt):
    """Taps a socket's like budget drops (WebSocket drops the excess and
    counts the rest) and a message that fails validation count in the
    stream's own report."""
    srv = lt({"likes.burst": 10, "likes.rate_per_second": 1})
    with h.ws_connect(srv, "/v1/streams/ws-report/ws?viewer=viewer-wsr-0001") as c:
        c.wait_totals()
        c.send_json({"type": "like", "n": 8})
        c.send_json({"type": "like", "n": 8})  # 2 fit, 6 dropped
        c.wait_error("rate_limited")
        c.send_json({"type": "like", "n": 0})  # invalid: rejected
        c.wait_error("bad_message")
    srv.wait_totals("ws-report", {"likes": 10}, settle=0)
    h.wait_until(lambda: report(srv, "ws-report").json()["method"]["rejected_events"] == 1, 5,
                 desc="the invalid message counted")
    m = report(srv, "ws-report").json()["method"]
    assert (m["dropped_taps"], m["rejected_events"]) == (6, 1)
