"""Deployment: Debian's nginx, running the shipped config/nginx-livetally.conf,
in front of three livetally instances running the shipped
config/livetally-behind-nginx.json, on one Redis.

The nginx file is used as shipped; only what names this machine is
substituted (the upstream block's server lines, keeping their parameters;
the listen lines; the access_log path), each substitution checked to have
happened, so that the file under test is the file users copy. The instances'
config is the sample with its addresses replaced (listen on port 0, this
Redis, trusted_proxies = nginx's address here) and one worker each.

Everything goes through nginx unless a test looks at one instance on
purpose (its /metrics, to see where requests went): exact totals from events
spread over the instances, WebSocket and SSE pushes of likes that other
instances took, the client address and X-Request-Id livetally sees through
X-Forwarded-For, the limits and error pages nginx answers itself in the
contract's shape, and an instance killed while traffic goes on.

nginx: LT_NGINX, else `nginx` on PATH, else /usr/sbin/nginx (Debian puts it
in sbin). Missing, the tests skip, which fails under LT_NO_SKIP/CI.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

import ltharness as h

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("LT_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
NGINX_CONF = os.path.join(SOURCE_DIR, "config", "nginx-livetally.conf")
SAMPLE_CONF = os.path.join(SOURCE_DIR, "config", "livetally-behind-nginx.json")

REDIS_PASSWORD = "deploy-redis-password-1"
METRICS_TOKEN = "deploy-metrics-token-1"
ENV = {"LIVETALLY_REDIS_PASSWORD": REDIS_PASSWORD, "LIVETALLY_METRICS_TOKEN": METRICS_TOKEN}


def nginx_binary():
    for path in (os.environ.get("LT_NGINX"), shutil.which("nginx"), "/usr/sbin/nginx"):
        if path and os.access(path, os.X_OK):
            return path
    pytest.skip("no nginx (Debian's nginx-light: scripts/deps.sh test); set LT_NGINX")


# ---------------------------------------------------------------------------
# the shipped nginx file, rendered for this machine


def render_nginx_conf(text, upstream_ports, listen_port, access_log):
    """The shipped file with the upstream's servers at 127.0.0.1:<port> (each
    keeping the parameters the file gives its servers), one listen line on
    127.0.0.1:listen_port and the access log at access_log. Fails when the
    file no longer has the shape these substitutions expect."""
    m = re.search(r"^upstream livetally \{\n(.*?)^\}", text, re.M | re.S)
    assert m, "no `upstream livetally { ... }` block at the start of a line in %s" % NGINX_CONF
    body = m.group(1)
    servers = re.findall(r"^([ \t]*)server[ \t]+(\S+)((?:[ \t]+[^;\n]+)?);[ \t]*\n", body, re.M)
    assert len(servers) >= 2, "the upstream block lists %d servers" % len(servers)
    indent, _, params = servers[0]
    assert all(p == params for _, _, p in servers), \
        "the upstream's servers have different parameters: %r" % servers
    mine = "".join("%sserver 127.0.0.1:%d%s;\n" % (indent, port, params) for port in upstream_ports)
    first = re.search(r"^[ \t]*server[ \t]+\S+", body, re.M).start()
    stripped = re.sub(r"^[ \t]*server[ \t]+\S+(?:[ \t]+[^;\n]+)?;[ \t]*\n", "", body, flags=re.M)
    body = stripped[:first] + mine + stripped[first:]
    text = text[:m.start(1)] + body + text[m.end(1):]

    listens = re.findall(r"^[ \t]*listen[ \t]+[^;\n]+;[ \t]*\n", text, re.M)
    assert listens, "no listen line in %s" % NGINX_CONF
    text = re.sub(r"^([ \t]*)listen[ \t]+[^;\n]+;[ \t]*\n",
                  lambda mm: "%slisten 127.0.0.1:%d;\n" % (mm.group(1), listen_port), text,
                  count=1, flags=re.M)
    text = re.sub(r"^[ \t]*listen[ \t]+(?!127\.0\.0\.1:%d;)[^;\n]+;[ \t]*\n" % listen_port, "",
                  text, flags=re.M)

    text, n = re.subn(r"(^[ \t]*access_log[ \t]+)\S+([ \t]+livetally;)",
                      lambda mm: mm.group(1) + access_log + mm.group(2), text, flags=re.M)
    assert n == 1, "expected one `access_log PATH livetally;` line, found %d" % n
    return text


class Nginx:
    """nginx in the foreground with its own prefix directory: a main
    nginx.conf (what Debian's /etc/nginx/nginx.conf provides: events, temp
    paths, the http block) that includes the rendered shipped file. Stopped
    by PID."""

    def __init__(self, binary, workdir, upstream_ports):
        self.binary = binary
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = h.free_port()
        self.access_log = os.path.join(self.dir, "access.log")
        self.error_log = os.path.join(self.dir, "error.log")
        self.proc = None
        self.workers = []
        with open(NGINX_CONF) as f:
            shipped = f.read()
        self.site = render_nginx_conf(shipped, upstream_ports, self.port, self.access_log)
        with open(os.path.join(self.dir, "livetally.conf"), "w") as f:
            f.write(self.site)
        temp = "".join("    %s_temp_path %s;\n" % (k, os.path.join(self.dir, k))
                       for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        # As root, nginx's workers would switch to `nobody`, who cannot enter
        # pytest's 0700 temp directories.
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write("%sdaemon off;\nworker_processes 2;\npid %s;\nerror_log %s info;\n"
                    "events { worker_connections 1024; }\n"
                    "http {\n%s    include %s;\n}\n"
                    % (user, os.path.join(self.dir, "nginx.pid"), self.error_log, temp,
                       os.path.join(self.dir, "livetally.conf")))
        for path in (self.access_log, self.error_log):
            h.keep_log(path)

    def args(self, *extra):
        return [self.binary, "-e", self.error_log, "-p", self.dir, "-c", self.conf] + list(extra)

    def check(self):
        """nginx -t on the rendered config."""
        p = subprocess.run(self.args("-t"), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        out = p.stdout.decode("utf-8", "replace")
        assert p.returncode == 0, "nginx -t refused the shipped config:\n%s\n--- rendered:\n%s" \
            % (out, self.site)
        return out

    def start(self, timeout=10.0):
        self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("nginx exited with %s:\n%s"
                                     % (self.proc.returncode, h.tail(self.error_log)))
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("nginx not listening on %d:\n%s"
                                     % (self.port, h.tail(self.error_log)))
            time.sleep(0.02)
        h.wait_until(lambda: len(h.children_of(self.proc.pid)) >= 2, 5, desc="nginx workers")
        self.workers = h.children_of(self.proc.pid)

    def stop(self):
        """SIGTERM (fast shutdown) to the master by PID; SIGKILL after 10 s;
        workers left behind are killed by PID and reported."""
        if self.proc is None:
            return []
        if self.proc.poll() is None:
            self.workers = sorted(set(self.workers) | set(h.children_of(self.proc.pid)))
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        deadline = time.monotonic() + 3
        left = [p for p in self.workers if h.pid_alive(p)]
        while left and time.monotonic() < deadline:
            time.sleep(0.02)
            left = [p for p in left if h.pid_alive(p)]
        for p in left:
            os.kill(p, signal.SIGKILL)
        return left

    # -- clients through nginx
    def conn(self, timeout=5.0, source=None):
        return h.HttpConn(self.host, self.port, timeout=timeout,
                          source_addr=(source, 0) if source else None)

    def request(self, method, path, body=None, headers=None, source=None, timeout=5.0):
        with self.conn(timeout=timeout, source=source) as c:
            return c.request(method, path, body=body, headers=headers)

    def get(self, path, headers=None, source=None):
        return self.request("GET", path, headers=headers, source=source)

    def post_events(self, stream, events, headers=None, source=None):
        body = events if isinstance(events, (bytes, str)) else json.dumps(events)
        hdrs = [("Content-Type", "application/json")] + list(headers or [])
        return self.request("POST", "/v1/streams/%s/events" % stream, body=body, headers=hdrs,
                            source=source)

    def totals(self, stream):
        r = self.get("/v1/streams/%s" % stream)
        assert r.status == 200, r
        return r.json()

    def wait_totals(self, stream, expect, timeout=5.0, settle=0.3):
        """Polls the totals through nginx (so through any instance) until
        they match, then checks they stay so."""
        def got():
            r = self.get("/v1/streams/%s" % stream)
            if r.status != 200:
                return None, {"<status>": r.status}
            t = r.json()
            return t, {k: h.dig(t, k) for k in expect}

        deadline = time.monotonic() + timeout
        while True:
            t, now = got()
            if now == expect:
                break
            assert time.monotonic() < deadline, \
                "totals of %s through nginx: expected %r, got %r\nfull: %r" \
                % (stream, expect, now, t)
            time.sleep(0.03)
        time.sleep(settle)
        t, now = got()
        assert now == expect, "totals of %s changed after matching: %r, expected %r" \
            % (stream, now, expect)
        return t

    def access_lines(self):
        try:
            with open(self.access_log) as f:
                return f.read().splitlines()
        except OSError:
            return []


# ---------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """This module's Redis has a password, as the sample config expects one
    (redis.password_env); conftest's `redis` and `lt` fixtures use it."""
    path = os.environ.get("LT_REDIS_SERVER") or shutil.which("redis-server")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("no redis-server: set LT_REDIS_SERVER")
    srv = h.RedisServer(path, tmp_path_factory.mktemp("redis"), password=REDIS_PASSWORD)
    srv.start()
    yield srv
    srv.kill()


