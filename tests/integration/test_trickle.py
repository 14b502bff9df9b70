"""300 trickling clients (issue 10, point 3): the contract's timeouts keep
holding while hundreds of connections send bytes slowly, and a normal client
is served meanwhile.

One worker holds every connection (workers 1, so the trickling and the normal
client share one loop), with limits.max_connections_per_client 0 (all come
from 127.0.0.1) and 1.5 s timeouts:

- slowloris heads (100): a request head one byte every 0.5-1 s, never
  finished. The header deadline is one deadline from the head's first byte,
  never extended: each is answered 408 (or just closed) about
  header_timeout_ms after its first byte, however it trickles.
- stalling bodies (100): a complete head with Content-Length 64, then one
  body byte every 0.5-1 s for 3 s (twice idle_timeout_ms: a body's timer is
  the idle timeout per read, so trickling keeps it open, as it keeps a slow
  uploader's), then nothing: each is answered 408 and closed about
  idle_timeout_ms after its last byte.
- slow but complete bodies (100): one byte every 0.05-0.1 s until the event
  is whole: each answered 202, and each view counted exactly once.

Meanwhile the test's own client, every 0.2 s, opens a connection for
GET /healthz and posts an event on a keep-alive connection; every answer
must come within ANSWER_WITHIN (a stalled loop would miss it by far; the
latencies are printed, not asserted tighter: timing figures belong in
bench/). Afterwards /metrics counts exactly the 200 timeouts and no
connection is left open. Everything is bounded: one selector thread with a
deadline, every socket closed at the end."""

import heapq
import random
import selectors
import socket
import threading
import time

import ltharness as h

TIMEOUT_MS = 1500
TIMEOUT = TIMEOUT_MS / 1000.0
N_HEADS, N_STALLS, N_COMPLETE = 100, 100, 100
STALL_TRICKLE = 2 * TIMEOUT   # how long a stalling body trickles before it stops
LATE = 2.0                    # how late a timeout may be seen here (a busy machine)
EARLY = 0.1                   # how early (clocks and the first byte's trip)
ANSWER_WITHIN = 2.0           # the normal client's bound per answer
RUN_LIMIT = 30.0              # the trickling thread gives up after this

CONFIG = {"workers": 1, "limits.max_connections_per_client": 0,
          "limits.header_timeout_ms": TIMEOUT_MS, "limits.idle_timeout_ms": TIMEOUT_MS,
          "limits.max_connections": 1000}


class Trickler:
    """One connection that sends `data` one byte at a time, the gap between
    two bytes drawn from `gap` (seconds), after sending `head` whole. It stops
    sending after `stop_after` seconds (None: when data runs out)."""

    def __init__(self, kind, port, head, data, gap, stop_after=None):
        self.kind = kind
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.data = data
        self.gap = gap
        self.stop_after = stop_after
        self.sent = 0
        self.received = b""
        self.first_at = None   # the first byte sent (head or trickle)
        self.last_at = None    # the last byte sent
        self.closed_at = None  # EOF or reset seen
        self.error = None
        now = time.monotonic()
        if head:
            self.sock.sendall(head)  # small: fits the socket buffer at once
            self.first_at = self.last_at = now
            self.next_at = now + random.uniform(*gap)
        else:
            self.next_at = now

    def done_sending(self, now):
        if self.sent >= len(self.data):
            return True
        return self.stop_after is not None and self.first_at is not None and \
            now - self.first_at >= self.stop_after

    def send_one(self, now):
        try:
            self.sock.send(self.data[self.sent:self.sent + 1])
        except (BrokenPipeError, ConnectionResetError):
            self.closed_at = self.closed_at or now
            return
        except BlockingIOError:
            self.error = "socket buffer full after %d bytes" % self.sent
            return
        self.sent += 1
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        self.next_at = now + random.uniform(*self.gap)

    def on_readable(self, now):
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        except BlockingIOError:
            return
        if chunk:
            self.received += chunk
            if self.kind == "complete" and b"\r\n\r\n" in self.received:
                self.closed_at = now  # answered: the test closes it
        else:
            self.closed_at = now


def run_tricklers(tricklers, stop, failures):
    """Drives every trickler from one thread until all are closed (or
    answered), `stop` is set or RUN_LIMIT passes. An exception goes into
    failures for the test to raise."""
    try:
        drive(tricklers, stop)
    except BaseException as e:  # noqa: B902 - handed to the test's thread
        failures.append(e)


def finished(sel, t):
    """t is closed or answered: no more reading. An answered complete body
    is closed at once, before the idle timeout could close it."""
    sel.unregister(t.sock)
    if t.kind == "complete":
        t.sock.close()


def drive(tricklers, stop):
    sel = selectors.DefaultSelector()
    for i, t in enumerate(tricklers):
        sel.register(t.sock, selectors.EVENT_READ, t)
    queue = [(t.next_at, i) for i, t in enumerate(tricklers)]
    heapq.heapify(queue)
    deadline = time.monotonic() + RUN_LIMIT
    open_left = len(tricklers)
    while open_left and not stop.is_set() and time.monotonic() < deadline:
        wait = 0.05
        if queue:
            wait = max(0.0, min(wait, queue[0][0] - time.monotonic()))
        for key, _ in sel.select(wait):
            t = key.data
            t.on_readable(time.monotonic())
            if t.closed_at is not None:
                finished(sel, t)
                open_left -= 1
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, i = heapq.heappop(queue)
            t = tricklers[i]
            if t.closed_at is not None or t.done_sending(now):
                continue
            t.send_one(now)
            if t.closed_at is not None:
                finished(sel, t)
                open_left -= 1
            elif not t.done_sending(now):
                heapq.heappush(queue, (t.next_at, i))
    sel.close()


