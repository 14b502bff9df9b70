"""Ingest (issue 2, point 5): POST /v1/streams/{id}/events exactly as the
contract says, counters, view dedup, uniques, like bounds and budgets,
auto_create false with operator PUT, ended streams, and exact totals from
16 concurrent clients."""

import json
import random
import threading
import time

import pytest

import ltharness as h
from conftest import OPERATOR_TOKEN


def ev(type_, n=None, viewer=None, source=None):
    e = {"type": type_}
    if n is not None:
        e["n"] = n
    if viewer is not None:
        e["viewer"] = viewer
    if source is not None:
        e["source"] = source
    return e


def vid(i, prefix="viewer"):
    return "%s-%06d" % (prefix, i)


# ---------------------------------------------------------------------------
# the request


def test_single_object_and_array(lt):
    srv = lt()
    r = srv.post_events("ev-1", ev("like", 3, viewer=vid(1)))
    assert r.status == 202, r
    h.assert_json_content_type(r)
    assert r.json() == {"accepted": 1, "rejected": 0}
    r = srv.post_events("ev-1", [ev("view", viewer=vid(1)), ev("like", viewer=vid(2)),
                                 ev("view", viewer=vid(2), source="app")])
    assert r.status == 202, r
    assert r.json() == {"accepted": 3, "rejected": 0}
    r = srv.post_events("ev-1", [])
    assert r.status == 202, r
    assert r.json() == {"accepted": 0, "rejected": 0}
    srv.wait_totals("ev-1", {"views": 2, "likes": 4, "sources.direct.views": 1,
                             "sources.direct.likes": 4, "sources.app.views": 1,
                             "sources.app.likes": 0})


def test_n_defaults_to_one(lt):
    srv = lt()
    assert srv.post_events("ev-n1", [ev("like", viewer=vid(1)), ev("like", viewer=vid(2))]).json() \
        == {"accepted": 2, "rejected": 0}
    srv.wait_totals("ev-n1", {"likes": 2})


@pytest.mark.parametrize("ctype", ["text/plain", "text/plain;charset=UTF-8",
                                   "application/json; charset=utf-8", "Application/JSON"])
def test_accepted_content_types(lt, ctype):
    srv = lt()
    r = srv.post_events("ev-ct", ev("like", 2, viewer=vid(7)), content_type=ctype)
    assert r.status == 202, r
    assert r.json() == {"accepted": 1, "rejected": 0}
    srv.wait_totals("ev-ct", {"likes": 2})


@pytest.mark.parametrize("ctype", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                   "application/xml", "text/html"])
def test_other_content_types_415(lt, ctype):
    srv = lt()
    assert srv.post_events("ev-415", ev("view", viewer=vid(1))).status == 202
    r = srv.post_events("ev-415", ev("like", viewer=vid(2)), content_type=ctype)
    h.assert_error(r, 415, "unsupported_media_type")
    srv.wait_totals("ev-415", {"likes": 0, "views": 1})


@pytest.mark.parametrize("body", [b"{nope", b"", b"[1,", b"\xff\xfe", b"{\"type\":\"like\"} x",
                                  b"{\"type\":\"like\",}"])
def test_not_json_400_bad_json(lt, body):
    srv = lt()
    r = srv.post_events("ev-badjson", body)
    h.assert_error(r, 400, "bad_json")


@pytest.mark.parametrize("body", [b"42", b"\"like\"", b"null", b"true"])
def test_json_not_object_or_array_400(lt, body):
    srv = lt()
    r = srv.post_events("ev-notobj", body)
    h.assert_error(r, 400, {"bad_json", "bad_request", "bad_event"})


def test_batch_over_1000_events_413(lt):
    srv = lt()
    ok = [ev("view")] * 1000
    r = srv.post_events("ev-1000", ok)
    assert r.status == 202, r
    assert r.json() == {"accepted": 1000, "rejected": 0}
    r = srv.post_events("ev-1000", [ev("view")] * 1001)
    h.assert_error(r, 413, "too_large")