def instance_config(redis):
    """The shipped sample with this machine's addresses: what a user changes."""
    with open(SAMPLE_CONF) as f:
        sample = json.load(f)
    assert sample.get("trusted_proxies"), "the sample trusts no proxy: %s" % SAMPLE_CONF
    return h.deep_merge(sample, {
        "listen": "127.0.0.1:0",
        "workers": 1,
        "redis": {"host": "127.0.0.1", "port": redis.port},
        # nginx reaches the instances from 127.0.0.1; the clients below use
        # 127.0.0.2 and up when their address matters.
        "trusted_proxies": ["127.0.0.1"],
        "flush_interval_ms": 50,
        "push_interval_ms": 100,
    })


class Deployment:
    def __init__(self, nginx, instances):
        self.nginx = nginx
        self.instances = instances

    def per_instance(self, name):
        """[metric name summed over one instance's workers] per instance, read
        from each instance directly (nginx refuses /metrics on purpose)."""
        return [h.metric(srv, name, token=METRICS_TOKEN) or 0 for srv in self.instances]


@pytest.fixture
def deployment(lt, redis, tmp_path):
    binary = nginx_binary()
    cfg = instance_config(redis)
    instances = [lt(cfg, env=ENV) for _ in range(3)]
    ngx = Nginx(binary, tmp_path / "nginx", [srv.port for srv in instances])
    ngx.check()
    ngx.start()
    try:
        yield Deployment(ngx, instances)
    finally:
        left = ngx.stop()
        errors = [line for line in open(ngx.error_log, errors="replace")
                  if re.search(r"\[(emerg|alert|crit)\]", line)]
        assert not left, "nginx workers %r outlived the master" % left
        assert not errors, "nginx error log:\n%s" % "".join(errors[-20:])


