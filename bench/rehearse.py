#!/usr/bin/python3
"""Rehearse a lecture against a running livetally (issue 9, point 6).

Plays the kind of event livetally was made for, compressed into --seconds:
one stream of a weekly series, created `scheduled` and then put `live`,
three segments (开幕式 opening, 城市分享 city session, 圆桌会议 round table)
started at fixed fractions of the run, --viewers simulated viewers joining
over WebSocket (the upgrade with ?viewer= counts the view) and SSE (the
stream plus one view POSTed to /events), some leaving and rejoining (a
rejoin within views.dedup_seconds adds no view), like bursts over the
WebSockets inside the server's like budgets, and the rebroadcasting
platforms named with --partner reporting growing absolute counts every few
seconds. Then the stream is ended, the viewers close, and the tool checks
the end-of-event report against what it sent:

- views = the viewers' counted views under the dedup rule, likes = the taps
  the server accepted (sent minus what `rate_limited` messages said was
  dropped), each plus what the platforms reported last;
- the segments' views and likes add up to what was counted after the first
  segment started (the tool starts it before any viewer joins);
- each platform's reported figure is its last report;
- `direct` (counted here) is what the viewers did; uniques (an estimate)
  within 3 % of the distinct viewers.

It prints the totals, the report URL and `check: ok` (exit 0), or each
difference (exit 1); a setup failure (the stream cannot be created) exits 2.
`--json` prints one JSON object instead. Only Debian's python3 standard
library: the viewers are asyncio protocols on raw sockets in forked
processes (at most --per-process each, 15,000 by default, since a process
may hold 20,000 files here), so thousands of connections cost little CPU.
See bench/README.md.
"""

import argparse
import asyncio
import datetime
import http.client
import json
import math
import os
import random
import resource
import socket
import sys
import time
import urllib.parse

# The lecture: segment titles and where in the run each starts.
SEGMENTS = [(0.0, "开幕式", "opening"), (0.30, "城市分享", "city session"),
            (0.70, "圆桌会议", "round table")]
# Fractions of the run: viewers join until JOIN_END, leave/rejoin until
# MOVES_END, likes stop at LIKES_END, partners report until PARTNERS_END.
JOIN_END = 0.80
MOVES_END = 0.85
LIKES_END = 0.90
PARTNERS_START = 0.05
PARTNERS_END = 0.85
# How far below the server's budgets the tool stays (budgets are per worker
# process; assuming one worker is the cautious case).
BUDGET_SHARE = 0.5
# Rebroadcast audience of each platform, as a multiple of --viewers (the
# seed's event had most of its audience on partner platforms).
PARTNER_SCALE = {"wutongcun": 27, "bilibili": 9, "douyin": 15}
IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h; not in Python's socket module
ADDR_CAPACITY = 20000         # connections per source address (ephemeral ports)


def utc_iso(ts=None):
    ts = time.time() if ts is None else ts
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------
# HTTP/1.1 over asyncio streams (keep-alive, Content-Length or chunked)


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if status in (204, 304) or 100 <= status < 200:
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body = await reader.read()
    return status, headers, body


class Http:
    """One keep-alive connection; request() reconnects once when a reused
    connection turns out to have been closed before any answer."""

    def __init__(self, host, port, timeout=10.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.reader = self.writer = None

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method, path, obj=None, token=None):
        """(status, body as JSON or None, raw body)."""
        body = b"" if obj is None else json.dumps(obj).encode()
        head = "%s %s HTTP/1.1\r\nHost: %s:%d\r\n" % (method, path, self.host, self.port)
        if obj is not None:
            head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        if token:
            head += "Authorization: Bearer %s\r\n" % token
        data = (head + "\r\n").encode() + body
        for attempt in (0, 1):
            reused = self.writer is not None
            if not reused:
                self.reader, self.writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.timeout)
            try:
                self.writer.write(data)
                status, headers, raw = await asyncio.wait_for(read_response(self.reader),
                                                              self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError) as e:
                self.close()
                if reused and attempt == 0:
                    continue
                raise ConnectionError("%s %s: %s" % (method, path, e))
            if headers.get("connection", "").lower() == "close":
                self.close()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            return status, parsed, raw
        raise AssertionError("unreachable")