def test_body_over_64k_413(lt):
    srv = lt()
    assert srv.post_events("ev-64k", ev("view", viewer=vid(1))).status == 202
    body = json.dumps(ev("like", viewer=vid(2))).encode()
    r = srv.post_events("ev-64k", body + b" " * (65536 - len(body)))
    assert r.status == 202, r
    r = srv.post_events("ev-64k", body + b" " * (65537 - len(body)))
    h.assert_error(r, 413, "too_large")
    srv.wait_totals("ev-64k", {"views": 1, "likes": 1})


BAD_EVENTS = [
    ev("nope"),
    {"n": 1},
    {"type": 5},
    ev("like", 0, viewer=vid(900)),
    ev("like", -1, viewer=vid(901)),
    ev("like", 1.5, viewer=vid(902)),
    ev("like", 51, viewer=vid(903)),
    ev("like", "2", viewer=vid(904)),
    ev("like", True, viewer=vid(906)),
    ev("like", 2 ** 53, viewer=vid(907)),
    ev("view", viewer="short"),
    ev("view", viewer="v" * 65),
    ev("view", viewer="bad viewer!"),
    ev("view", viewer="viewer-ü-0001"),
    {"type": "view", "viewer": 12345678},
    ev("like", source="UPPER", viewer=vid(908)),
    ev("like", source="s" * 33, viewer=vid(909)),
    ev("like", source="bad source", viewer=vid(910)),
    ev("like", source="", viewer=vid(911)),
    5,
    None,
    "like",
    [ev("like")],
]


def test_bad_events_in_batch_counted_in_rejected(lt):
    srv = lt()
    good = [ev("view", viewer=vid(1)), ev("like", 3, viewer=vid(2)), ev("like", 50, viewer=vid(3))]
    batch = [good[0]] + BAD_EVENTS[:12] + [good[1]] + BAD_EVENTS[12:] + [good[2]]
    r = srv.post_events("ev-bad", batch)
    assert r.status == 202, r
    assert r.json() == {"accepted": 3, "rejected": len(BAD_EVENTS)}, r
    srv.wait_totals("ev-bad", {"views": 1, "likes": 53})


@pytest.mark.parametrize("bad", [b for b in BAD_EVENTS if isinstance(b, dict)],
                         ids=lambda b: json.dumps(b)[:40])
def test_single_bad_event(lt, bad):
    """A single bad object: 202 with rejected 1, or 400 bad_event; either
    way nothing is counted. (A body that is not an object or array is
    test_json_not_object_or_array_400.)"""
    srv = lt()
    assert srv.post_events("ev-bad1", ev("view", viewer=vid(1))).status == 202
    srv.wait_totals("ev-bad1", {"views": 1, "likes": 0})
    r = srv.post_events("ev-bad1", bad)
    if r.status == 202:
        assert r.json() == {"accepted": 0, "rejected": 1}, r
    else:
        h.assert_error(r, 400, "bad_event")
    # A later good event is counted alone (nothing of the bad one rode along).
    assert srv.post_events("ev-bad1", ev("like", 2, viewer=vid(2))).status == 202
    srv.wait_totals("ev-bad1", {"views": 1, "likes": 2}, settle=0.1)


@pytest.mark.parametrize("stream", [".hidden", "bad!id", "a" * 65, "has%20space", "%2e%2e", "caf%C3%A9"])
def test_malformed_stream_id_400(lt, stream):
    srv = lt()
    r = srv.post_events(stream, ev("view", viewer=vid(1)))
    h.assert_error(r, 400, "bad_stream_id")
    r = srv.get("/v1/streams/" + stream)
    h.assert_error(r, 400, "bad_stream_id")


@pytest.mark.parametrize("stream", ["a", "A.b-c_9", "x" * 64, "ganzhou-2022-07-16"])
def test_valid_stream_ids(lt, stream):
    srv = lt()
    r = srv.post_events(stream, ev("like", viewer=vid(1)))
    assert r.status == 202, r
    t = srv.wait_totals(stream, {"likes": 1})
    assert t["stream"] == stream


