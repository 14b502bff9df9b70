"""WebSocket message limits (issue 10, point 3): each socket's message budget
(limits.ws_messages_per_second, limits.ws_message_burst) answers messages over
it with rate_limited and does not act on them; after limits.ws_max_errors
counted error answers the socket is closed with 1008. Likes keep their own
budget (test_like_budgets.py); an operator's subscribe and unsubscribe are
exempt, so a dashboard still subscribes to operator.max_subscriptions streams
at once, with the defaults too."""

import time

import ltharness as h
from conftest import OPERATOR_TOKEN

FAST = {"push_interval_ms": 50}


def limits(**kw):
    cfg = dict(FAST)
    cfg.update({"limits." + k: v for k, v in kw.items()})
    return cfg


def answers(c, n, timeout=5.0):
    """The next n messages that are totals or errors (one answer each)."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        left = deadline - time.monotonic()
        assert left > 0, "%d answers of %d within %.1fs: %r" % (len(got), n, timeout, got[-5:])
        got.append(c.wait_message(lambda m: m.get("type") in ("totals", "error"), timeout=left))
    return got


def until_close(c, timeout=3.0):
    """The messages that come before the close frame, and its (code, reason)."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "no close within %.1fs: %r" % (timeout, got[-5:])
        try:
            got.append(c.recv_json(timeout=left))
        except h.WsClosed as e:
            return got, e.code, e.reason


def assert_open(c):
    """The socket still answers: a bad message gets its error."""
    c.send_text("still there?")
    assert c.wait_error()["code"] == "bad_message"


def test_subscribe_flood_is_rate_limited_and_the_socket_stays_usable(lt, redis):
    srv = lt(limits(ws_messages_per_second=2, ws_message_burst=10, ws_max_errors=1000))
    with h.ws_connect(srv, "/v1/ws") as c:
        for i in range(25):
            c.send_json({"type": "subscribe", "stream": "wsl-flood-%02d" % i})
        got = answers(c, 25)
        limited = [m for m in got if m["type"] == "error"]
        subscribed = sorted(m["stream"] for m in got if m["type"] == "totals")
        assert all(m["code"] == "rate_limited" for m in limited), limited
        assert "dropped" not in limited[0], limited[0]  # a subscribe carries no taps
        # The burst, and at most one more refilled while the 25 went out;
        # the first messages are the ones taken.
        assert 10 <= len(subscribed) <= 11, subscribed
        assert subscribed == ["wsl-flood-%02d" % i for i in range(len(subscribed))], subscribed
        assert h.metric(srv, "ws_messages_rate_limited_total") == len(limited)
        # A refused subscribe was not acted on: no pushes for it, while a
        # taken one gets its push.
        assert srv.post_events("wsl-flood-24", [{"type": "like", "viewer": "viewer-flood-1"}]).status == 202
        assert srv.post_events("wsl-flood-00", [{"type": "like", "viewer": "viewer-flood-2"}]).status == 202
        c.wait_totals(stream="wsl-flood-00", likes=1)
        later = c.quiet_for(0.3)
        assert not [m for m in later if m.get("stream") == "wsl-flood-24"], later
        # The bucket refills: after a second (2 tokens) a subscribe works again.
        time.sleep(1.0)
        c.send_json({"type": "subscribe", "stream": "wsl-flood-24"})
        m = c.wait_message(lambda m: m.get("type") in ("totals", "error"))
        assert m["type"] == "totals" and m["stream"] == "wsl-flood-24" and m["likes"] == 1, m
        assert c.close_frame is None


def test_1008_after_exactly_max_errors_bad_messages(lt, redis):
    srv = lt(limits(ws_max_errors=5))
    with h.ws_connect(srv, "/v1/ws") as c:
        bad = ["not json", "[1, 2]", '{"type": "dance"}',
               '{"type": "subscribe", "stream": ".hidden"}',
               '{"type": "like", "n": 0, "stream": "wsl-bad"}',
               # never answered: the socket closes after the fifth error
               '{"type": "nope"}', '{"type": "nope"}', "{"]
        for text in bad:
            c.send_text(text)
        got, code, reason = until_close(c)
        assert code == 1008, (code, reason)
        assert "bad messages" in reason, reason
        assert [m["code"] for m in got] == ["bad_message"] * 5, got
        assert c.wait_eof(3.0)
    assert h.metric(srv, "ws_closed_policy_total") == 1
    # The count is per socket: a new one starts from zero.
    with h.ws_connect(srv, "/v1/ws") as d:
        for _ in range(4):
            d.send_text("not json")
        for _ in range(4):
            assert d.wait_error()["code"] == "bad_message"
        d.send_json({"type": "subscribe", "stream": "wsl-fresh"})
        d.wait_totals(stream="wsl-fresh")
        assert d.close_frame is None


def test_refused_auth_counts_and_rate_limited_counts(lt, redis):
    srv = lt(limits(ws_max_errors=3), operator=True)
    with h.ws_connect(srv, "/v1/ws") as c:
        for _ in range(4):
            c.send_json({"type": "auth", "token": "guess-%d" % _})
        got, code, _reason = until_close(c)
        assert code == 1008
        assert [m["code"] for m in got] == ["unauthorized"] * 3, got
    srv2 = lt(limits(ws_messages_per_second=1, ws_message_burst=3, ws_max_errors=4))
    with h.ws_connect(srv2, "/v1/streams/wsl-views/ws") as c:
        c.wait_totals()
        for i in range(10):
            c.send_json({"type": "view", "viewer": "viewer-rl-%04d" % i})
        got, code, _reason = until_close(c)
        assert code == 1008
        errors = [m for m in got if m.get("type") == "error"]
        assert [m["code"] for m in errors] == ["rate_limited"] * 4, got
    # The three views in the budget were counted, the rest not.
    srv2.wait_totals("wsl-views", {"views": 3}, settle=0.3)
    assert h.metric(srv2, "ws_messages_rate_limited_total") == 4
    assert h.metric(srv2, "ws_closed_policy_total") == 1