# ---------------------------------------------------------------------------
# tests


def nginx_size(value):
    m = re.fullmatch(r"(\d+)([kKmM]?)", value)
    assert m, value
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1 << 20}[m.group(2).lower()]


def nginx_seconds(value):
    m = re.fullmatch(r"(\d+)(ms|s|m)?", value)
    assert m, value
    return int(m.group(1)) * {None: 1, "s": 1, "ms": 0.001, "m": 60}[m.group(2)]


def nginx_directive(block, name):
    found = re.findall(r"^[ \t]*%s[ \t]+([^;\n]+);" % re.escape(name), block, re.M)
    assert len(found) == 1, "%s: %r" % (name, found)
    return found[0].strip()


def nginx_block(text, head):
    """The text of the block whose opening line starts with head (blocks
    with no nested braces)."""
    m = re.search(r"^[ \t]*%s[^\n]*\{\n(.*?)^[ \t]*\}" % re.escape(head), text, re.M | re.S)
    assert m, "no block %r in %s" % (head, NGINX_CONF)
    return m.group(1)


def test_nginx_limits_match_the_instances_config():
    """The shipped nginx file against the shipped instance config: the same
    body limit, nginx's upstream keep-alive ending before the instances'
    idle timeout, long-lived locations outlasting livetally's pings and
    keep-alive comments, the same head deadline. (No nginx needed.)"""
    with open(NGINX_CONF) as f:
        text = f.read()
    with open(SAMPLE_CONF) as f:
        limits = json.load(f)["limits"]
    assert nginx_size(nginx_directive(text, "client_max_body_size")) == limits["max_body_bytes"]
    upstream = nginx_block(text, "upstream livetally")
    assert nginx_seconds(nginx_directive(upstream, "keepalive_timeout")) * 1000 \
        < limits["idle_timeout_ms"]
    assert nginx_seconds(nginx_directive(text, "client_header_timeout")) * 1000 \
        == limits["header_timeout_ms"]
    # nginx passes at most 4 x 8k of head; the instances take that plus
    # what nginx adds.
    count, size = nginx_directive(text, "large_client_header_buffers").split()
    assert int(count) * nginx_size(size) + 1024 <= limits["max_header_bytes"]
    for head in ("location ~ ^/v1/(streams/[^/]+/)?ws$", "location ~ ^/v1/streams/[^/]+/live$"):
        block = nginx_block(text, head)
        for name in ("proxy_read_timeout", "proxy_send_timeout"):
            seconds = nginx_seconds(nginx_directive(block, name))
            assert seconds * 1000 > limits["idle_timeout_ms"] / 2 and seconds > 15, (head, name)
    sse = nginx_block(text, "location ~ ^/v1/streams/[^/]+/live$")
    assert nginx_directive(sse, "proxy_buffering") == "off"