def test_configured_counters(lt):
    srv = lt({"counters": ["shares", "gifts"]})
    r = srv.post_events("ev-ctr", [ev("shares", viewer=vid(1)), ev("shares", 4, viewer=vid(2)),
                                   ev("gifts", 2, viewer=vid(3)), ev("downloads", viewer=vid(4)),
                                   ev("shares", 0, viewer=vid(5)), ev("shares", 51, viewer=vid(6))])
    assert r.status == 202, r
    assert r.json() == {"accepted": 3, "rejected": 3}
    srv.wait_totals("ev-ctr", {"counters.shares": 5, "counters.gifts": 2, "likes": 0, "views": 0})


def test_unconfigured_counter_rejected(lt):
    srv = lt()
    r = srv.post_events("ev-ctr2", [ev("shares", viewer=vid(1)), ev("like", viewer=vid(1))])
    assert r.status == 202, r
    assert r.json() == {"accepted": 1, "rejected": 1}
    t = srv.wait_totals("ev-ctr2", {"likes": 1})
    assert "shares" not in (t.get("counters") or {})


# ---------------------------------------------------------------------------
# views, uniques


def test_view_dedup_window(lt):
    srv = lt({"views.dedup_seconds": 1})
    viewer = vid(42)
    r = srv.post_events("ev-dedup", ev("view", viewer=viewer))
    assert r.json() == {"accepted": 1, "rejected": 0}
    r = srv.post_events("ev-dedup", ev("view", viewer=viewer))
    assert r.status == 202 and r.json() == {"accepted": 1, "rejected": 0}, \
        "a view within the dedup window is accepted (adds no view): %r" % r
    srv.wait_totals("ev-dedup", {"views": 1, "uniques": 1})
    time.sleep(1.3)
    r = srv.post_events("ev-dedup", ev("view", viewer=viewer))
    assert r.json() == {"accepted": 1, "rejected": 0}
    srv.wait_totals("ev-dedup", {"views": 2, "uniques": 1})
    # Another viewer is not deduplicated against the first.
    srv.post_events("ev-dedup", ev("view", viewer=vid(43)))
    srv.wait_totals("ev-dedup", {"views": 3, "uniques": 2})


def test_view_dedup_is_per_stream(lt):
    srv = lt()
    for s in ("ev-ds-a", "ev-ds-b"):
        assert srv.post_events(s, [ev("view", viewer=vid(1)), ev("view", viewer=vid(1))]).status == 202
    srv.wait_totals("ev-ds-a", {"views": 1})
    srv.wait_totals("ev-ds-b", {"views": 1})


def test_view_dedup_default_window_within_a_batch(lt):
    srv = lt()
    r = srv.post_events("ev-ddb", [ev("view", viewer=vid(1))] * 5 + [ev("view", viewer=vid(2))] * 3)
    assert r.json() == {"accepted": 8, "rejected": 0}
    srv.wait_totals("ev-ddb", {"views": 2, "uniques": 2})


def test_uniques_estimate_within_one_percent(lt):
    srv = lt()
    n = 3000
    ids = [vid(i, "uq") for i in range(n)]
    with srv.conn() as c:
        for start in range(0, n, 300):
            r = c.post_json("/v1/streams/ev-uq/events", [ev("view", viewer=v) for v in ids[start:start + 300]])
            assert r.status == 202 and r.json() == {"accepted": 300, "rejected": 0}, r
        # Repeat views add no uniques (and, within the window, no views).
        r = c.post_json("/v1/streams/ev-uq/events", [ev("view", viewer=v) for v in ids[:300]])
        assert r.json() == {"accepted": 300, "rejected": 0}
    t = srv.wait_totals("ev-uq", {"views": n}, timeout=10)
    assert abs(t["uniques"] - n) <= n * 0.01, "uniques %d for %d viewers" % (t["uniques"], n)