def make_tricklers(port):
    tricklers = []
    kinds = ["head"] * N_HEADS + ["stall"] * N_STALLS + ["complete"] * N_COMPLETE
    random.Random(10).shuffle(kinds)
    for n, kind in enumerate(kinds):
        if kind == "head":
            data = b"POST /v1/streams/trickle/events HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
            t = Trickler(kind, port, None, data, (0.5, 1.0))
        elif kind == "stall":
            head = (b"POST /v1/streams/trickle/events HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 64\r\n\r\n")
            t = Trickler(kind, port, head, b"[" + b" " * 63, (0.5, 1.0),
                         stop_after=STALL_TRICKLE)
        else:
            body = b'{"type":"view","viewer":"slow-viewer-%d"}' % n
            head = (b"POST /v1/streams/trickle/events HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
            t = Trickler(kind, port, head, body, (0.05, 0.1))
        tricklers.append(t)
        if n % 20 == 19:
            time.sleep(0.05)  # connect in waves, not one burst
    return tricklers


def status_of(received):
    line = received.split(b"\r\n", 1)[0]
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else None


def test_300_trickling_clients(lt):
    srv = lt(CONFIG)
    timeouts_before = h.metric(srv, "http_closed_timeout_total") or 0
    tricklers = []
    stop = threading.Event()
    failures = []
    latencies = []
    normal_accepted = 0
    try:
        tricklers = make_tricklers(srv.port)
        driver = threading.Thread(target=run_tricklers, args=(tricklers, stop, failures),
                                  daemon=True)
        driver.start()
        with srv.conn(timeout=ANSWER_WITHIN) as keep:
            n = 0
            while driver.is_alive() and n < int(RUN_LIMIT / 0.2):
                n += 1
                t0 = time.monotonic()
                with srv.conn(timeout=ANSWER_WITHIN) as c:
                    r = c.request("GET", "/healthz", timeout=ANSWER_WITHIN)
                assert r.status == 200, r
                t1 = time.monotonic()
                r = keep.post_json("/v1/streams/trickle-normal/events",
                                   {"type": "view", "viewer": "normal-viewer-%d" % n})
                assert r.status == 202, r
                normal_accepted += 1
                latencies.append((t1 - t0, time.monotonic() - t1))
                time.sleep(0.2)
        driver.join(RUN_LIMIT)
        assert not driver.is_alive(), "the trickling clients did not finish in %.0fs" % RUN_LIMIT
        if failures:
            raise failures[0]
    finally:
        stop.set()
        for t in tricklers:
            t.sock.close()

    assert len(latencies) >= 10, "the normal client ran %d rounds only" % len(latencies)
    print("normal client: %d rounds while trickling; slowest GET /healthz (new connection) "
          "%.3fs, slowest POST (keep-alive) %.3fs"
          % (len(latencies), max(l[0] for l in latencies), max(l[1] for l in latencies)))
    problems = []
    for t in tricklers:
        what = "%s client (first byte at +%.2fs, last at +%.2fs, %d bytes)" % (
            t.kind, (t.first_at or 0) - tricklers[0].first_at, (t.last_at or 0) -
            tricklers[0].first_at, t.sent)
        if t.error:
            problems.append("%s: %s" % (what, t.error))
            continue
        if t.closed_at is None:
            problems.append("%s: never closed" % what)
            continue
        status = status_of(t.received)
        if t.kind == "complete":
            if status != 202 or t.sent != len(t.data):
                problems.append("%s: answered %r" % (what, t.received[-200:]))
            continue
        # A timeout answers 408 before closing; a bare close is allowed too.
        if t.received and status != 408:
            problems.append("%s: answered %r, not 408" % (what, t.received[:80]))
        start = t.first_at if t.kind == "head" else t.last_at
        after = t.closed_at - start
        if not TIMEOUT - EARLY <= after <= TIMEOUT + LATE:
            problems.append("%s: closed %.2fs after its %s byte, expected about %.1fs"
                            % (what, after, "first" if t.kind == "head" else "last", TIMEOUT))
        if t.kind == "stall" and t.last_at - t.first_at < STALL_TRICKLE - 1.0:
            problems.append("%s: stopped trickling after %.2fs" % (what, t.last_at - t.first_at))
    assert not problems, "%d of %d trickling clients wrong:\n%s" % (
        len(problems), len(tricklers), "\n".join(problems[:20]))

    # Every slow body that completed, and every normal event, counted once.
    srv.wait_totals("trickle", {"views": N_COMPLETE})
    srv.wait_totals("trickle-normal", {"views": normal_accepted})
    # The server saw exactly the 200 timeouts, and every slot is free again
    # (the one open connection is the one asking).
    timeouts = h.metric(srv, "http_closed_timeout_total") - timeouts_before
    assert timeouts == N_HEADS + N_STALLS, timeouts
    h.wait_until(lambda: h.metric(srv, "http_connections_open") == 1, 5,
                 desc="every trickling connection closed on the server too")