def test_rendered_config_is_the_shipped_file(deployment):
    """Only the addresses changed: every other line of the shipped file is in
    what nginx runs, in order."""
    with open(NGINX_CONF) as f:
        shipped = [line for line in f.read().splitlines()
                   if not re.match(r"^\s*(server\s+\S+:\d+|listen\s|access_log\s)", line)]
    ran = deployment.nginx.site.splitlines()
    i = 0
    for line in ran:
        if i < len(shipped) and line == shipped[i]:
            i += 1
    assert i == len(shipped), "shipped line not in the rendered config: %r" % shipped[i]
    ports = sorted(int(p) for p in re.findall(r"server 127\.0\.0\.1:(\d+) ", deployment.nginx.site))
    assert ports == sorted(srv.port for srv in deployment.instances)


def test_events_spread_over_instances_give_exact_totals(deployment):
    ngx = deployment.nginx
    stream = "deploy-spread"
    threads, per_thread = 6, 20
    answers = []
    lock = threading.Lock()

    def client(t):
        # One keep-alive connection per client; nginx still picks an
        # instance per request.
        with ngx.conn(timeout=10) as c:
            for i in range(per_thread):
                viewer = "viewer-%d-%d" % (t, i)
                r = c.post_json("/v1/streams/%s/events" % stream,
                                [{"type": "view", "viewer": viewer},
                                 {"type": "like", "n": 3, "viewer": viewer}])
                with lock:
                    answers.append(r)

    workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert not any(w.is_alive() for w in workers), "a client did not finish within 60 s"
    n = threads * per_thread
    assert len(answers) == n
    bad = [r for r in answers if r.status != 202 or r.json() != {"accepted": 2, "rejected": 0}]
    assert not bad, bad[:3]
    ngx.wait_totals(stream, {"views": n, "likes": 3 * n, "uniques": n})
    # Every instance took a share, and together exactly what was sent.
    accepted = deployment.per_instance("events_accepted_total")
    assert all(a > 0 for a in accepted), "an instance took no events: %r" % accepted
    assert sum(accepted) == 2 * n, accepted
    # nginx's log names the instance of each answer.
    used = {m.group(1) for line in ngx.access_lines()
            if "/events " in line for m in [re.search(r" upstream=(\S+) ", line)] if m}
    assert used == {"127.0.0.1:%d" % srv.port for srv in deployment.instances}, used


def ws_instance(deployment):
    """The index of the one instance holding a WebSocket."""
    return h.wait_until(lambda: [i for i, v in enumerate(
        deployment.per_instance("ws_connections_open")) if v == 1], 3,
        desc="one instance with the WebSocket")[0]