# ---------------------------------------------------------------------------
# likes: bounds and budget


def test_like_bounds_from_config(lt):
    srv = lt({"likes.max_per_message": 5})
    r = srv.post_events("ev-lb", [ev("like", 5, viewer=vid(1)), ev("like", 6, viewer=vid(2)),
                                  ev("like", 1, viewer=vid(3))])
    assert r.json() == {"accepted": 2, "rejected": 1}, r
    srv.wait_totals("ev-lb", {"likes": 6})


def test_like_budget_of_named_viewer(lt):
    srv = lt({"likes.burst": 10, "likes.rate_per_second": 1, "likes.max_per_message": 50})
    viewer = vid(77)
    r = srv.post_events("ev-bud", ev("like", 10, viewer=viewer))
    assert r.status == 202 and r.json() == {"accepted": 1, "rejected": 0}, \
        "a full bucket of 10 takes n=10: %r" % r
    # Single event over budget: 429 rate_limited with Retry-After.
    r = srv.post_events("ev-bud", ev("like", 5, viewer=viewer))
    h.assert_error(r, 429, "rate_limited")
    ra = r.header("retry-after")
    assert ra is not None and ra.strip().isdigit() and int(ra) >= 1, r
    # Inside an array: counted in rejected, the other viewer's like kept.
    r = srv.post_events("ev-bud", [ev("like", 5, viewer=viewer), ev("like", 1, viewer=vid(78))])
    assert r.status == 202 and r.json() == {"accepted": 1, "rejected": 1}, r
    srv.wait_totals("ev-bud", {"likes": 11})
    # The bucket refills at 1/s.
    time.sleep(2.3)
    r = srv.post_events("ev-bud", ev("like", 2, viewer=viewer))
    assert r.status == 202 and r.json() == {"accepted": 1, "rejected": 0}, r
    srv.wait_totals("ev-bud", {"likes": 13})


def test_like_over_budget_rejected_whole(lt):
    """burst 10: n=7 leaves 3; n=5 is refused whole (not 3 of 5), so n=3
    still fits afterwards."""
    srv = lt({"likes.burst": 10, "likes.rate_per_second": 1})
    viewer = vid(88)
    assert srv.post_events("ev-whole", ev("like", 7, viewer=viewer)).status == 202
    r = srv.post_events("ev-whole", [ev("like", 5, viewer=viewer)])
    assert r.json() == {"accepted": 0, "rejected": 1}, r
    r = srv.post_events("ev-whole", [ev("like", 3, viewer=viewer)])
    assert r.json() == {"accepted": 1, "rejected": 0}, r
    srv.wait_totals("ev-whole", {"likes": 10})


def test_like_budget_is_per_viewer(lt):
    srv = lt({"likes.burst": 10, "likes.rate_per_second": 1})
    r = srv.post_events("ev-pv", [ev("like", 10, viewer=vid(i)) for i in range(20)])
    assert r.json() == {"accepted": 20, "rejected": 0}, r
    srv.wait_totals("ev-pv", {"likes": 200})


# ---------------------------------------------------------------------------
# auto_create false, operator PUT, ended streams


def test_auto_create_false_and_operator_put(lt):
    srv = lt({"streams.auto_create": False}, operator=True)
    r = srv.post_events("op-1", ev("like", viewer=vid(1)))
    h.assert_error(r, 404, "unknown_stream")
    h.assert_error(srv.get("/v1/streams/op-1"), 404, "unknown_stream")

    r = srv.put_stream("op-1", {"title": "Opening", "series": "tour-x", "status": "live"},
                       token=OPERATOR_TOKEN)
    assert 200 <= r.status < 300, r
    r = srv.post_events("op-1", [ev("like", 4, viewer=vid(1)), ev("view", viewer=vid(1))])
    assert r.status == 202 and r.json() == {"accepted": 2, "rejected": 0}, r
    t = srv.wait_totals("op-1", {"likes": 4, "views": 1})
    assert t["title"] == "Opening" and t["series"] == "tour-x" and t["status"] == "live", t

    # The second configured token works too.
    r = srv.put_stream("op-2", {"status": "scheduled"}, token="op-token-2")
    assert 200 <= r.status < 300, r
    r = srv.post_events("op-2", ev("like", viewer=vid(1)))
    assert r.status == 202, "events for a scheduled stream count: %r" % r
    srv.wait_totals("op-2", {"likes": 1, "status": "scheduled"})