def test_answers_in_normal_use_do_not_count(lt, redis):
    """too_many_subscriptions, unknown_stream and taps over the like budget
    are answers a well-behaved client may get: they never close it."""
    srv = lt(dict(limits(ws_max_errors=2), **{"likes.burst": 5, "likes.rate_per_second": 1,
                                               "streams.auto_create": False}), operator=True)
    assert srv.put_stream("wsl-normal", {"status": "live"}, token=OPERATOR_TOKEN).status in (200, 201)
    with h.ws_connect(srv, "/v1/streams/wsl-normal/ws?viewer=viewer-normal-1") as c:
        c.wait_totals()
        for _ in range(6):
            c.send_json({"type": "like", "n": 4})
        c.quiet_for(1.0)
        refused = [m for m in c.messages if m.get("type") == "error"]
        assert len(refused) >= 4 and {m["code"] for m in refused} == {"rate_limited"}, refused
        assert sum(m["dropped"] for m in refused) >= 24 - 5 - 1, refused
        assert_open(c)
        assert c.close_frame is None
    with h.ws_connect(srv, "/v1/ws") as d:
        for i in range(5):
            d.send_json({"type": "subscribe", "stream": "wsl-missing-%d" % i})
        assert [m["code"] for m in answers(d, 5)] == ["unknown_stream"] * 5
        assert_open(d)
        assert d.close_frame is None


def test_likes_over_the_message_budget_are_dropped_whole(lt, redis):
    """A like message over the socket's budget names its taps as dropped
    (the widget takes them back); the like budget still applies inside it."""
    srv = lt(dict(limits(ws_messages_per_second=1, ws_message_burst=3),
                  **{"likes.burst": 5, "likes.rate_per_second": 1}))
    with h.ws_connect(srv, "/v1/streams/wsl-likes/ws?viewer=viewer-likes-1") as c:
        c.wait_totals()
        c.send_json({"type": "like", "n": 2})  # 2 of the like budget's 5
        c.send_json({"type": "like", "n": 4})  # 3 taken, 1 dropped by the like budget
        c.send_json({"type": "view", "viewer": "viewer-likes-2"})  # the budget's third message
        c.send_json({"type": "like", "n": 3})  # over the message budget: 3 dropped
        c.send_json({"type": "like"})          # over it too: 1 dropped
        errors = [c.wait_error(timeout=3.0) for _ in range(3)]
        assert errors[0] == {"type": "error", "code": "rate_limited", "dropped": 1,
                             "message": errors[0]["message"]}, errors
        assert [(m["code"], m.get("dropped")) for m in errors[1:]] == \
            [("rate_limited", 3), ("rate_limited", 1)], errors
        assert "limits.ws_messages_per_second" in errors[1]["message"], errors[1]
    srv.wait_totals("wsl-likes", {"likes": 5, "views": 2}, settle=0.3)


def test_operator_socket_subscribes_to_its_max(lt, redis):
    cfg = dict(limits(ws_messages_per_second=1, ws_message_burst=4),
               **{"operator.max_subscriptions": 40})
    srv = lt(cfg, operator=True)
    with h.ws_connect(srv, "/v1/ws") as op:
        op.send_json({"type": "auth", "token": OPERATOR_TOKEN})
        op.wait_message(lambda m: m.get("type") == "auth")
        for i in range(41):
            op.send_json({"type": "subscribe", "stream": "wsl-op-%02d" % i})
        got = answers(op, 41)
        assert len({m["stream"] for m in got if m["type"] == "totals"}) == 40, got
        errors = [m["code"] for m in got if m["type"] == "error"]
        assert errors == ["too_many_subscriptions"], errors
        # Unsubscribing and subscribing again is exempt too.
        for i in range(20):
            op.send_json({"type": "unsubscribe", "stream": "wsl-op-%02d" % i})
        for i in range(20):
            op.send_json({"type": "subscribe", "stream": "wsl-op-%02d" % i})
        assert [m["type"] for m in answers(op, 20)] == ["totals"] * 20
        # Its other messages still spend the budget (3 tokens left after auth).
        for i in range(5):
            op.send_json({"type": "view", "stream": "wsl-op-00", "viewer": "viewer-op-%04d" % i})
        assert op.wait_error()["code"] == "rate_limited"
    # A viewer's socket with the same config is limited on its subscribes.
    with h.ws_connect(srv, "/v1/ws") as v:
        for i in range(8):
            v.send_json({"type": "subscribe", "stream": "wsl-op-%02d" % i})
        codes = [m.get("code") for m in answers(v, 8) if m["type"] == "error"]
        assert codes and set(codes) == {"rate_limited"}, codes


def test_defaults_let_a_dashboard_subscribe_to_1000_streams(lt, redis):
    """The defaults (and the browser tests' dashboard): one operator socket
    subscribing to operator.max_subscriptions (1000) streams on connect."""
    srv = lt(FAST, operator=True)
    with h.ws_connect(srv, "/v1/ws") as op:
        op.send_json({"type": "auth", "token": OPERATOR_TOKEN})
        for i in range(1000):
            op.send_json({"type": "subscribe", "stream": "wsl-dash-%04d" % i})
        got = answers(op, 1000, timeout=20.0)
        assert [m for m in got if m["type"] == "error"] == []
        assert len({m["stream"] for m in got}) == 1000
    assert h.metric(srv, "ws_messages_rate_limited_total") == 0
