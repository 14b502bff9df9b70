"""Test harness for livetally's integration tests.

Only Debian's /usr/bin/python3 standard library (plus pytest in conftest.py):
raw sockets for HTTP so that the tests control every byte on the wire, a tiny
RESP client for looking inside Redis, and process wrappers that start a
throwaway redis-server and the real livetally binary and always stop them by
PID.

Every wait here is bounded; every helper that waits takes a timeout.
"""

import base64
import hashlib
import json
import os
import random
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time

# ---------------------------------------------------------------------------
# small utilities


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago, from 5000-11999:
    below the ephemeral range (32768+), so that the many outgoing
    connections of load tests running alongside cannot take it between the
    pick and the bind, nor take it back while a server restarts on it; and
    below ltcluster.py's band (12000-31999 with bus ports)."""
    rng = random.Random()
    for _ in range(2000):
        port = rng.randrange(5000, 12000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(fn, timeout, interval=0.02, desc="condition"):
    """Calls fn() until it returns something truthy; returns that value.
    Raises AssertionError naming desc (and fn's last value) on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)"
                                 % (timeout, desc, last))
        time.sleep(interval)


def deep_merge(base, over):
    """Returns base with over merged in; nested dicts merge, other values
    replace. Keys of over may be dotted ("limits.max_body_bytes")."""
    out = json.loads(json.dumps(base))
    for key, value in over.items():
        parts = key.split(".")
        node = out
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        last = parts[-1]
        if isinstance(value, dict) and isinstance(node.get(last), dict):
            node[last] = deep_merge(node[last], value)
        else:
            node[last] = json.loads(json.dumps(value))
    return out


def pid_alive(pid):
    """Is any thread of process pid still live (not a zombie)? A process's
    main thread shows Z as soon as it exits while its other threads (the
    spool's fsync thread, which may sit in fsync) still run and still hold
    its files, and with them the spool's flock."""
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return False
    for tid in tasks:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        if stat[stat.rindex(")") + 2:].split()[0] not in ("Z", "X"):
            return True
    return False


def children_of(pid):
    """PIDs of the live direct children of pid, read from /proc."""
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()
        if rest[0] in ("Z", "X"):
            continue
        if int(rest[1]) == pid:
            kids.append(int(name))
    return sorted(kids)


def tail(path, n=60):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "(no %s)" % path
    return "\n".join(lines[-n:])


# ---------------------------------------------------------------------------
# Logs and secrets of the whole session
#
# Every process the harness starts (redis-server, livetally, run_binary)
# leaves its output in files that are kept for the whole pytest session and
# listed in LOGS; every secret handed to one of them (operator tokens,
# partner keys, the metrics token, Redis passwords) is listed in SECRETS.
# conftest.py greps every log for every secret when the session ends (and
# each test's servers at its teardown), so a secret written to any log line
# fails the run naming the file and the line. Each pytest process (CTest runs
# one per test file) checks what it started itself: a secret can only reach
# the logs of a process that was given it, and that process was started by
# the same session.

LOGS = []     # paths, in the order the processes were started
SECRETS = {}  # secret text -> where it was handed out ("LT_TEST_KEY_A to lt0")
LOG_DIR = None  # set by conftest.py to a session directory; else made on first use
MIN_SECRET_LEN = 8  # shorter test secrets would match unrelated text
# Variables that hold a secret by their name, whatever the config says
# (a variable set at start and named by the config only after a reload).
SECRET_ENV_NAME = re.compile(r"TOKEN|KEY|PASSWORD|PASSWD|SECRET", re.I)
DEFAULT_OPERATOR_TOKENS_ENV = "LIVETALLY_OPERATOR_TOKENS"


def log_dir():
    """The session's directory for outputs that have no server dir."""
    global LOG_DIR
    if LOG_DIR is None:
        LOG_DIR = tempfile.mkdtemp(prefix="livetally-logs-")
    return LOG_DIR


def keep_log(path):
    """Lists a process' output file for the end-of-session secret grep."""
    path = str(path)
    if path not in LOGS:
        LOGS.append(path)


def record_secret(value, origin, into=None):
    """Lists a secret handed to a process in `into` (default SECRETS). Items
    of a comma-separated list are recorded one by one (blanks trimmed, empty
    ones dropped), as the server splits operator tokens; a short one is
    refused: grepping for it would prove nothing."""
    into = SECRETS if into is None else into
    for part in str(value).split(","):
        part = part.strip()
        if not part:
            continue
        if len(part) < MIN_SECRET_LEN:
            raise AssertionError("test secret %r (%s) is shorter than %d characters: use a "
                                 "longer one so that the log grep means something"
                                 % (part, origin, MIN_SECRET_LEN))
        into.setdefault(part, origin)


def secret_env_names(config):
    """The variables a livetally config reads secrets from."""
    names = set()
    redis = config.get("redis") or {}
    auth = config.get("auth") or {}
    names.add(redis.get("password_env"))
    names.add(auth.get("operator_tokens_env", DEFAULT_OPERATOR_TOKENS_ENV))
    for src in (auth.get("sources") or {}).values():
        if isinstance(src, dict):
            names.add(src.get("key_env"))
    names.add((config.get("metrics") or {}).get("token_env"))
    return {n for n in names if isinstance(n, str)}


def record_env_secrets(env, origin, config=None, into=None):
    """Records the secrets among env's values (what a test hands a process,
    not the inherited environment): the variables config names and any whose
    name says it holds one."""
    names = secret_env_names(config or {}) | {k for k in env if SECRET_ENV_NAME.search(k)}
    for name in sorted(names):
        if env.get(name):
            record_secret(env[name], "%s to %s" % (name, origin), into)


def secrets_in_logs(logs=None, secrets=None):
    """Every line of the logs (default LOGS) holding a secret (default
    SECRETS): a list of (path, line number, origin of the secret, the line
    with the secret masked). The secret itself is never in the result."""
    logs = LOGS if logs is None else logs
    secrets = SECRETS if secrets is None else secrets
    found = []
    for path in logs:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        text = data.decode("utf-8", "replace")
        hits = [(s, o) for s, o in secrets.items() if s in text]
        if not hits:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            for secret, origin in hits:
                if secret in line:
                    masked = line
                    for s2, _ in hits:
                        masked = masked.replace(s2, "<secret>")
                    found.append((path, n, origin, masked[:300]))
    return found


def describe_secret_findings(found):
    return "\n".join("%s:%d: the secret %s: %s" % f for f in found)


# ---------------------------------------------------------------------------
# HTTP over raw sockets


class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) in wire order
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        """The first header with this name (case-insensitive)."""
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def header_tokens(self, name):
        """Every comma-separated token of every header with this name,
        lower-cased."""
        toks = []
        for v in self.header_all(name):
            toks += [t.strip().lower() for t in v.split(",") if t.strip()]
        return toks

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        body = self.body[:600]
        return "<HTTP %s %s %r body=%r>" % (self.status, self.reason, self.headers, body)


class PeerClosed(Exception):
    """The peer closed the connection (EOF or reset) before a full answer."""


def build_request(method, path, host="127.0.0.1", headers=None, body=None,
                  version="HTTP/1.1", auto=True):
    """Bytes of one request. With auto, a Host header and a Content-Length
    (when there is a body and no framing header) are added."""
    headers = list(headers or [])
    names = {k.lower() for k, _ in headers}
    if isinstance(body, str):
        body = body.encode("utf-8")
    if auto:
        if "host" not in names and version == "HTTP/1.1":
            headers.insert(0, ("Host", host))
        if body is not None and "content-length" not in names \
                and "transfer-encoding" not in names:
            headers.append(("Content-Length", str(len(body))))
    out = "%s %s %s\r\n" % (method, path, version)
    out = out.encode("latin-1")
    for k, v in headers:
        k = k.encode("latin-1") if isinstance(k, str) else k
        v = v.encode("latin-1") if isinstance(v, str) else v
        out += k + b": " + v + b"\r\n"
    out += b"\r\n"
    if body is not None:
        out += body
    return out


def chunked(body, sizes=(7, 1, 100), extension=True, trailers=()):
    """A chunked encoding of body with chunks of varying sizes."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    out = b""
    i = 0
    k = 0
    while i < len(body):
        n = sizes[k % len(sizes)]
        k += 1
        piece = body[i:i + n]
        i += n
        ext = b";foo=bar" if extension and k == 1 else b""
        out += b"%x" % len(piece) + ext + b"\r\n" + piece + b"\r\n"
    out += b"0\r\n"
    for name, value in trailers:
        out += name.encode() + b": " + value.encode() + b"\r\n"
    out += b"\r\n"
    return out


class Buffered:
    """A reader over self.buf that self._fill(deadline) adds to (raising
    PeerClosed or socket.timeout when it cannot): HttpConn over its socket,
    Dechunked over a chunked body."""

    def _read_until(self, sep, limit=1 << 20, deadline=None):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = self.buf[:i + len(sep)]
                self.buf = self.buf[i + len(sep):]
                return out
            if len(self.buf) > limit:
                raise AssertionError("no %r within %d bytes" % (sep, limit))
            self._fill(deadline)


class HttpConn(Buffered):
    """One client connection. Sends raw bytes and reads responses one at a
    time (Content-Length, chunked, or until close)."""

    def __init__(self, host, port, timeout=5.0, source_addr=None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=source_addr)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    # -- low level
    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self, deadline=None):
        if self.eof:
            raise PeerClosed("connection closed by peer; buffered: %r" % self.buf[:200])
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("deadline passed")
            self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            self.eof = True
            raise PeerClosed("connection reset by peer; buffered: %r" % self.buf[:200])
        finally:
            self.sock.settimeout(self.timeout)
        if not chunk:
            self.eof = True
            raise PeerClosed("connection closed by peer; buffered: %r" % self.buf[:200])
        self.buf += chunk


    def _read_exact(self, n, deadline=None):
        while len(self.buf) < n:
            self._fill(deadline)
        out = self.buf[:n]
        self.buf = self.buf[n:]
        return out

    def _read_to_eof(self, deadline=None):
        while True:
            try:
                self._fill(deadline)
            except PeerClosed:
                break
        out = self.buf
        self.buf = b""
        return out

    # -- responses
    def read_response(self, head=False, timeout=None):
        """Reads one response (interim 1xx responses included: the caller
        sees them). head=True: the request was HEAD, so no body follows."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        raw = self._read_until(b"\r\n\r\n", deadline=deadline)
        lines = raw[:-4].split(b"\r\n")
        m = re.match(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        version = m.group(1).decode()
        status = int(m.group(2))
        reason = (m.group(3) or b"").decode("latin-1")
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise AssertionError("bad header line %r in %r" % (line, raw))
            headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
        resp = Response(version, status, reason, headers, b"", raw)
        if head or 100 <= status < 200 or status in (204, 304):
            return resp
        te = resp.header("transfer-encoding")
        cl = resp.header("content-length")
        if te is not None and "chunked" in te.lower():
            body = b""
            while True:
                line = self._read_until(b"\r\n", deadline=deadline)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._read_until(b"\r\n", deadline=deadline) != b"\r\n":
                        pass
                    break
                body += self._read_exact(size, deadline=deadline)
                assert self._read_exact(2, deadline=deadline) == b"\r\n"
            resp.body = body
        elif cl is not None:
            resp.body = self._read_exact(int(cl), deadline=deadline)
        else:
            resp.body = self._read_to_eof(deadline=deadline)
        return resp

    def read_final(self, head=False, timeout=None):
        """Reads responses until a final (non-1xx) one and returns it."""
        while True:
            r = self.read_response(head=head, timeout=timeout)
            if r.status >= 200:
                return r

    def request(self, method, path, body=None, headers=None, timeout=None):
        self.send(build_request(method, path, host="%s:%d" % (self.host, self.port),
                                headers=headers, body=body))
        return self.read_final(head=(method == "HEAD"), timeout=timeout)

    def get_json(self, path, headers=None):
        r = self.request("GET", path, headers=headers)
        return r, (r.json() if r.body else None)

    def post_json(self, path, obj, headers=None, content_type="application/json"):
        hdrs = [("Content-Type", content_type)] + list(headers or [])
        return self.request("POST", path, body=json.dumps(obj), headers=hdrs)

    def wait_closed(self, timeout):
        """True when the peer closes (EOF or reset) within timeout, after
        discarding anything it sends first; False when still open. The bytes
        received meanwhile are kept in self.buf."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(deadline)
            except PeerClosed:
                return True
            except (socket.timeout, TimeoutError):
                return False

    def is_open_now(self):
        """Non-blocking: True when nothing says the peer has closed."""
        if self.eof:
            return False
        r, _, _ = select.select([self.sock], [], [], 0)
        if not r:
            return True
        try:
            data = self.sock.recv(65536, socket.MSG_PEEK)
        except ConnectionResetError:
            return False
        return bool(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def raw_exchange(host, port, data, head=False, timeout=5.0):
    """Opens a connection, sends exactly data, reads one final response and
    closes. Returns the Response."""
    with HttpConn(host, port, timeout=timeout) as c:
        c.send(data)
        return c.read_final(head=head)


# ---------------------------------------------------------------------------
# contract checks


ERROR_CODES = {
    "bad_request", "bad_json", "bad_event", "bad_stream_id", "not_found",
    "unknown_stream", "method_not_allowed", "unauthorized", "forbidden",
    "stream_ended", "too_large", "unsupported_media_type", "rate_limited",
    "headers_too_large", "not_ready", "overloaded",
}


def assert_json_content_type(resp):
    ct = (resp.header("content-type") or "").lower().replace(" ", "")
    assert ct.startswith("application/json"), "Content-Type %r, not JSON: %r" % (ct, resp)


def assert_error(resp, status, code=None):
    """The contract's error: the status, Content-Type application/json and a
    body {"error": code, "message": text}. code may be a string or a set of
    acceptable codes."""
    assert resp.status == status, "expected %s, got %r" % (status, resp)
    assert_json_content_type(resp)
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError("error body is not JSON: %r" % resp)
    assert isinstance(body, dict), resp
    assert isinstance(body.get("error"), str), "no error code in %r" % body
    assert isinstance(body.get("message"), str) and body["message"], \
        "no message in %r" % body
    if code is not None:
        codes = {code} if isinstance(code, str) else set(code)
        assert body["error"] in codes, "error %r, expected %s" % (body["error"], sorted(codes))
    return body


# ---------------------------------------------------------------------------
# RESP (Redis) client


class RespError(Exception):
    pass


class Resp:
    """A tiny blocking Redis client: enough for FLUSHALL, SCAN, TYPE, INFO,
    GET, HGETALL and friends."""

    def __init__(self, host, port, timeout=3.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n + 2:]
        return out

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ConnectionError("bad RESP reply %r" % line)

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        r = self._reply()
        if isinstance(r, RespError):
            raise r
        return r

    def keys(self, pattern="*"):
        cursor = b"0"
        found = set()
        while True:
            cursor, batch = self.cmd("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
            found.update(k.decode("utf-8", "replace") for k in batch)
            if cursor == b"0":
                return sorted(found)

    def info(self, section=None):
        raw = self.cmd("INFO", section) if section else self.cmd("INFO")
        out = {}
        for line in raw.decode().splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v
        return out


# ---------------------------------------------------------------------------
# redis-server


class PortTaken(Exception):
    """redis-server could not bind its port: another process took it."""


class RedisServer:
    """A throwaway redis-server with an fsync-always AOF in its own dir, so
    that acknowledged writes survive SIGKILL; can be killed and restarted on
    the same port and dir."""

    def __init__(self, binary, workdir, port=None, password=None):
        self.binary = binary
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.port_picked = not port  # another may be picked if a stranger takes it first
        self.host = "127.0.0.1"
        self.proc = None
        # redis-server appends to its log file across restarts; stdout and
        # stderr (what it says before the log file is open) are kept too.
        self.log = os.path.join(self.dir, "redis.log")
        self.stdout_path = os.path.join(self.dir, "redis.stdout")
        self.stderr_path = os.path.join(self.dir, "redis.stderr")
        self.password = password  # requirepass; the clients below AUTH with it
        if password:
            record_secret(password, "requirepass of redis in %s" % self.dir)
        self.starts = 0

    def start(self, timeout=10.0):
        """Starts redis-server and waits until it answers, checking that it
        is this one (INFO's process_id): the port was free a moment ago, but
        another test's process may take it first. Then this server cannot
        bind; on its first start it moves to another free port."""
        for attempt in range(3):
            try:
                return self._start(timeout)
            except PortTaken:
                if not (self.port_picked and self.starts == 1) or attempt == 2:
                    raise
                self.starts = 0
                self.port = free_port()

    def _start(self, timeout):
        assert self.proc is None or self.proc.poll() is not None, "redis already running"
        args = [self.binary,
                "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--daemonize", "no",
                "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                "--enable-debug-command", "yes", "--protected-mode", "no",
                "--logfile", self.log]
        if self.password:
            args += ["--requirepass", self.password]
        for path in (self.log, self.stdout_path, self.stderr_path):
            keep_log(path)
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         start_new_session=True)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                log = tail(self.log)
                if "Address already in use" in "\n".join(log.splitlines()[-5:]):
                    raise PortTaken(self.port)
                raise AssertionError("redis-server exited with %s:\n%s"
                                     % (self.proc.returncode, log))
            try:
                with self.client(timeout=1.0) as r:
                    if r.cmd("PING") == "PONG" and \
                            r.info("server").get("process_id") == str(self.proc.pid):
                        return
            except (OSError, RespError):
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("redis-server not answering on port %d:\n%s"
                                     % (self.port, tail(self.log)))
            time.sleep(0.02)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL by PID and reap."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, timeout=3.0):
        r = Resp(self.host, self.port, timeout=timeout)
        if self.password:
            try:
                r.cmd("AUTH", self.password)
            except BaseException:
                r.close()
                raise
        return r

    def flushall(self):
        with self.client() as r:
            r.cmd("FLUSHALL")


def reload_slowly(server, prefix, keys=30000, key_load_delay_us=20):
    """Makes `server` (a RedisServer or an ltcluster.Node: anything with
    client(timeout=)) answer LOADING for a few seconds, as a Redis does
    while it loads a large dataset after a restart: a ballast of `keys`
    keys named prefix:N (on a cluster, give prefix a hash tag of a slot the
    node serves), then DEBUG RELOAD with the keys loaded key_load_delay_us
    apart and other clients served between them. A probe client checks that
    the window is real. The ballast is removed afterwards. Returns (LOADING
    answers the probe saw, seconds the reload took)."""
    with server.client(timeout=60) as r:
        r.cmd("DEBUG", "POPULATE", str(keys), prefix)
        r.cmd("CONFIG", "SET", "key-load-delay", str(key_load_delay_us))
        r.cmd("CONFIG", "SET", "loading-process-events-interval-bytes", "4096")
    done = threading.Event()

    def reload():
        try:
            with server.client(timeout=120) as r:
                r.cmd("DEBUG", "RELOAD")
        finally:
            done.set()

    t = threading.Thread(target=reload)
    started = time.monotonic()
    t.start()
    refused = 0
    try:
        with server.client(timeout=10) as probe:
            while not done.is_set():
                try:
                    probe.cmd("EVAL", "return 1", "0")
                except RespError as exc:
                    assert str(exc).startswith("LOADING"), exc
                    refused += 1
                time.sleep(0.02)
    finally:
        t.join(120)
    assert done.is_set(), "DEBUG RELOAD did not end"
    took = time.monotonic() - started
    with server.client(timeout=30) as r:
        r.cmd("CONFIG", "SET", "key-load-delay", "0")
        cursor = b"0"
        for _ in range(1000):
            cursor, found = r.cmd("SCAN", cursor, "MATCH", prefix + ":*", "COUNT", "2000")
            if found:
                r.cmd("UNLINK", *found)
            if cursor == b"0":
                break
        else:
            raise AssertionError("SCAN did not end")
    return refused, took


# ---------------------------------------------------------------------------
# livetally


READY_RE = re.compile(r"^livetally ready on http://(\[[^\]]+\]|[^:/]+):(\d+)\s*$", re.M)


class LivetallyServer:
    """One livetally master process started with a generated config file.

    stdout goes to a file that is polled for the ready line; stderr goes to
    another file shown when a test fails."""

    def __init__(self, binary, workdir, config, env=None, args=(), name="lt", preexec=None):
        self.binary = binary
        self.preexec = preexec  # run in the child before exec (e.g. setrlimit)
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.name = name
        self.config = config
        self.config_path = os.path.join(self.dir, name + ".json")
        self.stdout_path = os.path.join(self.dir, name + ".stdout")
        self.stderr_path = os.path.join(self.dir, name + ".stderr")
        self.env = env or {}
        self.args = list(args)
        self.starts = 0
        self.proc = None
        self.host = None
        self.port = None
        self.returncode = None
        self.known_workers = set()
        self.leftover_workers = []
        # Tests that kill workers on purpose set this; otherwise a worker
        # death logged by the master fails the test at teardown.
        self.worker_deaths_expected = False

    def write_config(self):
        # Recorded at every write (start calls this too): a rewritten config
        # may name other variables (a reload rotating a token). Only what the
        # test hands over counts, not the inherited environment.
        record_env_secrets(self.env, self.name, self.config)
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=2)

    def start(self, wait_ready=True, timeout=10.0):
        self.write_config()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LIVETALLY_") and not k.startswith("LT_TEST_")}
        env.update(self.env)
        # A restart starts fresh files (the ready line is looked for in
        # stdout); the previous run's are kept beside them as NAME.N.stdout.
        self.starts += 1
        if self.starts > 1:
            for path in (self.stdout_path, self.stderr_path):
                base, ext = os.path.splitext(path)
                kept = "%s.%d%s" % (base, self.starts - 1, ext)
                if os.path.exists(path):
                    os.replace(path, kept)
                    keep_log(kept)
        for path in (self.stdout_path, self.stderr_path):
            keep_log(path)
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([self.binary, "--config", self.config_path] + self.args,
                                     stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, env=env, cwd=self.dir,
                                     start_new_session=True, preexec_fn=self.preexec)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def stdout_text(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            m = READY_RE.search(self.stdout_text())
            if m:
                self.host = m.group(1).strip("[]")
                self.port = int(m.group(2))
                self.remember_workers()
                return
            if self.proc.poll() is not None:
                raise AssertionError("livetally exited with %s before its ready line\n"
                                     "stdout: %s\nstderr:\n%s"
                                     % (self.proc.returncode, self.stdout_text(),
                                        tail(self.stderr_path)))
            if time.monotonic() > deadline:
                raise AssertionError("no ready line from livetally within %.0fs\n"
                                     "stdout: %s\nstderr:\n%s"
                                     % (timeout, self.stdout_text(), tail(self.stderr_path)))
            time.sleep(0.01)

    @property
    def pid(self):
        return self.proc.pid

    def workers(self):
        kids = children_of(self.proc.pid)
        self.known_workers.update(kids)
        return kids

    def remember_workers(self):
        if self.proc is not None and self.proc.poll() is None:
            self.workers()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.remember_workers()
        os.kill(self.proc.pid, sig)

    def kill_group(self, timeout=10.0):
        """SIGKILLs the master and its workers (one process group) and waits
        until every one is gone, its last thread too: a worker's files, and
        with them the spool's flock, outlive the master's exit for a moment
        (under ASan, long enough for a restart to find the spool locked).
        Returns the master's exit status (-SIGKILL)."""
        self.remember_workers()
        os.killpg(self.proc.pid, signal.SIGKILL)
        rc = self.wait_exit(timeout)
        wait_until(lambda: not any(pid_alive(p) for p in self.known_workers), timeout,
                   desc="the killed workers gone")
        return rc

    def wait_exit(self, timeout):
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig to the master by PID, waits up to timeout, then SIGKILLs
        it. Workers left behind are SIGKILLed by PID and listed in
        leftover_workers. Returns the master's exit status (negative: killed
        by that signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.remember_workers()
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.returncode = self.proc.returncode
        # Workers should have gone with the master; give them a moment.
        deadline = time.monotonic() + 3.0
        alive = [p for p in self.known_workers if pid_alive(p)]
        while alive and time.monotonic() < deadline:
            time.sleep(0.02)
            alive = [p for p in alive if pid_alive(p)]
        for p in alive:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.leftover_workers = alive
        for f in (self._out, self._err):
            try:
                f.close()
            except Exception:
                pass
        return self.returncode

    # -- client helpers
    def conn(self, timeout=5.0):
        return HttpConn(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=5.0):
        with self.conn(timeout=timeout) as c:
            return c.request(method, path, body=body, headers=headers)

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post_events(self, stream, events, headers=None, content_type="application/json"):
        body = events if isinstance(events, (bytes, str)) else json.dumps(events)
        hdrs = [("Content-Type", content_type)] + list(headers or [])
        return self.request("POST", "/v1/streams/%s/events" % stream, body=body, headers=hdrs)

    def put_stream(self, stream, obj, token=None, headers=None):
        hdrs = [("Content-Type", "application/json")]
        if token is not None:
            hdrs.append(("Authorization", "Bearer " + token))
        hdrs += list(headers or [])
        return self.request("PUT", "/v1/streams/%s" % stream, body=json.dumps(obj), headers=hdrs)

    def totals(self, stream, query=""):
        """The totals object, or None for 404."""
        r = self.get("/v1/streams/%s%s" % (stream, query))
        if r.status == 404:
            return None
        assert r.status == 200, r
        return r.json()

    def wait_totals(self, stream, expect, timeout=5.0, settle=0.2):
        """Polls GET /v1/streams/{stream} until every field in expect (dotted
        paths allowed: "sources.direct.likes") has the expected value, then
        checks that it stays so for `settle` seconds (nothing counted twice
        later). Returns the totals."""
        def current():
            r = self.get("/v1/streams/%s" % stream)
            if r.status == 503:  # Redis still coming back: not an answer yet
                return None, {"<503>": r.body.decode("utf-8", "replace")}
            if r.status == 404:
                return None, {"<404>": True}
            assert r.status == 200, r
            t = r.json()
            got = {k: dig(t, k) for k in expect}
            return t, got

        deadline = time.monotonic() + timeout
        got = None
        while True:
            t, got = current()
            if got == expect:
                break
            if time.monotonic() > deadline:
                raise AssertionError("totals of %s: expected %r, got %r\nfull: %r"
                                     % (stream, expect, got, t))
            time.sleep(0.03)
        if settle:
            time.sleep(settle)
            t, got = current()
            assert got == expect, "totals of %s changed after matching: expected %r, got %r" \
                % (stream, expect, got)
        return t




def metric(srv, name, token=None):
    """The sum of a metric's samples in GET /metrics (Prometheus text);
    token: the metrics token, when metrics.token_env is set."""
    r = srv.get("/metrics", headers=[("Authorization", "Bearer " + token)] if token else None)
    assert r.status == 200, r
    total = None
    for line in r.body.decode().splitlines():
        if line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) >= 2 and parts[0].split("{")[0].endswith(name):
            total = (total or 0) + float(parts[1])
    return total


def dig(obj, path):
    """obj["a"]["b"] for path "a.b"; None when any step is missing."""
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def run_binary(binary, args, env=None, timeout=10.0, cwd=None):
    """Runs livetally to completion (--help, --check-config). Returns
    (exit status, stdout, stderr)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("LIVETALLY_")}
    e.update(env or {})
    global _runs
    _runs += 1
    name = "run%d" % _runs
    record_env_secrets(env or {}, "%s (%s)" % (name, " ".join(args)), _config_of(args))
    p = subprocess.run([binary] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=e, timeout=timeout, cwd=cwd)
    # Kept for the session's secret grep like a server's output.
    for ext, data in (("stdout", p.stdout), ("stderr", p.stderr)):
        path = os.path.join(log_dir(), "%s.%s" % (name, ext))
        with open(path, "wb") as f:
            f.write(data)
        keep_log(path)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


_runs = 0  # run_binary calls so far: names their kept outputs


def _config_of(args):
    """The config file named by --config FILE in args, parsed; {} when there
    is none or it is not a JSON object (tests of broken files)."""
    args = list(args)
    for i, a in enumerate(args[:-1]):
        if a == "--config":
            try:
                with open(args[i + 1]) as f:
                    config = json.load(f)
            except (OSError, ValueError):
                return {}
            return config if isinstance(config, dict) else {}
    return {}


# ---------------------------------------------------------------------------
# WebSocket (RFC 6455) and Server-Sent Events over raw sockets
#
# Used by test_ws.py, test_sse.py and test_fanout.py. The WebSocket client
# writes every frame itself (masked unless told otherwise) so that tests can
# send exactly the bytes they mean, broken ones included.

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def ws_accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    digest = hashlib.sha1((key + WS_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def ws_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """One frame's bytes. length overrides the length written in the header
    (the payload is still appended as given: pass b"" to send only a header)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    return head + key + masked


def ws_close_payload(code, reason=""):
    return code.to_bytes(2, "big") + reason.encode("utf-8")


class WsClosed(Exception):
    """A close frame arrived where a message was expected."""

    def __init__(self, code, reason):
        Exception.__init__(self, "close frame %s %r" % (code, reason))
        self.code = code
        self.reason = reason


class WsClient:
    """A raw-socket WebSocket client. connect() sends the upgrade request
    and reads the answer's head into .response; when it is 101 the socket
    speaks frames from then on (.open is True)."""

    def __init__(self, host, port, path, headers=None, timeout=5.0, key=None,
                 auto_pong=True, connect=True):
        self.host, self.port, self.path = host, port, path
        self.timeout = timeout
        self.key = key or base64.b64encode(os.urandom(16)).decode("ascii")
        self.extra_headers = list(headers or [])
        self.auto_pong = auto_pong
        self.conn = None
        self.response = None
        self.open = False
        self.messages = []   # every JSON message received, in order
        self.pings = []      # payloads of pings received
        self.close_frame = None  # (code, reason) once a close frame arrived
        if connect:
            self.connect()

    # -- handshake
    def upgrade_headers(self):
        return [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", self.key), ("Sec-WebSocket-Version", "13")]

    def connect(self, headers=None):
        self.conn = HttpConn(self.host, self.port, timeout=self.timeout)
        hdrs = self.upgrade_headers() if headers is None else list(headers)
        hdrs += self.extra_headers
        self.conn.send(build_request("GET", self.path, host="%s:%d" % (self.host, self.port),
                                     headers=hdrs))
        self.response = self.conn.read_response()
        if self.response.status == 101:
            self.open = True
            got = self.response.header("Sec-WebSocket-Accept")
            assert got == ws_accept_key(self.key), \
                "Sec-WebSocket-Accept %r, expected %r" % (got, ws_accept_key(self.key))
        return self.response

    # -- output
    def send_raw(self, data):
        self.conn.send(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.conn.send(ws_frame(opcode, payload, **kw))

    def send_text(self, text, **kw):
        self.send_frame(OP_TEXT, text, **kw)

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def send_close(self, code=1000, reason=""):
        self.send_frame(OP_CLOSE, ws_close_payload(code, reason) if code is not None else b"")

    # -- input
    def recv_frame(self, timeout=None):
        """(fin, rsv, opcode, payload) of the next frame. Raises PeerClosed
        on EOF, socket.timeout when no complete frame came in time (a partial
        frame stays buffered for the next call)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        c = self.conn
        while True:
            frame = self._parse_frame(c.buf)
            if frame is not None:
                used, fin, rsv, op, payload = frame
                c.buf = c.buf[used:]
                return fin, rsv, op, payload
            c._fill(deadline)

    @staticmethod
    def _parse_frame(buf):
        if len(buf) < 2:
            return None
        fin = bool(buf[0] & 0x80)
        rsv = (buf[0] >> 4) & 7
        op = buf[0] & 0x0F
        masked = bool(buf[1] & 0x80)
        n = buf[1] & 0x7F
        i = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n = int.from_bytes(buf[2:4], "big")
            i = 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n = int.from_bytes(buf[2:10], "big")
            i = 10
        assert not masked, "the server masked a frame (RFC 6455 5.1 forbids it)"
        if len(buf) < i + n:
            return None
        return i + n, fin, rsv, op, bytes(buf[i:i + n])

    def recv(self, timeout=None):
        """The next data message as (opcode, payload bytes); pings are
        answered (unless auto_pong is off) and recorded, pongs skipped. A close
        frame raises WsClosed (after recording it)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        parts, first_op = [], None
        while True:
            fin, rsv, op, payload = self.recv_frame(timeout=max(0.0, deadline - time.monotonic()))
            assert rsv == 0, "server frame with RSV bits %d" % rsv
            if op == OP_PING:
                self.pings.append(payload)
                if self.auto_pong:
                    self.send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                reason = payload[2:].decode("utf-8", "replace")
                self.close_frame = (code, reason)
                raise WsClosed(code, reason)
            if op != OP_CONT:
                first_op = op
            parts.append(payload)
            if fin:
                return first_op, b"".join(parts)

    def recv_json(self, timeout=None):
        op, payload = self.recv(timeout)
        assert op == OP_TEXT, "expected a text frame, got opcode %d: %r" % (op, payload[:200])
        msg = json.loads(payload.decode("utf-8"))
        self.messages.append(msg)
        return msg

    def wait_message(self, pred=None, timeout=3.0, desc="message"):
        """Reads messages until one satisfies pred (any when None) and
        returns it; the others are kept in .messages."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %.1fs; got %r" % (desc, timeout, seen[-8:]))
            try:
                msg = self.recv_json(timeout=left)
            except (socket.timeout, TimeoutError):
                raise AssertionError("no %s within %.1fs; got %r" % (desc, timeout, seen[-8:]))
            seen.append(msg)
            if pred is None or pred(msg):
                return msg

    def wait_totals(self, timeout=3.0, **expect):
        """The next totals message whose fields equal expect."""
        def ok(m):
            return m.get("type") == "totals" and all(m.get(k) == v for k, v in expect.items())
        return self.wait_message(ok, timeout, desc="totals with %r" % (expect,))

    def wait_error(self, code=None, timeout=3.0):
        def ok(m):
            return m.get("type") == "error" and (code is None or m.get("code") == code)
        return self.wait_message(ok, timeout, desc="error %s" % (code,))

    def quiet_for(self, seconds):
        """Reads for `seconds` and returns the messages that came (pings are
        answered as usual)."""
        deadline = time.monotonic() + seconds
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            try:
                got.append(self.recv_json(timeout=left))
            except (socket.timeout, TimeoutError):
                return got

    def wait_close(self, timeout=3.0, reply=True):
        """Reads until a close frame; returns (code, reason). With reply, the
        close is answered (the closing handshake)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no close frame within %.1fs; messages %r"
                                     % (timeout, self.messages[-5:]))
            try:
                self.recv(timeout=left)
            except WsClosed as e:
                if reply:
                    try:
                        self.send_close(e.code if e.code is not None else None)
                    except OSError:
                        pass
                return e.code, e.reason
            except (socket.timeout, TimeoutError):
                continue
            except PeerClosed:
                raise AssertionError("TCP closed without a close frame; messages %r"
                                     % (self.messages[-5:],))

    def wait_eof(self, timeout=3.0):
        """True when the server closes TCP within timeout (anything it sends
        meanwhile is discarded)."""
        return self.conn.wait_closed(timeout)

    def close(self):
        if self.conn is not None:
            self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Dechunked(Buffered):
    """The body of a chunked response on conn, decoded as it arrives, with
    the one reader SseClient needs (Buffered._read_until). livetally ends an event
    stream by closing (no framing); a proxy in front (nginx) re-frames it
    chunked for an HTTP/1.1 client. A timeout in the middle of a chunk keeps
    the state: the next call goes on from there."""

    def __init__(self, conn):
        self.conn = conn
        self.buf = b""
        self.left = None  # bytes left of the current chunk; None: a size line is next

    def _fill(self, deadline=None):
        c = self.conn
        if self.left == 0:  # the CRLF after a chunk's data
            crlf = c._read_exact(2, deadline=deadline)
            assert crlf == b"\r\n", "bad chunk framing: %r" % crlf
            self.left = None
        if self.left is None:
            line = c._read_until(b"\r\n", deadline=deadline)
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                raise PeerClosed("the chunked body ended; decoded: %r" % self.buf[:200])
            self.left = size
        if not c.buf:
            c._fill(deadline)
        take = c.buf[:self.left]
        c.buf = c.buf[len(take):]
        self.left -= len(take)
        self.buf += take


class SseClient:
    """GET an event stream over a raw socket and read it block by block
    (a block: lines up to an empty line). A chunked answer (through a proxy)
    is decoded."""

    def __init__(self, host, port, path, headers=None, timeout=5.0):
        self.conn = HttpConn(host, port, timeout=timeout)
        self.timeout = timeout
        hdrs = [("Accept", "text/event-stream")] + list(headers or [])
        self.conn.send(build_request("GET", path, host="%s:%d" % (host, port), headers=hdrs))
        deadline = time.monotonic() + timeout
        raw = self.conn._read_until(b"\r\n\r\n", deadline=deadline)
        lines = raw[:-4].split(b"\r\n")
        m = re.match(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        assert m, "bad status line %r" % lines[0]
        headers_out = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers_out.append((name.decode("latin-1"), value.strip().decode("latin-1")))
        self.response = Response(m.group(1).decode(), int(m.group(2)),
                                 (m.group(3) or b"").decode("latin-1"), headers_out, b"", raw)
        self.comments = []   # (monotonic time, text) of every comment line
        self.blocks = []     # every block read, as lists of (field, value)
        chunked = "chunked" in self.response.header_tokens("transfer-encoding")
        self.body = Dechunked(self.conn) if chunked else self.conn

    def read_block(self, timeout=None):
        """The next block as a list of (field, value); comment lines are
        recorded in .comments and kept in the block as ("", text). Raises
        socket.timeout / PeerClosed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        block = []
        while True:
            line = self.body._read_until(b"\n", deadline=deadline)[:-1]
            if line.endswith(b"\r"):
                line = line[:-1]
            text = line.decode("utf-8")
            if text == "":
                if block:
                    self.blocks.append(block)
                    return block
                continue
            if text.startswith(":"):
                self.comments.append((time.monotonic(), text[1:].strip()))
                block.append(("", text[1:].strip()))
                continue
            field, _, value = text.partition(":")
            if value.startswith(" "):
                value = value[1:]
            block.append((field, value))

    def next_event(self, timeout=3.0):
        """The next block with data, as a dict {id, event, data (parsed JSON),
        fields}."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no event within %.1fs" % timeout)
            block = self.read_block(timeout=left)
            fields = [(f, v) for f, v in block if f]
            if any(f == "data" for f, _ in fields):
                ev = {"fields": fields}
                for f, v in fields:
                    if f == "data":
                        ev["data"] = v if "data" not in ev else ev["data"] + "\n" + v
                    else:
                        ev[f] = v
                ev["data"] = json.loads(ev["data"])
                return ev

    def wait_event(self, pred, timeout=3.0, desc="event"):
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise socket.timeout()
                ev = self.next_event(timeout=left)
            except (socket.timeout, TimeoutError):
                raise AssertionError("no %s within %.1fs; got %r" % (desc, timeout, seen[-6:]))
            seen.append(ev)
            if pred(ev):
                return ev

    def events_for(self, seconds):
        """Every event that comes within `seconds`."""
        deadline = time.monotonic() + seconds
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            try:
                got.append(self.next_event(timeout=left))
            except (socket.timeout, TimeoutError):
                return got

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def ws_connect(srv, path, headers=None, timeout=5.0, **kw):
    """A WsClient to server srv; asserts that the upgrade succeeded."""
    c = WsClient(srv.host, srv.port, path, headers=headers, timeout=timeout, **kw)
    assert c.response.status == 101, "upgrade of %s refused: %r" % (path, c.response)
    return c


def sse_connect(srv, path, headers=None, timeout=5.0):
    return SseClient(srv.host, srv.port, path, headers=headers, timeout=timeout)


def server_side_sockets(port):
    """{inode: remote port} of the established TCP sockets whose local port
    is `port` (the server's side of client connections), from /proc/net."""
    out = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            local, remote, st, inode = cols[1], cols[2], cols[3], int(cols[9])
            if st == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                out[inode] = int(remote.rsplit(":", 1)[1], 16)
    return out


def socket_inodes(pid):
    """Inodes of the sockets process pid holds open."""
    found = set()
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return found
    for n in names:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, n))
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def connections_per_worker(srv, client_ports):
    """{worker pid: number of the given client ports whose connection that
    worker holds}."""
    server_socks = server_side_sockets(srv.port)
    out = {}
    for pid in srv.workers():
        inodes = socket_inodes(pid)
        out[pid] = sum(1 for ino, rport in server_socks.items()
                       if ino in inodes and rport in client_ports)
    return out


def worker_of(srv, conn):
    """The PID of the worker holding client connection conn (an HttpConn
    that has had an answer, so a worker accepted it), or None."""
    port = conn.sock.getsockname()[1]
    inodes = [ino for ino, rport in server_side_sockets(srv.port).items() if rport == port]
    for pid in srv.workers():
        if set(inodes) & socket_inodes(pid):
            return pid
    return None


def conns_by_worker(srv, pids, tries=300):
    """{pid: HttpConn} with one open keep-alive connection held by each worker
    in pids (fresh connections until SO_REUSEPORT has put one on each)."""
    got, spare = {}, []
    try:
        for _ in range(tries):
            c = srv.conn()
            r = c.request("GET", "/healthz")
            assert r.status == 200, r
            pid = worker_of(srv, c)
            if pid in pids and pid not in got:
                got[pid] = c
            else:
                spare.append(c)
            if len(got) == len(pids):
                return got
    finally:
        for c in spare:
            c.close()
    for c in got.values():
        c.close()
    raise AssertionError("after %d connections, workers %r held none (have %r)"
                         % (tries, sorted(set(pids) - set(got)), sorted(got)))