def test_websocket_through_nginx_gets_likes_other_instances_took(deployment):
    ngx = deployment.nginx
    stream = "deploy-ws"
    assert ngx.post_events(stream, {"type": "view", "viewer": "viewer-first"}).status == 202
    ngx.wait_totals(stream, {"views": 1})
    sub = h.ws_connect(ngx, "/v1/streams/%s/ws" % stream)
    try:
        first = sub.wait_message(lambda m: m.get("type") == "totals", desc="first totals")
        assert first["views"] == 1 and first["likes"] == 0, first
        home = ws_instance(deployment)
        before = deployment.per_instance("likes_accepted_total")
        # Likes through nginx: HTTP beacons (spread over the instances) and
        # messages on two more WebSockets (each on the instance nginx picks).
        for i in range(9):
            r = ngx.post_events(stream, {"type": "like", "n": 2, "viewer": "viewer-http-%d" % i})
            assert r.status == 202, r
        senders = [h.ws_connect(ngx, "/v1/streams/%s/ws?viewer=viewer-ws-%d" % (stream, i))
                   for i in range(2)]
        try:
            for s in senders:
                s.wait_message(lambda m: m.get("type") == "totals")
                s.send_json({"type": "like", "n": 5})
            sub.wait_totals(likes=9 * 2 + 2 * 5, timeout=5)
        finally:
            for s in senders:
                s.close()
        took = [a - b for a, b in zip(deployment.per_instance("likes_accepted_total"), before)]
        assert sum(took) == 28, took
        others = sum(t for i, t in enumerate(took) if i != home)
        assert others > 0, "every like went to the subscriber's own instance: %r" % took
    finally:
        sub.close()
    # ?viewer= counted a view for each sender.
    ngx.wait_totals(stream, {"views": 3, "likes": 28})


def test_sse_through_nginx_streams_at_once(deployment):
    ngx = deployment.nginx
    stream = "deploy-sse"
    assert ngx.post_events(stream, {"type": "like", "n": 1, "viewer": "viewer-a"}).status == 202
    ngx.wait_totals(stream, {"likes": 1})
    with h.sse_connect(ngx, "/v1/streams/%s/live" % stream) as sse:
        assert sse.response.status == 200, sse.response
        assert sse.response.header("content-type", "").startswith("text/event-stream")
        ev = sse.wait_event(lambda e: e.get("event") == "totals", desc="the first totals")
        assert ev["data"]["likes"] == 1, ev
        seq = int(ev["id"])
        # Each update has to leave nginx as it comes (no buffering): one
        # small event would otherwise sit in nginx's buffer.
        for n, viewer in ((4, "viewer-b"), (7, "viewer-c")):
            assert ngx.post_events(stream, {"type": "like", "n": n, "viewer": viewer}).status == 202
            want = {"viewer-b": 5, "viewer-c": 12}[viewer]
            ev = sse.wait_event(lambda e: e.get("event") == "totals" and e["data"]["likes"] == want,
                                timeout=5, desc="totals with likes %d" % want)
            assert int(ev["id"]) > seq
            seq = int(ev["id"])
        assert sum(deployment.per_instance("sse_connections_open")) == 1
    h.wait_until(lambda: sum(deployment.per_instance("sse_connections_open")) == 0, 5,
                 desc="the event stream closed on its instance")


def test_client_address_and_request_id_through_nginx(deployment):
    ngx = deployment.nginx
    stream = "deploy-addr"
    # Views without a viewer are counted for a viewer derived from the client
    # address (and User-Agent), deduplicated in Redis whichever instance
    # takes them. Three from 127.0.0.2 (one forging X-Forwarded-For), one
    # from 127.0.0.3 and one from 127.0.0.4 are three viewers: had livetally
    # seen nginx's address (and the forged one), two; had it believed the
    # forged header, four.
    forged = [("X-Forwarded-For", "127.0.0.9")]
    for source, headers in (("127.0.0.2", []), ("127.0.0.2", forged), ("127.0.0.2", []),
                            ("127.0.0.3", []), ("127.0.0.4", [])):
        r = ngx.post_events(stream, {"type": "view"}, headers=headers, source=source)
        assert r.status == 202 and r.json()["accepted"] == 1, r
    ngx.wait_totals(stream, {"views": 3, "uniques": 3})

    # The client's own X-Request-Id comes back from the instance (it trusts
    # nginx), and the access log names the answer by it.
    for i in range(3):
        rid = "deploy-client-id-%d" % i
        r = ngx.get("/v1/streams/%s" % stream, headers=[("X-Request-Id", rid)])
        assert r.status == 200 and r.header("X-Request-Id") == rid, r
    # Without one, nginx's $request_id (32 hex digits) is the id everywhere.
    r = ngx.get("/v1/streams/%s" % stream)
    rid = r.header("X-Request-Id")
    assert r.status == 200 and re.fullmatch(r"[0-9a-f]{32}", rid or ""), r
    # An id livetally refuses (a space) is replaced by its own (16 hex).
    r = ngx.get("/v1/streams/%s" % stream, headers=[("X-Request-Id", "not valid")])
    own = r.header("X-Request-Id")
    assert r.status == 200 and re.fullmatch(r"[0-9a-f]{16}", own or ""), r
    # (nginx writes the line once the answer is sent: poll for it.)
    for wanted in ["deploy-client-id-%d" % i for i in range(3)] + [rid, own]:
        h.wait_until(lambda: any(line.endswith(" rid=" + wanted) for line in ngx.access_lines()),
                     3, desc="rid=%s in nginx's access log" % wanted)


