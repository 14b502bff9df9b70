"""config/grafana-livetally.json against a running server (issue 10, point 4):
every livetally_* name the dashboard's queries use (panel targets and
template variables) is a sample name in GET /metrics (a histogram by its
_bucket, _sum and _count samples), histogram_quantile reads only the _bucket
series of a histogram, and the dashboard is one Grafana can import (a
Prometheus datasource variable, unique panel ids, every panel on it)."""

import json
import os
import re

import ltharness as h
from conftest import SOURCE_DIR

DASHBOARD = os.path.join(SOURCE_DIR, "config", "grafana-livetally.json")
NAME = re.compile(r"\blivetally_[a-zA-Z0-9_]+")


def quantile_args(q):
    """The argument text of every histogram_quantile(...) call in q."""
    out = []
    start = q.find("histogram_quantile(")
    while start >= 0:
        i = start + len("histogram_quantile(")
        depth = 1
        j = i
        while depth and j < len(q):
            depth += {"(": 1, ")": -1}.get(q[j], 0)
            j += 1
        out.append(q[i:j - 1])
        start = q.find("histogram_quantile(", j)
    return out


def load_dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def queries(dash):
    """(where, PromQL) of every query: panel targets and query variables."""
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append(("panel %r target %s" % (p["title"], t.get("refId")), t["expr"]))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            out.append(("variable %r" % v["name"], q))
    return out


def exposed(srv):
    """Sample names of GET /metrics (labels stripped) and the TYPE of each
    declared name."""
    r = srv.get("/metrics")
    assert r.status == 200, r
    samples, types = set(), {}
    for line in r.body.decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name] = kind
        elif line and not line.startswith("#"):
            samples.add(re.split(r"[{ ]", line, 1)[0])
    return samples, types


def test_dashboard_is_importable():
    dash = load_dashboard()
    assert dash["title"] and dash["uid"] and isinstance(dash["schemaVersion"], int)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    ds = variables["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus", ds
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), ids
    graphs = [p for p in dash["panels"] if p["type"] != "row"]
    assert len(graphs) >= 10
    for p in graphs:
        assert p["title"] and p["targets"], p
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), (p["title"], refs)
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24 and g["w"] > 0 and g["h"] > 0, (p["title"], g)
    for where, q in queries(dash):
        depth = 0
        for c in q:
            depth += {"(": 1, ")": -1}.get(c, 0)
            assert depth >= 0, (where, q)
        assert depth == 0, "unbalanced parentheses in %s: %s" % (where, q)


def test_dashboard_shows_what_issue_10_asks_for():
    """The panels the issue lists, by the metrics they query (so none can be
    dropped to make the exposure test below pass)."""
    used = set()
    for _, q in queries(load_dashboard()):
        used.update(NAME.findall(q))
    wanted = {
        "livetally_events_accepted_total",                 # ingest rate
        "livetally_events_rejected_by_reason_total",       # rejections by reason
        "livetally_redis_flush_rtt_seconds_bucket",        # flush RTT quantiles
        "livetally_redis_batch_events_bucket",             # batch size
        "livetally_push_delay_seconds_bucket",             # push delay
        "livetally_redis_connected", "livetally_redis_pubsub_connected",
        "livetally_backlog_entries",
        "livetally_ws_connections_open", "livetally_sse_connections_open",
        "livetally_ws_dropped_slow_total", "livetally_sse_dropped_slow_total",
        "livetally_spool_bytes", "livetally_spool_oldest_unapplied_seconds",
        "livetally_spool_available",
    }
    assert wanted <= used, "missing from the dashboard: %s" % sorted(wanted - used)


def test_every_queried_metric_is_exposed(lt, redis):
    srv = lt()
    # Traffic first, though every name is exposed from the start (a
    # histogram with zero counts still has its buckets).
    assert srv.post_events("graf-1", {"type": "view", "viewer": "viewer-graf-1"}).status == 202
    srv.wait_totals("graf-1", {"views": 1})
    samples, types = exposed(srv)
    missing = []
    quantiles = 0
    for where, q in queries(load_dashboard()):
        for name in NAME.findall(q):
            if name not in samples:
                missing.append("%s (%s)" % (name, where))
        for inner in quantile_args(q):
            quantiles += 1
            names = NAME.findall(inner)
            assert names, (where, q)
            for name in names:
                assert name.endswith("_bucket"), (where, q)
                assert types.get(name[:-len("_bucket")]) == "histogram", (where, name)
    assert quantiles >= 3, "flush RTT, batch size and push delay quantiles"
    assert not missing, "queried by the dashboard, not in /metrics:\n  " + \
        "\n  ".join(sorted(set(missing)))
    # And histograms are whole: _bucket, _sum and _count together.
    for base, kind in types.items():
        if kind == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                assert base + suffix in samples, base + suffix