def sync_request(host, port, method, path, obj=None, token=None, timeout=10.0):
    """The same with http.client, for the set-up before the event loop."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {}
        body = None
        if obj is not None:
            body = json.dumps(obj).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        raw = r.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return r.status, parsed, raw
    finally:
        c.close()


def error_text(status, parsed, raw):
    if isinstance(parsed, dict) and "error" in parsed:
        return "%d %s (%s)" % (status, parsed["error"], parsed.get("message", ""))
    return "%d %r" % (status, raw[:120])


# ---------------------------------------------------------------------------
# Viewers (in a forked process each share)


def ws_frame(opcode, payload):
    """A masked client frame (payloads here are always under 126 bytes)."""
    mask = os.urandom(4)
    m = int.from_bytes(mask * ((len(payload) + 3) // 4), "big") >> (8 * (-len(payload) % 4))
    masked = (int.from_bytes(payload, "big") ^ m).to_bytes(len(payload), "big") if payload else b""
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked


class Viewer:
    __slots__ = ("vid", "ws", "addr", "plan", "proto", "open", "views", "pos",
                 "tokens", "tokens_t", "sent", "dropped", "joins")

    def __init__(self, vid, ws, addr):
        self.vid, self.ws, self.addr = vid, ws, addr
        self.plan = []       # [(join_at, leave_at or None)] relative to t0
        self.proto = None
        self.open = False
        self.views = []      # times (relative to t0) of views the server took
        self.pos = -1        # index in Play.liking while open over WebSocket
        self.tokens = 0.0
        self.tokens_t = 0.0
        self.sent = 0
        self.dropped = 0
        self.joins = 0


# One read buffer for every connection of a process: asyncio's plain
# Protocol gets a fresh 256 KiB bytes object per read (an mmap, mremap and
# munmap each time: most of the tool's CPU went there). A BufferedProtocol
# reads into this instead, and each handler is done with it before the next
# read (one thread).
SCRATCH = bytearray(65536)
SCRATCH_VIEW = memoryview(SCRATCH)
READ_EVERY = 1.0


class ScratchProtocol(asyncio.BufferedProtocol):
    """Once a viewer is in (self.lazy), its socket is read about once per
    READ_EVERY: reading stops after each read and Play.sweep starts it again,
    so the pushes that came meanwhile (several a second) cost one read and
    one callback. Pings, errors and closes wait that long at most."""
    lazy = False
    tr = None
    leave_asked = False  # told to leave before it was in: leaves once in

    def get_buffer(self, sizehint):
        return SCRATCH_VIEW

    def buffer_updated(self, nbytes):
        self.data_received(SCRATCH[:nbytes])
        if self.lazy and not self.tr.is_closing():
            self.tr.pause_reading()

    def wake(self):
        if self.tr is not None and not self.tr.is_closing():
            self.tr.resume_reading()


class WsProto(ScratchProtocol):
    """A viewer's WebSocket on /v1/streams/{id}/ws: answers pings, reads
    only error messages (rate_limited's `dropped`), skips totals."""

    def __init__(self, play, v):
        self.play, self.v = play, v
        self.tr = None
        self.buf = bytearray()
        self.upgraded = False
        self.closing = False

    def connection_made(self, tr):
        self.tr = tr
        key = os.urandom(16).hex()[:22] + "=="
        self.tr.write(("GET %s?viewer=%s&source=direct HTTP/1.1\r\nHost: %s\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                       % (self.play.ws_path, self.v.vid, self.play.hostport, key)).encode())

    def data_received(self, data):
        buf = self.buf
        buf += data
        if not self.upgraded:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                return
            line = bytes(buf[:buf.find(b"\r\n")])
            del buf[:i + 4]
            if b" 101 " not in line + b" ":
                self.play.fail("ws upgrade: " + line.decode("latin-1", "replace"))
                self.tr.close()
                return
            self.upgraded = True
            self.lazy = True
            self.play.joined(self)
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, ln = buf[pos], buf[pos + 1] & 0x7F
            hl = 2
            if ln == 126:
                if end - pos < 4:
                    break
                ln, hl = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif ln == 127:
                if end - pos < 10:
                    break
                ln, hl = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if end - pos < hl + ln:
                break
            op = b0 & 0x0F
            start = pos + hl
            if op == 1:
                if buf.find(b'"error"', start, start + ln) >= 0:
                    self.play.on_error(self.v, bytes(buf[start:start + ln]))
            elif op == 9:
                self.tr.write(ws_frame(0xA, bytes(buf[start:start + ln])))
            elif op == 8:
                if not self.closing:
                    self.closing = True
                    self.tr.write(ws_frame(0x8, bytes(buf[start:start + min(ln, 2)])))
                    self.play.server_closed(buf[start:start + 2])
                self.tr.close()
            pos += hl + ln
        del buf[:pos]

    def send(self, payload):
        """Sends a text frame; False when the socket is on its way out."""
        if not self.upgraded or self.closing or self.tr.is_closing():
            return False
        self.tr.write(ws_frame(0x1, payload))
        return True

    def leave(self):
        if self.closing or (self.tr is not None and self.tr.is_closing()):
            return
        if not self.upgraded:
            # The server may count the view as it answers the upgrade: wait
            # for the answer (then leave at once) rather than cut it short
            # and not know. Still nothing in 10 s: cut, and say so.
            if not self.leave_asked:
                self.leave_asked = True
                asyncio.get_running_loop().call_later(10.0, self.give_up)
            return
        self.closing = True
        self.lazy = False
        self.wake()
        self.tr.write(ws_frame(0x8, (1000).to_bytes(2, "big")))
        # The server answers the close and shuts the connection; if not, cut it.
        asyncio.get_running_loop().call_later(3.0, self.tr.abort)

    def give_up(self):
        if not self.upgraded and self.tr is not None and not self.tr.is_closing():
            self.play.fail("ws upgrade: no answer 10 s after the viewer left (its view "
                           "may count)")
            self.tr.abort()

    def connection_lost(self, exc):
        self.play.left(self)


class SseProto(ScratchProtocol):
    """A viewer on /v1/streams/{id}/live: counts once the answer is 200,
    then discards the events."""

    def __init__(self, play, v):
        self.play, self.v = play, v
        self.tr = None
        self.head = b""
        self.started = False

    def connection_made(self, tr):
        self.tr = tr
        if self.leave_asked:
            tr.close()
            return
        tr.write(("GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n"
                  % (self.play.sse_path, self.play.hostport)).encode())

    def data_received(self, data):
        if self.started:
            return
        self.head += data
        i = self.head.find(b"\r\n")
        if i < 0:
            return
        line = self.head[:i]
        self.head = b""
        self.started = True
        self.lazy = True
        if b" 200 " not in line + b" ":
            self.play.fail("sse: " + line.decode("latin-1", "replace"))
            self.tr.close()
            return
        self.play.joined(self)

    def leave(self):
        # No view is made before the stream's first answer: leaving early
        # is safe here.
        if not self.started and not self.leave_asked:
            self.play.left_before_in += 1
        if self.tr is None:
            self.leave_asked = True
        else:
            self.tr.close()

    def connection_lost(self, exc):
        self.play.left(self)


class Play:
    """One process' share of the viewers, on its own event loop."""

    def __init__(self, cfg, viewers, t0):
        self.cfg = cfg
        self.viewers = viewers
        self.t0 = t0
        self.host, self.port = cfg["host"], cfg["port"]
        self.hostport = "%s:%d" % (self.host, self.port)
        sid = urllib.parse.quote(cfg["stream"], safe="")
        self.ws_path = "/v1/streams/%s/ws" % sid
        self.sse_path = "/v1/streams/%s/live" % sid
        self.events_path = "/v1/streams/%s/events" % sid
        self.liking = []          # open WebSocket viewers
        self.n_open = 0
        self.failures = {}
        self.errors = {}          # error codes other than rate_limited, counted
        self.close_codes = {}
        self.samples = []
        self.rng = random.Random(cfg["seed"] * 7919 + cfg["proc"])
        self.view_q = asyncio.Queue()
        self.addr_tokens = {}
        self.addr_rate = cfg["client_rate"] * BUDGET_SHARE / cfg["procs_per_addr"]
        self.addr_burst = cfg["client_burst"] * BUDGET_SHARE / cfg["procs_per_addr"]
        self.v_rate = cfg["viewer_rate"] * BUDGET_SHARE
        self.v_burst = cfg["viewer_burst"] * BUDGET_SHARE
        self.n_max = max(1, min(10, cfg["max_per_message"], int(self.v_burst)))
        self.posts = 0
        self.left_before_in = 0  # SSE viewers gone before their stream answered

    def now(self):
        return time.monotonic() - self.t0

    def fail(self, why):
        key = why[:80]
        self.failures[key] = self.failures.get(key, 0) + 1

    # -- joining and leaving
    def joined(self, proto):
        v = proto.v
        v.joins += 1
        if v.ws:
            v.views.append(self.now())  # the upgrade counted (an error says otherwise)
        if proto.leave_asked or proto is not v.proto:
            # Left (or came back on a new connection) before this one was in.
            proto.leave()
            return
        if not v.open:  # (still open: the earlier connection is closing)
            self.n_open += 1
        v.open = True
        if v.ws:
            v.pos = len(self.liking)
            self.liking.append(v)
        else:
            self.view_q.put_nowait(v)

    def unlist(self, v):
        """No more likes from v (it is leaving or gone)."""
        if v.pos >= 0:
            last = self.liking.pop()
            if last is not v:
                self.liking[v.pos] = last
                last.pos = v.pos
            v.pos = -1

    def left(self, proto):
        v = proto.v
        if v.proto is not proto or not v.open:
            return  # an earlier connection of a viewer who is back already
        v.open = False
        self.n_open -= 1
        self.unlist(v)

    def server_closed(self, payload):
        code = int.from_bytes(payload, "big") if len(payload) == 2 else 1005
        self.close_codes[code] = self.close_codes.get(code, 0) + 1

    def on_error(self, v, payload):
        try:
            msg = json.loads(payload)
        except ValueError:
            self.fail("unreadable error message")
            return
        if not isinstance(msg, dict) or msg.get("type") != "error":
            return  # "error" was only a value (a stream named so)
        code = msg.get("code", "?")
        if code == "rate_limited" and isinstance(msg.get("dropped"), int):
            v.dropped += msg["dropped"]
        else:
            # Which message it answers is unknown (a view or a like): the
            # check cannot be exact and says so.
            self.errors[code] = self.errors.get(code, 0) + 1

    async def connect(self, v):
        loop = asyncio.get_running_loop()
        proto = WsProto(self, v) if v.ws else SseProto(self, v)
        v.proto = proto
        try:
            if v.addr:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind((v.addr, 0))
                await asyncio.wait_for(loop.sock_connect(s, (self.host, self.port)), 10)
                await loop.create_connection(lambda: proto, sock=s)
            else:
                await asyncio.wait_for(
                    loop.create_connection(lambda: proto, self.host, self.port), 10)
        except (OSError, asyncio.TimeoutError) as e:
            self.fail("connect: %s" % (e.__class__.__name__ if not str(e) else e))

    def start(self, v):
        asyncio.ensure_future(self.connect(v))

    def leave(self, v):
        self.unlist(v)
        if v.proto is not None:
            v.proto.leave()

    async def view_poster(self):
        """POSTs the SSE viewers' views over one keep-alive connection."""
        http = Http(self.host, self.port)
        while True:
            v = await self.view_q.get()
            if v is None:
                self.view_q.task_done()
                break
            try:
                st, body, raw = await http.request(
                    "POST", self.events_path,
                    {"type": "view", "viewer": v.vid, "source": "direct"})
                self.posts += 1
                if st == 202 and isinstance(body, dict) and body.get("accepted") == 1:
                    v.views.append(self.now())
                else:
                    self.fail("view POST: " + error_text(st, body, raw))
            except (OSError, asyncio.TimeoutError) as e:
                self.fail("view POST (it may have counted): %s" % (e or e.__class__.__name__))
            finally:
                self.view_q.task_done()
        http.close()

    # -- likes
    def addr_take(self, addr, n, now):
        tok, t = self.addr_tokens.get(addr, (self.addr_burst, now))
        tok = min(self.addr_burst, tok + (now - t) * self.addr_rate)
        if tok < n:
            self.addr_tokens[addr] = (tok, now)
            return False
        self.addr_tokens[addr] = (tok - n, now)
        return True

    def like(self, v, n, now):
        """Sends n taps from v when both of the tool's own buckets (a share
        of the server's) hold them."""
        tok = min(self.v_burst, v.tokens + (now - v.tokens_t) * self.v_rate) \
            if v.tokens_t else self.v_burst
        v.tokens_t = now
        v.tokens = tok
        if tok < n or not self.addr_take(v.addr or "127.0.0.1", n, now):
            return False
        if not v.proto.send(b'{"type":"like","n":%d}' % n):
            return False
        v.tokens = tok - n
        v.sent += n
        return True

    async def likes(self, rate, bursts):
        """About `rate` taps a second in messages of 1..n_max taps, plus an
        applause burst from most open sockets at each time in bursts."""
        loop_t = 0.1
        per_tick = rate * loop_t / ((1 + self.n_max) / 2.0)
        carry = 0.0
        bursts = sorted(bursts)
        end = self.cfg["seconds"] * LIKES_END
        while True:
            now = self.now()
            if now >= end:
                return
            if bursts and now >= bursts[0]:
                bursts.pop(0)
                for v in list(self.liking):
                    if self.rng.random() < 0.6:
                        self.like(v, self.rng.randint(1, self.n_max), now)
            carry += per_tick
            while carry >= 1 and self.liking:
                carry -= 1
                v = self.liking[self.rng.randrange(len(self.liking))]
                self.like(v, self.rng.randint(1, self.n_max), now)
            await asyncio.sleep(loop_t)

    async def sweep(self):
        """Lets every open viewer's socket read what came (ScratchProtocol)."""
        while True:
            await asyncio.sleep(READ_EVERY)
            for v in self.viewers:
                if v.open and v.proto is not None:
                    v.proto.wake()

    async def sample(self, until):
        while self.now() < until:
            self.samples.append(self.n_open)
            await asyncio.sleep(0.5)

    # -- the whole share
    async def run(self, cmd_fd, out_fd):
        loop = asyncio.get_running_loop()
        cfg = self.cfg
        for v in self.viewers:
            for join_at, leave_at in v.plan:
                loop.call_at(self.t0 + join_at, self.start, v)
                if leave_at is not None:
                    loop.call_at(self.t0 + leave_at, self.leave, v)
        # Enough connections that the SSE viewers' views keep up with them.
        n_sse = sum(1 for v in self.viewers if not v.ws)
        posters = [asyncio.ensure_future(self.view_poster())
                   for _ in range(min(32, max(4, n_sse // 250)))]
        sweeper = asyncio.ensure_future(self.sweep())
        seconds = cfg["seconds"]
        bursts = [f * seconds + 1.0 for f, _, _ in SEGMENTS[1:]] + [0.15 * seconds]
        settle = seconds * LIKES_END + 2.5  # late rate_limited answers
        sampler = asyncio.ensure_future(self.sample(settle))
        await self.likes(cfg["like_rate"], bursts)
        await asyncio.sleep(max(0.0, settle - self.now()))
        await sampler
        try:
            await asyncio.wait_for(self.view_q.join(), 30)
        except asyncio.TimeoutError:
            self.fail("SSE views still waiting to be POSTed 30 s after the last join")
        summary = self.summary()
        os.write(out_fd, (json.dumps(summary) + "\n").encode())
        # Wait for the coordinator to end the stream, then close everyone.
        got = asyncio.Event()
        loop.add_reader(cmd_fd, got.set)
        await got.wait()
        loop.remove_reader(cmd_fd)
        sweeper.cancel()
        for v in self.viewers:
            self.leave(v)  # those still waiting for an answer leave once in
        deadline = self.now() + 5
        while self.n_open and self.now() < deadline:
            await asyncio.sleep(0.05)
        for _ in posters:
            self.view_q.put_nowait(None)
        await asyncio.gather(*posters)
        late = {k: n - summary["failures"].get(k, 0) for k, n in self.failures.items()
                if n > summary["failures"].get(k, 0)}
        final = {"still_open": self.n_open, "close_codes": self.close_codes,
                 "failures_after": late}
        os.write(out_fd, (json.dumps(final) + "\n").encode())

    def summary(self):
        dedup = self.cfg["dedup_seconds"]
        views = joins = distinct = rejoins_free = sent = dropped = ws_v = sse_v = 0
        for v in self.viewers:
            last = None
            for t in v.views:
                if last is None or t - last >= dedup:
                    views += 1
                    last = t
                else:
                    rejoins_free += 1
            if v.views:
                distinct += 1
                if v.ws:
                    ws_v += 1
                else:
                    sse_v += 1
            joins += v.joins
            sent += v.sent
            dropped += v.dropped
        return {"views": views, "distinct": distinct, "joins": joins, "ws_viewers": ws_v,
                "sse_viewers": sse_v, "rejoins_without_view": rejoins_free,
                "likes_sent": sent, "likes_dropped": dropped, "errors": dict(self.errors),
                "failures": dict(self.failures), "samples": self.samples,
                "view_posts": self.posts, "sse_left_before_in": self.left_before_in}


def plan_viewers(cfg, rng):
    """Every viewer's id, transport, source address and joins/leaves."""
    n, seconds, n_addr = cfg["viewers"], cfg["seconds"], cfg["addresses"]
    dedup = cfg["dedup_seconds"]
    out = []
    for i in range(n):
        ws = rng.random() >= cfg["sse_share"]
        addr = "127.0.0.%d" % (i % n_addr + 1) if n_addr > 1 else None
        v = Viewer("%s-%06d" % (cfg["viewer_prefix"], i), ws, addr)
        # Most arrive early, a tail keeps coming until JOIN_END (about 70 %
        # before the city session, 4 % during the round table).
        join = 0.05 + (JOIN_END * seconds - 0.05) * rng.random() ** 3
        r = rng.random()
        if r < 0.25 and join + 3 < MOVES_END * seconds - 5:
            # Leaves for a moment and comes back (same viewer id).
            leave = rng.uniform(join + 2, MOVES_END * seconds - 4)
            back = leave + rng.uniform(1.0, 4.0)
            gap = back - join
            if abs(gap - dedup) < 1.0:   # never on the dedup boundary
                back = join + dedup + 1.5
            if back < MOVES_END * seconds:
                v.plan = [(join, leave), (back, None)]
            else:
                v.plan = [(join, leave)]
        elif r < 0.35:
            # Leaves for good before the end.
            v.plan = [(join, rng.uniform(join + 1, MOVES_END * seconds))]
        else:
            v.plan = [(join, None)]
        out.append(v)
    return out


def viewer_process(cfg, viewers, cmd_fd, out_fd):
    """The body of a forked viewer process: waits for t0, plays, exits."""
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(cmd_fd, 64)
            if not chunk:
                os._exit(3)
            line += chunk
        t0 = float(line)
        play = Play(cfg, viewers, t0)
        asyncio.run(play.run(cmd_fd, out_fd))
        os._exit(0)
    except BaseException as e:  # noqa: the parent reads the reason
        try:
            os.write(out_fd, (json.dumps({"crash": repr(e)}) + "\n").encode())
        finally:
            os._exit(4)


# ---------------------------------------------------------------------------
# The coordinator: operator, segments, partners, end, report, check


def proc_cpu(pid):
    """utime+stime in seconds of pid and its live children (/proc)."""
    tick = os.sysconf("SC_CLK_TCK")

    def one(p):
        try:
            with open("/proc/%d/stat" % p) as f:
                rest = f.read().rsplit(")", 1)[1].split()
            return (int(rest[11]) + int(rest[12])) / tick, int(rest[1])
        except (OSError, IndexError, ValueError):
            return 0.0, -1

    total = one(pid)[0]
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != pid:
            cpu, ppid = one(int(name))
            if ppid == pid:
                total += cpu
    return total


class Coordinator:
    def __init__(self, args, host, port):
        self.a = args
        self.host, self.port = host, port
        self.sid = urllib.parse.quote(args.stream, safe="")
        self.problems = []       # the tool's own failures, listed by the check
        self.segments_sent = []  # (title, ok)
        self.last_report = {}    # source -> (views, likes)
        self.partner_puts = {}

    async def partner(self, source, key, t0, scale, rng):
        http = Http(self.host, self.port)
        seconds = self.a.seconds
        interval = min(3.0, max(0.5, seconds / 10.0))
        final_views = max(1, int(self.a.viewers * scale))
        final_likes = max(1, int(final_views * rng.uniform(0.3, 0.45)))
        t = PARTNERS_START * seconds + rng.uniform(0, interval / 2)
        views = likes = 0
        while t <= PARTNERS_END * seconds:
            await asyncio.sleep(max(0.0, t0 + t - time.monotonic()))
            f = t / (PARTNERS_END * seconds)
            views = max(views + 1, int(final_views * f ** 0.7))
            likes = max(likes + 1, int(final_likes * f ** 0.9))
            try:
                st, body, raw = await http.request(
                    "PUT", "/v1/streams/%s/sources/%s" % (self.sid, source),
                    {"views": views, "likes": likes}, token=key)
            except (OSError, asyncio.TimeoutError) as e:
                self.problems.append("partner %s: PUT failed: %s" % (source, e))
                break
            self.partner_puts[source] = self.partner_puts.get(source, 0) + 1
            if st == 200:
                self.last_report[source] = (views, likes)
            else:
                self.problems.append("partner %s: PUT answered %s"
                                     % (source, error_text(st, body, raw)))
                break
            t += interval * rng.uniform(0.8, 1.2)
        http.close()

    async def segment(self, http, title):
        st, body, raw = await http.request("POST", "/v1/streams/%s/segments" % self.sid,
                                           {"title": title}, token=self.a.operator_token)
        ok = st == 201
        self.segments_sent.append((title, ok))
        if not ok:
            self.problems.append("segment %s: POST answered %s"
                                 % (title, error_text(st, body, raw)))

    async def segments_later(self, t0):
        http = Http(self.host, self.port)
        for frac, title, _ in SEGMENTS[1:]:
            await asyncio.sleep(max(0.0, t0 + frac * self.a.seconds - time.monotonic()))
            await self.segment(http, title)
        http.close()

    async def totals(self, http):
        st, body, _ = await http.request("GET", "/v1/streams/%s" % self.sid)
        return body if st == 200 and isinstance(body, dict) else None


def reported_sum(totals, field):
    s = 0
    for src in (totals.get("sources") or {}).values():
        rep = src.get("reported") if isinstance(src, dict) else None
        if isinstance(rep, dict):
            s += int(rep.get(field) or 0)
    return s


def counted(totals, field):
    return int(totals.get(field) or 0) - reported_sum(totals, field)


async def read_line(reader, timeout):
    line = await asyncio.wait_for(reader.readline(), timeout)
    if not line:
        raise ConnectionError("a viewer process ended early")
    obj = json.loads(line)
    if "crash" in obj:
        raise RuntimeError("a viewer process failed: %s" % obj["crash"])
    return obj


async def coordinate(co, children):
    a = co.a
    loop = asyncio.get_running_loop()
    op = Http(co.host, co.port)
    sid = co.sid
    # Go live, open the first segment before any viewer arrives.
    st, body, raw = await op.request("PUT", "/v1/streams/%s" % sid, {"status": "live"},
                                     token=a.operator_token)
    if st != 200 and st != 201:
        co.problems.append("go live: PUT answered %s" % error_text(st, body, raw))
    if not a.no_segments:
        await co.segment(op, SEGMENTS[0][1])
    base = await co.totals(op) or {}
    base_views, base_likes = counted(base, "views"), counted(base, "likes")
    base_fresh = int(base.get("views") or 0) == 0 and int(base.get("likes") or 0) == 0
    t0 = time.monotonic() + 0.2
    readers = []
    for _, cmd_w, out_r in children:
        os.write(cmd_w, b"%.6f\n" % t0)
        r = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda r=r: asyncio.StreamReaderProtocol(r),
                                     os.fdopen(out_r, "rb", 0))
        readers.append(r)
    rng = random.Random(a.seed + 1)
    tasks = []
    for src, key in a.partner:
        scale = PARTNER_SCALE.get(src, rng.uniform(5, 20))
        tasks.append(asyncio.ensure_future(co.partner(src, key, t0, scale,
                                                      random.Random(rng.random()))))
    if not a.no_segments:
        tasks.append(asyncio.ensure_future(co.segments_later(t0)))
    # The viewers' account once their likes have stopped.
    phase1 = [await read_line(r, a.seconds + 120) for r in readers]
    await asyncio.gather(*tasks)
    sent = {k: sum(p[k] for p in phase1) for k in
            ("views", "distinct", "joins", "ws_viewers", "sse_viewers", "rejoins_without_view",
             "likes_sent", "likes_dropped", "view_posts", "sse_left_before_in")}
    sent["likes_accepted"] = sent["likes_sent"] - sent["likes_dropped"]
    errors, failures = {}, {}
    for p in phase1:
        for k, n in p["errors"].items():
            errors[k] = errors.get(k, 0) + n
        for k, n in p["failures"].items():
            failures[k] = failures.get(k, 0) + n
    samples = [sum(x) for x in zip(*[p["samples"] for p in phase1])]
    # Wait (bounded) until what was counted here has reached Redis.
    want_v, want_l = base_views + sent["views"], base_likes + sent["likes_accepted"]
    deadline = time.monotonic() + 15
    while True:
        cur = await co.totals(op)
        if cur and counted(cur, "views") == want_v and counted(cur, "likes") == want_l:
            break
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(max(0.0, t0 + a.seconds - time.monotonic()))
    st, body, raw = await op.request("PUT", "/v1/streams/%s" % sid, {"status": "ended"},
                                     token=a.operator_token)
    if st not in (200, 201):
        co.problems.append("end: PUT answered %s" % error_text(st, body, raw))
    for _, cmd_w, _ in children:
        os.write(cmd_w, b"c")
    st, report, raw = await op.request("GET", "/v1/streams/%s/report" % sid)
    if st != 200 or not isinstance(report, dict):
        co.problems.append("report: GET answered %s" % error_text(st, report, raw))
        report = {}
    phase2 = [await read_line(r, 30) for r in readers]
    op.close()
    return {"sent": sent, "errors": errors, "failures": failures, "samples": samples,
            "base_views": base_views, "base_likes": base_likes, "base_fresh": base_fresh,
            "report": report, "phase2": phase2, "t0": t0}


def check(co, res, dedup):
    """The differences between the report and what was sent (empty = ok)."""
    a = co.a
    diffs = list(co.problems)
    rep = res["report"]
    if not rep:
        return diffs
    tot = rep.get("totals") or {}
    sent = res["sent"]
    for k, n in sorted(res["failures"].items()):
        diffs.append("viewers: %d x %s" % (n, k))
    for k, n in sorted(merge_counts(p.get("failures_after", {}) for p in res["phase2"]).items()):
        diffs.append("viewers, after their account was given: %d x %s" % (n, k))
    for k, n in sorted(res["errors"].items()):
        diffs.append("viewers: %d error message(s) %r, so the tool cannot know what was "
                     "counted" % (n, k))
    if tot.get("status") != "ended":
        diffs.append("status: report says %r, expected 'ended'" % tot.get("status"))
    rep_sum_v = sum(v for v, _ in co.last_report.values())
    rep_sum_l = sum(l for _, l in co.last_report.values())
    # Reports of sources this run did not play (an earlier run's) count too.
    other_v, other_l = reported_sum(tot, "views"), reported_sum(tot, "likes")
    for src in co.last_report:
        r = ((tot.get("sources") or {}).get(src) or {}).get("reported")
        if isinstance(r, dict):
            other_v -= int(r.get("views") or 0)
            other_l -= int(r.get("likes") or 0)
    want_views = res["base_views"] + sent["views"] + rep_sum_v + other_v
    want_likes = res["base_likes"] + sent["likes_accepted"] + rep_sum_l + other_l
    if tot.get("views") != want_views:
        diffs.append("views: report %s, expected %d (counted %d before + %d viewers' views "
                     "under dedup %d s + partners' last reports %d%s)"
                     % (tot.get("views"), want_views, res["base_views"], sent["views"], dedup,
                        rep_sum_v, " + other sources' %d" % other_v if other_v else ""))
    if tot.get("likes") != want_likes:
        diffs.append("likes: report %s, expected %d (counted %d before + %d accepted of %d "
                     "sent + partners' last reports %d%s)"
                     % (tot.get("likes"), want_likes, res["base_likes"], sent["likes_accepted"],
                        sent["likes_sent"], rep_sum_l,
                        " + other sources' %d" % other_l if other_l else ""))
    # Counted here, by source: the viewers are all `direct`.
    direct = (tot.get("sources") or {}).get("direct") or {}
    if res["base_fresh"]:
        if (direct.get("views", 0), direct.get("likes", 0)) != \
                (sent["views"], sent["likes_accepted"]):
            diffs.append("sources.direct: report views %s likes %s, expected %d and %d"
                         % (direct.get("views"), direct.get("likes"), sent["views"],
                            sent["likes_accepted"]))
        u = int(tot.get("uniques") or 0)
        if abs(u - sent["distinct"]) > max(2, 0.03 * sent["distinct"]):
            diffs.append("uniques: report %d, %d distinct viewers sent (more than 3 %% apart)"
                         % (u, sent["distinct"]))
        dropped = (rep.get("method") or {}).get("dropped_taps")
        if dropped is not None and dropped != sent["likes_dropped"]:
            diffs.append("dropped taps: report %s, rate_limited messages said %d"
                         % (dropped, sent["likes_dropped"]))
    # Each platform's figure is its last report, in the totals and the report's table.
    table = {s.get("source"): s for s in rep.get("sources") or [] if isinstance(s, dict)}
    for src, (v, l) in sorted(co.last_report.items()):
        r = ((tot.get("sources") or {}).get(src) or {}).get("reported")
        if not isinstance(r, dict) or r.get("views") != v or r.get("likes") != l:
            diffs.append("sources.%s.reported: %s, last report was views %d likes %d"
                         % (src, json.dumps(r), v, l))
        pr = (table.get(src) or {}).get("partner_reported")
        if not isinstance(pr, dict) or pr.get("views") != v or pr.get("likes") != l:
            diffs.append("report sources[%s].partner_reported: %s, last report was views %d "
                         "likes %d" % (src, json.dumps(pr), v, l))
    for src, _ in a.partner:
        if src not in co.last_report and not any(d.startswith("partner %s" % src) for d in diffs):
            diffs.append("partner %s: no report was accepted" % src)
    # Segments add up to what was counted after the first one started.
    if not a.no_segments:
        segs = rep.get("segments") or tot.get("segments") or []
        titles = [s.get("title") for s in segs if isinstance(s, dict)]
        want_titles = [t for _, t, _ in SEGMENTS]
        if titles[-3:] != want_titles:
            diffs.append("segments: report has %s, expected %s at the end" %
                         (json.dumps(titles, ensure_ascii=False),
                          json.dumps(want_titles, ensure_ascii=False)))
        else:
            ours = segs[-3:]
            sv = sum(int(s.get("views") or 0) for s in ours)
            sl = sum(int(s.get("likes") or 0) for s in ours)
            if sv != sent["views"]:
                diffs.append("segments: views add up to %d, %d were counted after the first "
                             "started" % (sv, sent["views"]))
            if sl != sent["likes_accepted"]:
                diffs.append("segments: likes add up to %d, %d were counted after the first "
                             "started" % (sl, sent["likes_accepted"]))
    return diffs


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Rehearse a lecture against a running livetally and check its report.")
    p.add_argument("--url", default="http://127.0.0.1:8080", help="the server (http only)")
    p.add_argument("--operator-token", default=os.environ.get("LT_OPERATOR_TOKEN"),
                   help="an operator bearer token (default: $LT_OPERATOR_TOKEN)")
    p.add_argument("--partner", action="append", default=[], metavar="SOURCE=KEY",
                   help="a rebroadcasting platform and its key; repeat for each")
    p.add_argument("--stream", help="stream id (default rehearsal-<UTC time>)")
    p.add_argument("--series", default="tour-2022", help="the weekly series (default tour-2022)")
    p.add_argument("--title", default="城市巡讲 · 彩排 (rehearsal)")
    p.add_argument("--viewers", type=int, default=2000)
    p.add_argument("--sse-share", type=float, default=0.3, help="share of viewers on SSE")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the run")
    p.add_argument("--like-rate", type=float, default=None,
                   help="taps per second over all viewers (default: a quarter of the "
                        "per-client budget per source address)")
    p.add_argument("--no-segments", action="store_true", help="start no segments")
    p.add_argument("--seed", type=int, default=None, help="for a reproducible run")
    p.add_argument("--per-process", type=int, default=15000,
                   help="viewers per forked process (a process holds at most 20,000 files)")
    p.add_argument("--addresses", type=int, default=None,
                   help="source addresses 127.0.0.1, .2, ... to spread viewers over "
                        "(default: one per 20,000 viewers; each has its own per-client "
                        "like budget)")
    p.add_argument("--server-pid", type=int, default=None,
                   help="livetally's master pid on this machine: its CPU time is reported")
    g = p.add_argument_group("server settings (read from the report's method when absent)")
    g.add_argument("--dedup-seconds", type=int)
    g.add_argument("--viewer-rate", type=float, help="likes.rate_per_second")
    g.add_argument("--viewer-burst", type=float, help="likes.burst")
    g.add_argument("--client-rate", type=float, help="likes.per_client_rate_per_second")
    g.add_argument("--client-burst", type=float, help="likes.per_client_burst")
    g.add_argument("--max-per-message", type=int, default=50, help="likes.max_per_message")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    parts = []
    for item in a.partner:
        src, sep, key = item.partition("=")
        if not sep or not src or not key:
            p.error("--partner takes SOURCE=KEY, got %r" % item)
        parts.append((src, key))
    a.partner = parts
    if a.viewers < 1 or not 0 <= a.sse_share <= 1 or a.seconds < 5:
        p.error("--viewers >= 1, 0 <= --sse-share <= 1, --seconds >= 5")
    if a.addresses is not None and not 1 <= a.addresses <= 254:
        p.error("--addresses is 1..254")
    if a.per_process < 1:
        p.error("--per-process >= 1")
    if a.stream is None:
        a.stream = "rehearsal-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    if a.seed is None:
        a.seed = random.randrange(1 << 30)
    return a


def server_settings(a, host, port, sid):
    """dedup and like budgets: flags, else the report's `method` (the
    server's running config), else the contract's defaults."""
    method = {}
    st, body, _ = sync_request(host, port, "GET", "/v1/streams/%s/report" % sid)
    if st == 200 and isinstance(body, dict):
        method = body.get("method") or {}
    b = method.get("like_budgets") or {}
    pv, pc = b.get("per_viewer") or {}, b.get("per_client") or {}

    def pick(flag, value, default):
        return flag if flag is not None else (value if value is not None else default)
    return {"dedup_seconds": pick(a.dedup_seconds, method.get("dedup_seconds"), 1800),
            "viewer_rate": pick(a.viewer_rate, pv.get("rate_per_second"), 20),
            "viewer_burst": pick(a.viewer_burst, pv.get("burst"), 100),
            "client_rate": pick(a.client_rate, pc.get("rate_per_second"), 2000),
            "client_burst": pick(a.client_burst, pc.get("burst"), 10000),
            "from_report": bool(method)}


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    u = urllib.parse.urlsplit(a.url)
    if u.scheme != "http" or not u.hostname:
        print("rehearse: --url must be http://HOST:PORT", file=sys.stderr)
        return 2
    host, port = u.hostname, u.port or 80
    sid = urllib.parse.quote(a.stream, safe="")
    server_cpu0 = proc_cpu(a.server_pid) if a.server_pid else None
    wall0 = time.monotonic()
    # Create the stream: scheduled, starting when the rehearsal does. A
    # stream that exists keeps its status until it goes live (a move back
    # to scheduled may be refused).
    try:
        st, _, _ = sync_request(host, port, "GET", "/v1/streams/%s" % sid)
        fields = {"title": a.title, "series": a.series, "starts_at": utc_iso(time.time() + 2)}
        if st == 404:
            fields["status"] = "scheduled"
        st, body, raw = sync_request(host, port, "PUT", "/v1/streams/%s" % sid, fields,
                                     token=a.operator_token)
    except OSError as e:
        print("rehearse: cannot reach %s: %s" % (a.url, e), file=sys.stderr)
        return 2
    if st not in (200, 201):
        print("rehearse: PUT /v1/streams/%s answered %s" % (a.stream, error_text(st, body, raw)),
              file=sys.stderr)
        return 2
    settings = server_settings(a, host, port, sid)
    n_addr = a.addresses or (1 if a.viewers <= ADDR_CAPACITY
                             else math.ceil(a.viewers / ADDR_CAPACITY))
    # A multiple of the addresses: process k then holds the viewers of one
    # address only (viewer i uses address i % n_addr and process i % procs).
    procs = max(1, math.ceil(a.viewers / a.per_process))
    procs = math.ceil(procs / n_addr) * n_addr
    like_rate = a.like_rate if a.like_rate is not None else \
        0.25 * settings["client_rate"] * n_addr
    cfg = dict(settings, host=host, port=port, stream=a.stream, seconds=a.seconds,
               viewers=a.viewers, sse_share=a.sse_share, seed=a.seed,
               max_per_message=a.max_per_message,
               viewer_prefix="rh%06x" % (a.seed & 0xFFFFFF),
               addresses=n_addr, procs_per_addr=procs // n_addr)
    viewers = plan_viewers(cfg, random.Random(a.seed))
    children = []
    for k in range(procs):
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        share = viewers[k::procs]
        pid = os.fork()
        if pid == 0:
            os.close(cmd_w)
            os.close(out_r)
            viewer_process(dict(cfg, proc=k, like_rate=like_rate / procs), share, cmd_r, out_w)
        os.close(cmd_r)
        os.close(out_w)
        children.append((pid, cmd_w, out_r))
    del viewers
    co = Coordinator(a, host, port)
    try:
        res = asyncio.run(coordinate(co, children))
    except (OSError, RuntimeError, asyncio.TimeoutError, ValueError) as e:
        print("rehearse: %s" % e, file=sys.stderr)
        for pid, _, _ in children:
            try:
                os.kill(pid, 15)
            except OSError:
                pass
        for pid, _, _ in children:
            os.waitpid(pid, 0)
        return 2
    for pid, cmd_w, _ in children:
        _, status = os.waitpid(pid, 0)
        os.close(cmd_w)
        if status != 0:
            co.problems.append("viewer process %d exited with status %d" % (pid, status))
    diffs = check(co, res, settings["dedup_seconds"])
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {"tool_user": round(me.ru_utime + kids.ru_utime, 2),
           "tool_system": round(me.ru_stime + kids.ru_stime, 2),
           "wall": round(time.monotonic() - wall0, 2)}
    cpu["tool"] = round(cpu["tool_user"] + cpu["tool_system"], 2)
    if a.server_pid:
        cpu["server"] = round(proc_cpu(a.server_pid) - server_cpu0, 2)
    rep = res["report"]
    tot = rep.get("totals") or {}
    out = {
        "stream": a.stream, "series": a.series, "seconds": a.seconds, "seed": a.seed,
        "viewers": a.viewers, "processes": procs, "source_addresses": n_addr,
        "server_settings": settings, "like_rate": like_rate,
        "sent": res["sent"],
        "online_peak_sent": max(res["samples"] or [0]),
        "partners": {s: {"views": v, "likes": l, "reports": co.partner_puts.get(s, 0)}
                     for s, (v, l) in co.last_report.items()},
        "totals": {"views": tot.get("views"), "likes": tot.get("likes"),
                   "uniques": tot.get("uniques"),
                   "peak_online": (rep.get("peak") or {}).get("online", tot.get("peak_online")),
                   "peak_at": (rep.get("peak") or {}).get("at", tot.get("peak_at"))},
        "segments": [{k: s.get(k) for k in ("title", "started_at", "ended_at", "views",
                                             "likes", "uniques")}
                     for s in (rep.get("segments") or tot.get("segments") or [])],
        "sources": tot.get("sources") or {},
        "closing": {"still_open_after_5s": sum(p.get("still_open", 0) for p in res["phase2"]),
                    "close_codes_from_server": merge_counts(p.get("close_codes", {})
                                                            for p in res["phase2"])},
        "report_url": "%s/v1/streams/%s/report" % (a.url.rstrip("/"), sid),
        "cpu_seconds": cpu,
        "check": "ok" if not diffs else "differs",
        "differences": diffs,
    }
    if a.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print_text(out)
    return 0 if not diffs else 1


def merge_counts(dicts):
    out = {}
    for d in dicts:
        for k, n in d.items():
            out[str(k)] = out.get(str(k), 0) + n
    return out


def print_text(o):
    s = o["sent"]
    t = o["totals"]
    print("rehearsal %s (series %s): %g s, %d viewers (%d WebSocket, %d SSE) in %d process(es)"
          % (o["stream"], o["series"], o["seconds"], o["viewers"], s["ws_viewers"],
             s["sse_viewers"], o["processes"]))
    print("sent: %d views (%d viewers got in, %d joins, %d rejoins inside dedup), %d likes "
          "sent, %d dropped, %d accepted; peak %d open"
          % (s["views"], s["distinct"], s["joins"], s["rejoins_without_view"], s["likes_sent"],
             s["likes_dropped"], s["likes_accepted"], o["online_peak_sent"]))
    print("totals: views %s, likes %s, uniques %s, peak online %s at %s"
          % (t["views"], t["likes"], t["uniques"], t["peak_online"], t["peak_at"]))
    for seg in o["segments"]:
        print("segment %s: views %s, likes %s, uniques %s (from %s)"
              % (seg["title"], seg["views"], seg["likes"], seg["uniques"], seg["started_at"]))
    for name, src in sorted(o["sources"].items()):
        rep = src.get("reported") if isinstance(src, dict) else None
        print("source %s: counted here views %s likes %s%s"
              % (name, src.get("views"), src.get("likes"),
                 "; reported views %s likes %s at %s" % (rep.get("views"), rep.get("likes"),
                                                         rep.get("at"))
                 if isinstance(rep, dict) else ""))
    print("report: %s (printable: %s?format=html)" % (o["report_url"], o["report_url"]))
    c = o["cpu_seconds"]
    print("cpu: tool %.2f s (user %.2f, system %.2f)%s over %.1f s"
          % (c["tool"], c["tool_user"], c["tool_system"],
             ", server %.2f s" % c["server"] if "server" in c else "", c["wall"]))
    if not o["differences"]:
        print("check: ok")
    else:
        for d in o["differences"]:
            print("differs: " + d)
        print("check: FAILED (%d difference%s)" % (len(o["differences"]),
                                                   "" if len(o["differences"]) == 1 else "s"))


if __name__ == "__main__":
    sys.exit(main())