def test_limits_and_errors_nginx_answers_itself(deployment):
    ngx = deployment.nginx
    stream = "deploy-limits"
    # A body of exactly limits.max_body_bytes passes nginx and is counted...
    body = json.dumps([{"type": "like", "n": 1, "viewer": "viewer-edge"}]).encode()
    body += b" " * (65536 - len(body))
    assert len(body) == 65536
    r = ngx.request("POST", "/v1/streams/%s/events" % stream, body=body,
                    headers=[("Content-Type", "application/json")])
    assert r.status == 202 and r.json() == {"accepted": 1, "rejected": 0}, r
    # ...one byte more is nginx's 413 in the contract's shape, with an id.
    r = ngx.request("POST", "/v1/streams/%s/events" % stream, body=body + b" ",
                    headers=[("Content-Type", "application/json")])
    h.assert_error(r, 413, "too_large")
    assert r.header("X-Request-Id"), r
    # The same bound on a chunked body, which has no length to check first.
    r = ngx.request("POST", "/v1/streams/%s/events" % stream, body=h.chunked(body + b" "),
                    headers=[("Content-Type", "application/json"),
                             ("Transfer-Encoding", "chunked")])
    h.assert_error(r, 413, "too_large")
    ngx.wait_totals(stream, {"likes": 1})
    # A header line longer than nginx's 8k buffers: 431 headers_too_large.
    r = ngx.get("/v1/streams/%s" % stream, headers=[("X-Filler", "a" * 9000)])
    h.assert_error(r, 431, "headers_too_large")
    # A head nginx accepts (just under its 4 x 8k) fits the instances'
    # limits.max_header_bytes with the headers nginx adds.
    r = ngx.get("/v1/streams/%s" % stream,
                headers=[("X-Filler-%d" % i, "a" * 8000) for i in range(3)])
    assert r.status == 200, r
    # /metrics is per instance: refused at the balancer.
    r = ngx.get("/metrics")
    h.assert_error(r, 403, "forbidden")
    assert r.header("X-Request-Id"), r


def kill_instance(srv):
    """SIGKILL the master and its workers at once, by PID: a crash (a
    SIGTERM would drain first)."""
    srv.worker_deaths_expected = True
    workers = srv.workers()
    os.kill(srv.pid, signal.SIGKILL)
    for pid in workers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    srv.stop(timeout=5)