def test_put_updates_only_named_fields(lt):
    srv = lt(operator=True)
    assert srv.put_stream("op-p", {"title": "A", "series": "tour-p", "status": "scheduled"},
                          token=OPERATOR_TOKEN).status < 300
    assert srv.put_stream("op-p", {"status": "live"}, token=OPERATOR_TOKEN).status < 300
    t = srv.totals("op-p")
    assert (t["title"], t["series"], t["status"]) == ("A", "tour-p", "live"), t
    assert srv.put_stream("op-p", {"title": "B"}, token=OPERATOR_TOKEN).status < 300
    t = srv.totals("op-p")
    assert (t["title"], t["series"], t["status"]) == ("B", "tour-p", "live"), t


def test_put_auth(lt):
    # Tokens configured: a missing, malformed or wrong one is 401 with
    # WWW-Authenticate (tests/integration/test_auth.py has every case).
    srv = lt(operator=True)
    h.assert_error(srv.put_stream("op-a", {"title": "x"}), 401, "unauthorized")
    r = srv.put_stream("op-a", {"title": "x"}, token="wrong-token")
    h.assert_error(r, 401, "unauthorized")
    r = srv.put_stream("op-a", {"title": "x"}, headers=[("Authorization", "Basic b3A6dG9rZW4=")])
    h.assert_error(r, 401, "unauthorized")
    # A token that only starts like a good one is not good.
    r = srv.put_stream("op-a", {"title": "x"}, token=OPERATOR_TOKEN + "x")
    h.assert_error(r, 401, "unauthorized")
    r = srv.put_stream("op-a", {"title": "x"}, token=OPERATOR_TOKEN[:-1])
    h.assert_error(r, 401, "unauthorized")
    # None of that created the stream.
    h.assert_error(srv.get("/v1/streams/op-a"), 404, "unknown_stream")


def test_put_without_configured_tokens_403(lt):
    srv = lt()  # LIVETALLY_OPERATOR_TOKENS unset: 403 whatever the header
    r = srv.put_stream("op-none", {"title": "x"}, token="anything")
    h.assert_error(r, 403, "forbidden")
    r = srv.put_stream("op-none", {"title": "x"}, token="")
    h.assert_error(r, 403, "forbidden")
    r = srv.put_stream("op-none", {"title": "x"})
    h.assert_error(r, 403, "forbidden")


def test_put_bad_bodies(lt):
    srv = lt(operator=True)
    for body in ({"status": "paused"}, {"title": 5}, {"series": "bad series!"}):
        r = srv.put_stream("op-bad", body, token=OPERATOR_TOKEN)
        h.assert_error(r, 400)
    r = srv.request("PUT", "/v1/streams/op-bad", body=b"{nope",
                    headers=[("Content-Type", "application/json"),
                             ("Authorization", "Bearer " + OPERATOR_TOKEN)])
    h.assert_error(r, 400, "bad_json")


