"""WebSocket like ingest load: sockets that send text messages as fast as
the server takes them, for bench/run_all.py.

  /usr/bin/python3 bench/wslikes.py --port P --path /v1/streams/S/ws \
      --message '{"type":"like","n":1}' --sockets 64 --procs 2 --seconds 10

Each of --procs processes opens its share of --sockets WebSocket
connections (RFC 6455 upgrade, checked), then sends on each in turn a
chunk of --chunk masked text frames (one sendall: the frames are built
once, so the generator's own CPU per message stays small), and reads
whatever the server sends back without blocking. Blocking sends pace the
generator to what the server consumes. It prints one JSON line: messages
sent, seconds, its own CPU seconds, and the messages the server sent back
(e.g. rate_limited errors, which must be 0 for a fair figure).

Loopback only; every process stops by itself after --seconds.
"""

import argparse
import base64
import json
import multiprocessing
import os
import socket
import struct
import time


def frame(payload, mask=b"\x11\x22\x33\x44"):
    data = payload.encode()
    n = len(data)
    head = bytes([0x81])
    if n < 126:
        head += bytes([0x80 | n])
    else:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return head + mask + masked


def upgrade(host, port, path):
    s = socket.create_connection((host, port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "User-Agent: lt-wslikes\r\n\r\n" % (path, host, port, key)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the upgrade")
        buf += chunk
    if not buf.startswith(b"HTTP/1.1 101"):
        raise ConnectionError("upgrade answered %r" % buf[:80])
    return s, buf.split(b"\r\n\r\n", 1)[1]


def worker(args, n_sockets, out):
    socks = []
    for _ in range(n_sockets):
        s, _ = upgrade(args.host, args.port, args.path)
        # Blocking (a Python timeout would make even a MSG_DONTWAIT recv
        # wait for readability), with the kernel's own send timeout so that
        # a server that stops reading ends the run rather than hangs it.
        s.settimeout(None)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 10, 0))
        socks.append(s)
    chunk = frame(args.message) * args.chunk
    sent = received = lost = 0
    cpu0 = time.process_time()
    t0 = time.monotonic()
    end = t0 + args.seconds
    while time.monotonic() < end and socks:
        for s in list(socks):
            try:
                s.sendall(chunk)
            except OSError:  # reset or closed by the server: reported
                socks.remove(s)
                lost += 1
                continue
            sent += args.chunk
            try:
                while True:
                    data = s.recv(65536, socket.MSG_DONTWAIT)
                    if not data:
                        break
                    received += data.count(b'"type"')
            except BlockingIOError:
                pass
            except OSError:
                socks.remove(s)
                lost += 1
    elapsed = time.monotonic() - t0
    out.put({"sent": sent, "seconds": elapsed, "cpu": time.process_time() - cpu0,
             "received": received, "lost": lost})
    for s in socks:
        s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--message", default='{"type":"like","n":1}')
    p.add_argument("--sockets", type=int, default=64)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--chunk", type=int, default=200)
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()
    assert args.host.startswith("127."), "loopback only"
    q = multiprocessing.Queue()
    per = [args.sockets // args.procs + (i < args.sockets % args.procs) for i in range(args.procs)]
    procs = [multiprocessing.Process(target=worker, args=(args, n, q)) for n in per]
    for pr in procs:
        pr.start()
    res = [q.get(timeout=args.seconds + 60) for _ in procs]
    for pr in procs:
        pr.join(10)
    print(json.dumps({"sent": sum(r["sent"] for r in res),
                      "seconds": max(r["seconds"] for r in res),
                      "generator_cpu_seconds": sum(r["cpu"] for r in res),
                      "received_messages": sum(r["received"] for r in res),
                      "sockets_lost": sum(r["lost"] for r in res)}))


if __name__ == "__main__":
    main()