def test_traffic_goes_on_when_an_instance_dies(deployment):
    ngx = deployment.nginx
    stream = "deploy-kill"
    for i in range(12):
        r = ngx.post_events(stream, {"type": "like", "n": 1, "viewer": "viewer-a-%d" % i})
        assert r.status == 202, r
    ngx.wait_totals(stream, {"likes": 12})
    sub = h.ws_connect(ngx, "/v1/streams/%s/ws" % stream)
    sub.wait_message(lambda m: m.get("type") == "totals" and m["likes"] == 12)
    home = ws_instance(deployment)
    victim = deployment.instances[home]
    kill_instance(victim)
    # The subscriber's TCP connection ends with its instance; a viewer
    # reconnects through nginx and lands on a live one.
    assert sub.wait_eof(5), "the WebSocket stayed open after its instance died"
    sub.close()
    # Every request is answered by the two left (a refused connection moves
    # to the next instance, even for a POST: nothing was sent). One race
    # remains, and a client handles it as it handles any 503: nginx may
    # write a POST on a keep-alive connection to the dead instance that it
    # has not yet seen closed; it then cannot know whether the POST was
    # taken, so it does not send it elsewhere (no non_idempotent: that could
    # count it twice) and answers 503 not_ready with Retry-After. The dead
    # instance took nothing after its death, so the retry counts it once.
    retried = 0
    for i in range(30):
        body = {"type": "like", "n": 1, "viewer": "viewer-b-%d" % i}
        r = ngx.post_events(stream, body)
        while r.status == 503 and retried < 5:
            h.assert_error(r, 503, "not_ready")
            assert r.header("Retry-After") == "1", r
            retried += 1
            r = ngx.post_events(stream, body)
        assert r.status == 202, "request %d after the kill (%d retried): %r" % (i, retried, r)
    with h.ws_connect(ngx, "/v1/streams/%s/ws" % stream) as again:
        again.wait_totals(likes=42, timeout=5)
        for i in range(3):
            assert ngx.post_events(stream, {"type": "like", "n": 2,
                                            "viewer": "viewer-c-%d" % i}).status == 202
        again.wait_totals(likes=48, timeout=5)
    ngx.wait_totals(stream, {"likes": 48})
    live = [srv for srv in deployment.instances if srv is not victim]
    took = [h.metric(srv, "events_accepted_total", token=METRICS_TOKEN) for srv in live]
    assert all(t > 0 for t in took), took
    # With no instance left, nginx answers 503 not_ready (with Retry-After).
    for srv in live:
        assert srv.stop() == 0
    r = ngx.post_events(stream, {"type": "like", "n": 1, "viewer": "viewer-late"})
    h.assert_error(r, 503, "not_ready")
    assert r.header("Retry-After") == "1", r


def connect_refused(srv):
    """Is a connection to the instance's port refused? (A connect that
    succeeds is queued on a listening socket still open.)"""
    try:
        with socket.create_connection((srv.host, srv.port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:  # queued just as the socket closed
        return False


def test_posts_go_elsewhere_while_an_instance_drains(deployment, redis):
    """SIGTERM to the instance holding a WebSocket while Redis holds every
    write (CLIENT PAUSE WRITE) and likes it accepted directly are still to
    flush, so its drain lasts: its port refuses
    connections at once, and nginx sends every POST to the two others
    (a refused connection moves on, even for a POST) instead of to a queue
    reset at exit. Once Redis is back, the WebSocket gets 1001 through nginx,
    the instance exits 0 and the totals are exact."""
    ngx = deployment.nginx
    stream = "deploy-drain"
    for i in range(6):
        r = ngx.post_events(stream, {"type": "like", "n": 1, "viewer": "viewer-d-%d" % i})
        assert r.status == 202, r
    ngx.wait_totals(stream, {"likes": 6})
    sub = h.ws_connect(ngx, "/v1/streams/%s/ws" % stream)
    try:
        sub.wait_message(lambda m: m.get("type") == "totals" and m["likes"] == 6)
        victim = deployment.instances[ws_instance(deployment)]
        with redis.client() as r:
            assert r.cmd("CLIENT", "PAUSE", "30000", "WRITE") == "OK"
        try:
            # Likes the instance accepts now wait for Redis: its drain lasts
            # until the pause ends.
            for i in range(4):
                r = victim.post_events(stream, {"type": "like", "n": 1,
                                                "viewer": "viewer-v-%d" % i})
                assert r.status == 202, r
            victim.send_signal(signal.SIGTERM)
            h.wait_until(lambda: connect_refused(victim), 5,
                         desc="the draining instance refusing connections")
            for i in range(30):
                r = ngx.post_events(stream, {"type": "like", "n": 1,
                                             "viewer": "viewer-e-%d" % i})
                assert r.status == 202, "POST %d during the drain: %r" % (i, r)
            assert victim.running(), "the drain ended while Redis was paused"
            refused = [line for line in open(ngx.error_log, errors="replace")
                       if "Connection refused" in line and ":%d" % victim.port in line]
            assert refused, "nginx never met the draining instance's refusal:\n%s" \
                % h.tail(ngx.error_log)
        finally:
            with redis.client() as r:
                r.cmd("CLIENT", "UNPAUSE")
        # Redis connections that timed out while it was paused come back
        # after their backoff: bounded waits, generous for a loaded machine.
        code, reason = sub.wait_close(timeout=15.0)
        assert code == 1001, (code, reason)
    finally:
        sub.close()
    assert victim.wait_exit(15) == 0, h.tail(victim.stderr_path)
    ngx.wait_totals(stream, {"likes": 40}, timeout=15)