def test_ended_stream_409_and_totals_stay(lt):
    srv = lt(operator=True)
    assert srv.post_events("op-end", [ev("like", 3, viewer=vid(1)), ev("view", viewer=vid(1))]).status == 202
    srv.wait_totals("op-end", {"likes": 3, "views": 1})
    r = srv.put_stream("op-end", {"status": "ended"}, token=OPERATOR_TOKEN)
    assert 200 <= r.status < 300, r

    def refused():
        r = srv.post_events("op-end", ev("like", viewer=vid(2)))
        return r if r.status == 409 else None
    r = h.wait_until(refused, 2.0, interval=0.05, desc="409 after ending the stream")
    h.assert_error(r, 409, "stream_ended")
    # Anything accepted before the end became known (< 1 s) still counts;
    # now nothing more is.
    time.sleep(0.2)
    before = srv.totals("op-end")
    for batch in ([ev("like", 5, viewer=vid(3))], [ev("view", viewer=vid(4))],
                  ev("view", viewer=vid(5))):
        h.assert_error(srv.post_events("op-end", batch), 409, "stream_ended")
    time.sleep(0.3)
    after = srv.totals("op-end")
    assert after["status"] == "ended", after
    assert (after["likes"], after["views"]) == (before["likes"], before["views"]), (before, after)


# ---------------------------------------------------------------------------
# exact totals under concurrency


def test_exact_totals_from_16_concurrent_clients(lt):
    # The 16 clients share 127.0.0.1: a per-client budget that holds all
    # their likes (about 75,000), so that every event is accepted.
    srv = lt({"workers": 2, "counters": ["shares"], "likes.per_client_burst": 1000000})
    stream = "ev-conc"
    sources = ["direct", "app", "wutongcun"]
    results = [None] * 16
    errors = []

    def client(k):
        rnd = random.Random(1000 + k)
        mine = {"views": 0, "likes": 0, "shares": 0}
        per_source = {s: {"views": 0, "likes": 0} for s in sources}
        try:
            with srv.conn(timeout=10) as c:
                for i in range(200):
                    batch = []
                    for j in range(rnd.randint(1, 3)):
                        viewer = "c%02d-r%03d-e%d" % (k, i, j)
                        src = rnd.choice(sources)
                        kind = rnd.random()
                        if kind < 0.45:
                            e = ev("like", rnd.randint(1, 50), viewer=viewer)
                        elif kind < 0.9:
                            e = ev("view", viewer=viewer)
                        else:
                            e = ev("shares", rnd.randint(1, 3), viewer=viewer)
                        if src != "direct" or rnd.random() < 0.5:
                            e["source"] = src
                        batch.append(e)
                    body = batch if len(batch) > 1 or rnd.random() < 0.5 else batch[0]
                    ctype = "text/plain" if rnd.random() < 0.2 else "application/json"
                    r = c.post_json("/v1/streams/%s/events" % stream, body, content_type=ctype)
                    if r.status != 202 or r.json() != {"accepted": len(batch), "rejected": 0}:
                        errors.append((k, i, batch, r))
                        return
                    for e in batch:
                        src = e.get("source", "direct")
                        if e["type"] == "like":
                            mine["likes"] += e["n"]
                            per_source[src]["likes"] += e["n"]
                        elif e["type"] == "view":
                            mine["views"] += 1
                            per_source[src]["views"] += 1
                        else:
                            mine["shares"] += e["n"]
            results[k] = (mine, per_source)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append((k, repr(exc)))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "clients still running after 60 s"
    assert not errors, errors[:3]

    expect = {"views": 0, "likes": 0, "counters.shares": 0}
    for s in sources:
        expect["sources.%s.views" % s] = 0
        expect["sources.%s.likes" % s] = 0
    for mine, per_source in results:
        expect["views"] += mine["views"]
        expect["likes"] += mine["likes"]
        expect["counters.shares"] += mine["shares"]
        for s in sources:
            expect["sources.%s.views" % s] += per_source[s]["views"]
            expect["sources.%s.likes" % s] += per_source[s]["likes"]
    srv.wait_totals(stream, expect, timeout=10, settle=0.5)


def test_view_dedup_across_workers(lt):
    """Dedup state is shared: the same viewer through many connections
    (spread over both workers) counts once."""
    srv = lt({"workers": 2})
    for i in range(12):
        r = srv.post_events("ev-dedup-w2", ev("view", viewer="viewer-shared-01"))
        assert r.status == 202, r
    srv.wait_totals("ev-dedup-w2", {"views": 1, "uniques": 1}, settle=0.3)
