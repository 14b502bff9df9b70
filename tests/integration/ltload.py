"""A steady mixed load of real clients for the fault suite (test_faults.py).

HTTP clients post events over keep-alive connections (single events and
small arrays of views and likes, every view from a fresh viewer so that each
one counts once within views.dedup_seconds) and WebSocket clients send likes
carrying an "id", which the server acknowledges with
{"type":"ack","id":..,"counted":N} once their taps are safe in the spool.

The load keeps two exact sums per kind (views, likes):

- accepted: events that an answer says were counted: the `accepted` events
  of every 202 (all of the request's events, or the load fails: with fresh
  viewers and wide budgets nothing is rejected) plus the `counted` taps of
  every WebSocket ack;
- unanswered: events whose outcome nobody told the client: requests sent on
  a connection that died (or timed out) before the answer came, and like ids
  still waiting for their ack when their socket died or the run ended.

So after the server has flushed, accepted <= totals <= accepted + unanswered
must hold whatever failed in between. A 503 (not_ready, overloaded,
spool_unavailable) is an answer that counted nothing. Any other answer (400,
500, a 202 with rejected events, an ack for an unknown id...) is an error
the test reports.

Clients reconnect when their connection dies (to the same address: tests
that restart the server give it a fixed port), pace themselves (each HTTP
connection at most `http_rate` requests a second, each socket `ws_rate`
likes a second, within limits.ws_messages_per_second), and every wait is
bounded. Only the standard library and ltharness.
"""

import json
import random
import socket
import threading
import time

import ltharness as h

# 503 codes that answer "not counted, try again later".
RETRY_CODES = {"not_ready", "overloaded", "spool_unavailable"}


class Tally:
    """Thread-safe sums of one run. accepted/unanswered are per kind."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = {"views": 0, "likes": 0}
        self.unanswered = {"views": 0, "likes": 0}
        self.stats = {"http_sent": 0, "http_202": 0, "http_unanswered": 0,
                      "ws_sent": 0, "ws_acked": 0, "ws_unanswered": 0, "ws_refused": 0,
                      "ws_connects": 0, "http_connects": 0}
        self.refusals = {}   # "http 503 overloaded" / "ws spool_unavailable" -> count
        self.errors = []     # unexpected answers, at most 20 kept
        self.accepted_at = []  # (monotonic time, events counted) of every positive answer

    def count_accepted(self, views, likes):
        with self.lock:
            self.accepted["views"] += views
            self.accepted["likes"] += likes
            if views or likes:
                self.accepted_at.append((time.monotonic(), views + likes))

    def count_unanswered(self, views, likes):
        with self.lock:
            self.unanswered["views"] += views
            self.unanswered["likes"] += likes

    def bump(self, key, n=1):
        with self.lock:
            self.stats[key] = self.stats.get(key, 0) + n

    def refused(self, what):
        with self.lock:
            self.refusals[what] = self.refusals.get(what, 0) + 1

    def error(self, what):
        with self.lock:
            if len(self.errors) < 20:
                self.errors.append(what)

    def accepted_between(self, t0, t1):
        """Events counted by answers that came between monotonic t0 and t1."""
        with self.lock:
            return sum(n for t, n in self.accepted_at if t0 <= t < t1)

    def summary(self):
        with self.lock:
            return ("accepted %r, unanswered %r, %r, refusals %r"
                    % (self.accepted, self.unanswered, self.stats, self.refusals))


class Load:
    """Starts http_conns HTTP clients and ws_sockets WebSocket clients
    against (host, port), all on one stream, until stop()."""

    def __init__(self, host, port, stream, http_conns=4, ws_sockets=2, http_rate=150.0,
                 ws_rate=50.0, answer_timeout=8.0, tag=None):
        self.host, self.port, self.stream = host, port, stream
        self.http_rate = http_rate
        self.ws_rate = ws_rate
        self.answer_timeout = answer_timeout
        self.tag = tag or "%06x" % random.randrange(1 << 24)
        self.tally = Tally()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._http_client, args=(k,), daemon=True)
                        for k in range(http_conns)]
        self.threads += [threading.Thread(target=self._ws_client, args=(k,), daemon=True)
                         for k in range(ws_sockets)]
        self.t0 = None
        self.drain = 3.0

    # -- control
    def start(self):
        self.t0 = time.monotonic()
        for t in self.threads:
            t.start()
        return self

    def stop(self, drain=3.0):
        """Stops sending; waits for answers in flight (WebSocket acks up to
        drain seconds, HTTP answers up to answer_timeout), then returns the
        Tally. Fails when a client thread does not end in time."""
        self.drain = drain
        self.stopping.set()
        deadline = time.monotonic() + max(drain, self.answer_timeout) + 5.0
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        stuck = [t.name for t in self.threads if t.is_alive()]
        assert not stuck, "load clients did not stop: %r" % stuck
        return self.tally

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if not self.stopping.is_set():
            self.stop(drain=0.5)

    # -- HTTP
    def _batch(self, rng, k, i):
        """(events, views, likes): a single view or like, or an array of 2
        to 4 of them. Every view and like names a fresh viewer."""
        size = 1 if rng.random() < 0.5 else rng.randint(2, 4)
        events, views, likes = [], 0, 0
        for j in range(size):
            viewer = "f%s-h%d-%d-%d" % (self.tag, k, i, j)
            if rng.random() < 0.5:
                events.append({"type": "view", "viewer": viewer})
                views += 1
            else:
                n = rng.randint(1, 5)
                events.append({"type": "like", "n": n, "viewer": viewer})
                likes += n
        return (events[0] if size == 1 else events), views, likes

    def _connect_http(self):
        while not self.stopping.is_set():
            try:
                c = h.HttpConn(self.host, self.port, timeout=self.answer_timeout)
                self.tally.bump("http_connects")
                return c
            except OSError:
                time.sleep(0.05)  # the server is restarting
        return None

    def _http_client(self, k):
        rng = random.Random("%s-h%d" % (self.tag, k))
        gap = 1.0 / self.http_rate
        conn = None
        i = 0
        try:
            while not self.stopping.is_set():
                if conn is None:
                    conn = self._connect_http()
                    if conn is None:
                        break
                i += 1
                body, views, likes = self._batch(rng, k, i)
                r = self.exchange(conn, body, views, likes)
                if r is None or "close" in r.header_tokens("connection"):
                    conn.close()
                    conn = None
                    continue
                time.sleep(gap)
        except Exception as exc:  # noqa: BLE001 - reported, fails the test
            self.tally.error("http client %d: %r" % (k, exc))
        finally:
            if conn is not None:
                conn.close()

    def exchange(self, conn, body, views, likes):
        """Posts body (an event or a list of them, carrying `views` views
        and `likes` taps) on conn and accounts for the outcome. Returns the
        answer, or None when none came (conn is then unusable). Tests use
        it for extra requests that must be in the sums too."""
        n_events = len(body) if isinstance(body, list) else 1
        req = h.build_request("POST", "/v1/streams/%s/events" % self.stream,
                              host="%s:%d" % (self.host, self.port),
                              headers=[("Content-Type", "application/json")],
                              body=json.dumps(body))
        self.tally.bump("http_sent")
        try:
            conn.send(req)
            r = conn.read_final(timeout=self.answer_timeout)
        except (h.PeerClosed, OSError, socket.timeout):
            # Sent (maybe only partly), never answered: it may or may not count.
            self.tally.count_unanswered(views, likes)
            self.tally.bump("http_unanswered")
            return None
        except (AssertionError, ValueError) as exc:
            # Bytes that are no HTTP answer: out of contract (and unknown).
            self.tally.count_unanswered(views, likes)
            self.tally.error("not an HTTP answer: %s" % exc)
            return None
        self._http_answer(r, n_events, views, likes)
        return r

    def _http_answer(self, r, n_events, views, likes):
        t = self.tally
        if r.status == 202:
            try:
                body = r.json()
            except ValueError:
                body = None
            if body != {"accepted": n_events, "rejected": 0}:
                t.error("202 counting only part of %d events: %r" % (n_events, r))
                return
            t.bump("http_202")
            t.count_accepted(views, likes)
            return
        if r.status == 503:
            try:
                err = h.assert_error(r, 503, RETRY_CODES)
                assert r.header("retry-after") is not None, "503 without Retry-After: %r" % r
            except AssertionError as exc:
                t.error("bad 503: %s" % exc)
                return
            t.refused("http 503 " + err["error"])
            return
        t.error("unexpected answer %r" % r)

    # -- WebSocket
    def _connect_ws(self, k):
        path = "/v1/streams/%s/ws" % self.stream
        while not self.stopping.is_set():
            try:
                c = h.WsClient(self.host, self.port, path, timeout=self.answer_timeout)
            except (OSError, h.PeerClosed, AssertionError, ValueError):
                time.sleep(0.05)
                continue
            if c.response.status == 101:
                self.tally.bump("ws_connects")
                return c
            c.close()
            time.sleep(0.1)  # 503 while starting or shutting down
        return None

    def _ws_client(self, k):
        rng = random.Random("%s-w%d" % (self.tag, k))
        gap = 1.0 / self.ws_rate
        i = 0
        try:
            while not self.stopping.is_set():
                ws = self._connect_ws(k)
                if ws is None:
                    break
                pending = {}  # id -> taps sent
                alive = True
                next_send = time.monotonic()
                try:
                    while alive and not self.stopping.is_set():
                        now = time.monotonic()
                        if now >= next_send:
                            i += 1
                            like_id = "%s.w%d.%d" % (self.tag, k, i)
                            n = rng.randint(1, 5)
                            pending[like_id] = n
                            self.tally.bump("ws_sent")
                            ws.send_json({"type": "like", "n": n, "id": like_id,
                                          "viewer": "f%s-w%d-%d" % (self.tag, k, i)})
                            next_send += gap
                            continue
                        alive = self._ws_read(ws, pending, next_send - now)
                    # stopping: wait for the acks still due
                    deadline = time.monotonic() + self.drain
                    while alive and pending and time.monotonic() < deadline:
                        alive = self._ws_read(ws, pending, deadline - time.monotonic())
                except (h.PeerClosed, OSError, h.WsClosed):
                    pass
                # Whatever is still pending got no answer.
                self.tally.count_unanswered(0, sum(pending.values()))
                self.tally.bump("ws_unanswered", len(pending))
                ws.close()
        except Exception as exc:  # noqa: BLE001 - reported, fails the test
            self.tally.error("ws client %d: %r" % (k, exc))

    def _ws_read(self, ws, pending, timeout):
        """Reads one message (up to timeout) and accounts for it; False when
        the socket is gone."""
        try:
            msg = ws.recv_json(timeout=max(0.0, timeout))
        except (socket.timeout, TimeoutError):
            return True
        except (h.PeerClosed, h.WsClosed, OSError):
            return False
        ws.messages.clear()  # totals pushes are not kept
        t = self.tally
        kind = msg.get("type")
        if kind == "ack":
            n = pending.pop(msg.get("id"), None)
            counted = msg.get("counted")
            if n is None:
                t.error("ack for an id not waiting: %r" % msg)
            elif not isinstance(counted, int) or not 0 <= counted <= n:
                t.error("ack counting %r of %d taps: %r" % (counted, n, msg))
            else:
                t.bump("ws_acked")
                t.count_accepted(0, counted)
        elif kind == "error":
            code = msg.get("code")
            if code == "rate_limited" and "dropped" in msg:
                t.refused("ws taps dropped")  # the ack that follows says what counted
            elif code in RETRY_CODES:
                t.refused("ws " + code)
                if msg.get("id") in pending:
                    pending.pop(msg["id"])
                    t.bump("ws_refused")
                # without an id the like stays pending: unanswered, a wider bound
            else:
                t.error("websocket error %r" % msg)
        elif kind != "totals":
            t.error("unexpected websocket message %r" % msg)
        return True
