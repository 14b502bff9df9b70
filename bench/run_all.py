"""Every benchmark scenario of livetally in one run, printed as one table
in which each figure stands beside its reference measured in the same run
on the same machine (issue 11, point 4; bench/README.md keeps the latest).

  scripts/deps.sh bench && /usr/bin/python3 bench/run_all.py [--seconds 10] [--quick]

Scenarios (one Redis unless said):
  http ingest      wrk POSTing likes, livetally (2 workers) vs nginx `return 204`
                   (bench/http_bench.sh), with Redis commands per 1,000 events
  ws like ingest   bench/wslikes.py: 64 WebSockets sending {"type":"like","n":1},
                   livetally vs nchan's WebSocket publisher: messages/s, server CPU
                   microseconds per message
  fan-out N        lt-wsbench: N WebSocket subscribers of one stream, 20 updates
                   250 ms apart (livetally's push_interval_ms), livetally vs nchan
                   (libnginx-mod-nchan, 2 workers) at the same pace: p50/p99
                   publish-to-receive, server CPU per pushed frame; N = 10,000,
                   20,000, 38,000 (--quick: 1,000, 2,000, 3,800)
  idle memory      server RSS per idle WebSocket (the 10,000 run), vs nchan's
  start-up         exec to `livetally ready on`, vs redis-server's exec to PING
  redis            redis-benchmark SET (pipelined): what one Redis master takes here
  cluster          3 masters + 3 replicas, three instances (1 worker each):
                   HTTP ingest (one wrk per instance, summed) vs nginx 204, Redis
                   commands per 1,000 events (summed over the masters), WebSocket
                   like ingest (one instance), fan-out of 20,000 (--quick: 2,000)
                   spread over the instances and its idle memory, start-up

Every process it starts is stopped by its PID (also on Ctrl-C); loopback
only; the generators' CPU is printed too (they share the two cores).
LT_BINARY / WSBENCH name prebuilt binaries; otherwise build-bench/ is built
(Release).
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import ltcluster  # noqa: E402
import ltharness as h  # noqa: E402

NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so"
PUSH_MS = 250
started = []  # Popen objects, stopped at exit


def log(msg):
    print(msg, flush=True)


def stop_all():
    for p in reversed(started):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
    started.clear()


def spawn(args, **kw):
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    p = subprocess.Popen(args, start_new_session=True, stdin=subprocess.DEVNULL, **kw)
    started.append(p)
    return p


def stop(p):
    if p in started:
        started.remove(p)
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)


def cpu_seconds(pids):
    tck = os.sysconf("SC_CLK_TCK")
    t = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                f = f.read().rsplit(")", 1)[1].split()
            t += int(f[11]) + int(f[12])
        except OSError:
            pass
    return t / tck


def family(pid):
    """pid and its children (a livetally master and its workers)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [pid] + [int(x) for x in f.read().split()]
    except OSError:
        return [pid]


# ---- servers --------------------------------------------------------------------

class Redis:
    def __init__(self, work):
        self.port = h.free_port()
        self.proc = spawn(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                           "--dir", work, "--appendonly", "yes", "--appendfsync", "everysec",
                           "--save", "", "--logfile", os.path.join(work, "redis.log")])
        h.wait_until(self.answers, 10, desc="redis-server")

    def answers(self):
        try:
            with h.Resp("127.0.0.1", self.port) as r:
                return r.cmd("PING") == "PONG"
        except OSError:
            return False


def commands_processed(port, password=None):
    with h.Resp("127.0.0.1", port) as r:
        if password:
            r.cmd("AUTH", password)
        info = r.cmd("INFO", "stats").decode()
    return int(re.search(r"total_commands_processed:(\d+)", info).group(1))


class Livetally:
    def __init__(self, binary, work, name, redis_cfg, workers=2, extra=None):
        cfg = {"listen": "127.0.0.1:0", "workers": workers, "redis": redis_cfg,
               "log_level": "warn", "push_interval_ms": PUSH_MS,
               "spool": {"dir": os.path.join(work, name + "-spool")},
               "likes": {"rate_per_second": 1000000, "burst": 10000000,
                         "per_client_rate_per_second": 1000000, "per_client_burst": 10000000},
               "limits": {"max_connections": 20000, "max_connections_per_client": 0,
                          "ws_messages_per_second": 1000000, "ws_message_burst": 10000000}}
        cfg = h.deep_merge(cfg, extra or {})
        self.srv = h.LivetallyServer(binary, work, cfg, name=name)
        t0 = time.monotonic()
        self.srv.start(timeout=20)
        self.startup_ms = (time.monotonic() - t0) * 1000
        started.append(self.srv.proc)
        self.port = self.srv.port
        h.wait_until(lambda: len(family(self.srv.proc.pid)) > workers, 10, desc="workers")
        self.pids = family(self.srv.proc.pid)

    def metric(self, name):
        return h.metric(self.srv, "livetally_" + name) or 0

    def stop(self):
        stop(self.srv.proc)


class Nchan:
    def __init__(self, work):
        self.dir = os.path.join(work, "nchan")
        os.makedirs(self.dir, exist_ok=True)
        self.port = h.free_port()
        with open(os.path.join(ROOT, "bench", "nginx-nchan.conf")) as f:
            conf = f.read()
        conf = (conf.replace("@PORT@", str(self.port)).replace("@DIR@", self.dir)
                .replace("@MODULE@", NCHAN_MODULE))
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.proc = spawn(["nginx", "-p", self.dir, "-c", path, "-g", "daemon off;"])
        h.wait_until(lambda: self.status() is not None, 10, desc="nginx with nchan")
        self.pids = family(self.proc.pid)

    def status(self):
        """nchan's count of published messages; None when it does not answer
        in time (under its publishers' load it sometimes takes seconds)."""
        try:
            r = h.HttpConn("127.0.0.1", self.port, timeout=5).request("GET", "/nchan_status")
        except OSError:
            return None
        m = re.search(rb"total published messages: (\d+)", r.body)
        return int(m.group(1)) if m else None

    def stop(self):
        stop(self.proc)


# ---- scenarios ------------------------------------------------------------------

def http_ingest(binary, secs):
    out = subprocess.run(["bash", "bench/http_bench.sh", str(secs)], cwd=ROOT,
                         env=dict(os.environ, LT_BINARY=binary), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=600).stdout.decode()
    def num(pattern):
        m = re.search(pattern, out)
        return float(m.group(1)) if m else None
    return {"nginx": num(r"nginx 204:\s+([\d.]+) req/s"),
            "livetally": num(r"livetally:\s+([\d.]+) req/s"),
            "per_1000": num(r"\(([\d.]+) per 1,000 accepted events\)"),
            "cpu_us": num(r"worker CPU:\s+([\d.]+) us per request")}


def read_count(count, what):
    """(count(), when it was taken): when is the middle of the call, which
    may take a second under load; a count that does not come is tried again."""
    for _ in range(5):
        t0 = time.monotonic()
        c = count()
        t1 = time.monotonic()
        if c is not None:
            return c, (t0 + t1) / 2
    raise RuntimeError("%s: the server's count did not come in 5 tries" % what)


def ws_ingest(port, path, secs, server_pids, count):
    """(messages/s the server took, server CPU us per message, generator CPU s),
    measured by the server's own count over the steady middle of the run
    (the generator can write faster than the server reads: what sits in the
    socket buffers is not counted as taken)."""
    gen = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "bench", "wslikes.py"),
                            "--port", str(port), "--path", path, "--sockets", "64",
                            "--procs", "2", "--seconds", str(secs)], stdout=subprocess.PIPE)
    time.sleep(1.0)
    (c0, t0), cpu0 = read_count(count, path), cpu_seconds(server_pids)
    time.sleep(max(1.0, secs - 2.0))
    (c1, t1), cpu1 = read_count(count, path), cpu_seconds(server_pids)
    out = gen.communicate(timeout=secs + 120)[0].decode()
    res = json.loads(out.strip().splitlines()[-1])
    if res["sockets_lost"]:
        log("  (%d of 64 sockets were closed by the server during the run)" % res["sockets_lost"])
    took = c1 - c0
    return took / (t1 - t0), (cpu1 - cpu0) * 1e6 / max(took, 1), res["generator_cpu_seconds"]


def fanout(wsbench, port, pids, clients, target, extra_ports=(), label="fanout"):
    sources = ",".join("127.0.0.%d" % (2 + i) for i in range(clients // 20000 + 1))
    procs = max(2, -(-clients // 13000))
    args = [wsbench, "--port", str(port), "--target", target, "--clients", str(clients),
            "--procs", str(procs), "--sources", sources, "--updates", "20",
            "--interval-ms", str(PUSH_MS), "--idle-seconds", "3", "--timeout", "300",
            "--poll-us", "1000", "--stream", "%s-%s-%d" % (label, target, clients),
            "--server-pids", ",".join(str(p) for p in pids), "--label", label]
    if extra_ports:
        args += ["--extra-ports", ",".join(str(p) for p in extra_ports)]
    out = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=400).stdout.decode()
    line = [x for x in out.splitlines() if x.startswith("{")]
    if not line:
        log(out[-2000:])
        raise RuntimeError("lt-wsbench gave no result")
    r = json.loads(line[-1])
    if r["clients_failed"] or r["missed_final"]:
        log("  (%s %s %d: %d failed, %d missed the final value)"
            % (label, target, clients, r["clients_failed"], r["missed_final"] or 0))
    return r


def startup_of(cmd_and_ready, n=5):
    """Median ms from exec to ready over n starts."""
    times = []
    for _ in range(n):
        times.append(cmd_and_ready())
    times.sort()
    return times[len(times) // 2]


def redis_startup(work):
    def once():
        port = h.free_port()
        t0 = time.monotonic()
        p = spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", work])
        def up():
            try:
                with h.Resp("127.0.0.1", port, timeout=1) as r:
                    return r.cmd("PING") == "PONG"
            except OSError:
                return False
        h.wait_until(up, 10, interval=0.001, desc="redis-server")
        ms = (time.monotonic() - t0) * 1000
        stop(p)
        return ms
    return startup_of(once)


# ---- the table ------------------------------------------------------------------

rows = []


def row(scenario, ours, ref, ref_name, ratio=None):
    rows.append((scenario, ours, ref, ref_name, ratio or ""))


def fmt(v, unit="", digits=0):
    if v is None:
        return "n/a"
    return ("{:,.%df}" % digits).format(v) + unit


def pct(a, b):
    return "%.1f %%" % (100.0 * a / b) if a and b else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="a tenth of the subscribers")
    ap.add_argument("--skip-cluster", action="store_true")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    secs = args.seconds

    os.chdir(ROOT)
    binary, wsbench = os.environ.get("LT_BINARY"), os.environ.get("WSBENCH")
    if not binary or not wsbench:
        subprocess.run(["cmake", "-S", ".", "-B", "build-bench", "-DCMAKE_BUILD_TYPE=Release"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", "build-bench", "-j%d" % os.cpu_count(), "--target",
                        "livetally", "lt-wsbench"], check=True, stdout=subprocess.DEVNULL)
    binary = os.path.abspath(binary or "build-bench/livetally")
    wsbench = os.path.abspath(wsbench or "build-bench/bench/lt-wsbench")
    work = tempfile.mkdtemp(prefix="lt-runall.")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                            cwd=ROOT).stdout.decode().strip()
    model = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
    machine = "%d cores, %s" % (os.cpu_count(), model.group(1) if model else "?")
    log("== bench/run_all.py, %s, commit %s, %s" % (time.strftime("%F %T UTC", time.gmtime()),
                                                    commit, machine))

    # 1. HTTP ingest and Redis commands per 1,000 events.
    log("-- http ingest (bench/http_bench.sh %d)" % secs)
    hb = http_ingest(binary, secs)
    row("HTTP ingest, req/s", fmt(hb["livetally"]), fmt(hb["nginx"]), "nginx `return 204`",
        pct(hb["livetally"], hb["nginx"]))
    row("HTTP ingest, worker CPU per request", fmt(hb["cpu_us"], " µs", 1), "", "")
    row("Redis commands per 1,000 events (HTTP ingest)", fmt(hb["per_1000"], "", 2), "1,000",
        "the events", "%.4f per event" % (hb["per_1000"] / 1000) if hb["per_1000"] else "")

    # 2. Start-up; WebSocket like ingest; fan-out: one Redis, fresh servers.
    redis = Redis(work)
    single = {"host": "127.0.0.1", "port": redis.port}
    log("-- start-up")
    starts = []
    for i in range(5):
        lt = Livetally(binary, work, "start%d" % i, single)
        starts.append(lt.startup_ms)
        lt.stop()
    lt_start = sorted(starts)[2]
    rs_start = redis_startup(work)
    row("start-up (exec to ready), median of 5", fmt(lt_start, " ms", 1), fmt(rs_start, " ms", 1),
        "redis-server (exec to PING)")

    log("-- ws like ingest (%d s each)" % secs)
    lt = Livetally(binary, work, "wsingest", single)
    ours = ws_ingest(lt.port, "/v1/streams/wsin/ws", secs, lt.pids,
                     lambda: lt.metric("likes_accepted_total"))
    lt.stop()
    nc = Nchan(work)
    ref = ws_ingest(nc.port, "/pubws/wsin", secs, nc.pids, nc.status)
    nc.stop()
    row("WebSocket like ingest, messages/s", fmt(ours[0]), fmt(ref[0]),
        "nchan WebSocket publisher", pct(ours[0], ref[0]))
    row("WebSocket like ingest, server CPU per message", fmt(ours[1], " µs", 2),
        fmt(ref[1], " µs", 2), "nchan", "generator CPU %.1f s / %.1f s" % (ours[2], ref[2]))

    # What one Redis core does on this machine at the same time: the bound
    # of Redis operations per master (docs/capacity.md).
    out = subprocess.run(["redis-benchmark", "-p", str(redis.port), "-q", "-n", "300000", "-c", "50",
                          "-P", "16", "-t", "set"], stdout=subprocess.PIPE, timeout=300).stdout
    m = re.search(rb"SET: ([\d.]+) requests per second", out)
    redis_ops = float(m.group(1)) if m else None
    row("Redis, SET operations/s one master takes (pipelined 16)", "", fmt(redis_ops),
        "redis-benchmark -t set -P 16 -c 50", "")

    single_fanout = {}
    for n in (10000 // scale, 20000 // scale, 38000 // scale):
        log("-- fan-out %d" % n)
        lt = Livetally(binary, work, "fan%d" % n, single)
        a = fanout(wsbench, lt.port, lt.pids, n, "livetally")
        lt.stop()
        time.sleep(2)
        nc = Nchan(work)
        b = fanout(wsbench, nc.port, nc.pids, n, "nchan")
        nc.stop()
        time.sleep(2)
        single_fanout[n] = a
        row("fan-out %s, p50 / p99 publish-to-receive" % fmt(n),
            "%s / %s ms" % (fmt(a["latency_p50_ms"], "", 1), fmt(a["latency_p99_ms"], "", 1)),
            "%s / %s ms" % (fmt(b["latency_p50_ms"], "", 1), fmt(b["latency_p99_ms"], "", 1)),
            "nchan, same pace (%d ms)" % PUSH_MS)
        row("fan-out %s, server CPU per pushed frame" % fmt(n),
            fmt(a["server_cpu_us_per_frame"], " µs", 2), fmt(b["server_cpu_us_per_frame"], " µs", 2),
            "nchan", "generator %s µs/frame" % fmt(a["generator_cpu_us_per_frame"], "", 2))
        if n == 10000 // scale:
            row("idle memory per WebSocket (%s idle)" % fmt(n),
                fmt(a["server_rss_per_idle_conn_bytes"], " B"),
                fmt(b["server_rss_per_idle_conn_bytes"], " B"), "nchan",
                pct(a["server_rss_per_idle_conn_bytes"], b["server_rss_per_idle_conn_bytes"]))
    stop(redis.proc)

    # 3. The same on a Redis Cluster with three instances.
    if not args.skip_cluster:
        log("-- cluster: 3 masters + 3 replicas, three instances")
        cl = ltcluster.RedisCluster(os.path.join(work, "cluster"), masters=3, replicas=1,
                                    node_timeout_ms=2000)
        try:
            os.makedirs(cl.workdir, exist_ok=True)
            cl.start()
            seeds = [n.addr for n in cl.nodes[:3]]
            inst = [Livetally(binary, work, "cl%d" % i, {"cluster": [seeds[i]]}, workers=1)
                    for i in range(3)]
            masters = [p for p, _, _ in cl.masters()]
            cmds0 = sum(commands_processed(p) for p in masters)
            acc0 = sum(i.metric("events_accepted_total") for i in inst)
            wrks = [subprocess.Popen(["wrk", "-t1", "-c32", "-d%ds" % secs, "-s",
                                      "bench/post_like.lua",
                                      "http://127.0.0.1:%d/v1/streams/clb%d/events" % (i.port, k)],
                                     stdout=subprocess.PIPE, cwd=ROOT)
                    for k, i in enumerate(inst)]
            rps = 0.0
            for w in wrks:
                out = w.communicate(timeout=secs + 60)[0].decode()
                m = re.search(r"Requests/sec:\s+([\d.]+)", out)
                rps += float(m.group(1)) if m else 0
            time.sleep(1.0)
            cmds = sum(commands_processed(p) for p in masters) - cmds0
            acc = sum(i.metric("events_accepted_total") for i in inst) - acc0
            row("cluster: HTTP ingest over 3 instances, req/s", fmt(rps), fmt(hb["nginx"]),
                "nginx `return 204` (one server)", pct(rps, hb["nginx"]))
            row("cluster: Redis commands per 1,000 events", fmt(cmds * 1000 / max(acc, 1), "", 2),
                fmt(hb["per_1000"], "", 2), "one Redis (above)")
            log("-- cluster ws like ingest")
            lt_c = inst[0]
            c_ws = ws_ingest(lt_c.port, "/v1/streams/clwsin/ws", secs, lt_c.pids,
                             lambda: lt_c.metric("likes_accepted_total"))
            row("cluster: WebSocket like ingest (one instance), messages/s", fmt(c_ws[0]),
                fmt(ours[0]), "one Redis, 2 workers (above)", pct(c_ws[0], ours[0]))
            row("cluster: WebSocket like ingest, server CPU per message",
                fmt(c_ws[1], " µs", 2), fmt(ours[1], " µs", 2), "one Redis (above)")
            n = 20000 // scale
            log("-- cluster fan-out %d" % n)
            a = fanout(wsbench, inst[0].port, [p for i in inst for p in i.pids], n, "livetally",
                       extra_ports=[i.port for i in inst[1:]], label="clfan")
            s = single_fanout.get(n, {})
            row("cluster: fan-out %s over 3 instances, p50 / p99" % fmt(n),
                "%s / %s ms" % (fmt(a["latency_p50_ms"], "", 1), fmt(a["latency_p99_ms"], "", 1)),
                "%s / %s ms" % (fmt(s.get("latency_p50_ms"), "", 1),
                                fmt(s.get("latency_p99_ms"), "", 1)), "one instance, one Redis")
            row("cluster: fan-out %s, server CPU per pushed frame" % fmt(n),
                fmt(a["server_cpu_us_per_frame"], " µs", 2),
                fmt(s.get("server_cpu_us_per_frame"), " µs", 2), "one instance, one Redis")
            row("cluster: idle memory per WebSocket (%s over 3 instances)" % fmt(n),
                fmt(a["server_rss_per_idle_conn_bytes"], " B"),
                fmt(s.get("server_rss_per_idle_conn_bytes"), " B"), "one instance, one Redis")
            st = Livetally(binary, work, "clstart", {"cluster": [seeds[0]]}, workers=1)
            row("cluster: start-up of an instance", fmt(st.startup_ms, " ms", 1),
                fmt(lt_start, " ms", 1), "one Redis (above)")
            st.stop()
            for i in inst:
                i.stop()
        finally:
            cl.stop()

    # The table.
    log("")
    log("| scenario | livetally | reference | reference is | ratio / note |")
    log("|---|---|---|---|---|")
    for r in rows:
        log("| %s | %s | %s | %s | %s |" % r)
    log("")
    log("%s, commit %s, %s; load average at the end %s"
        % (time.strftime("%F", time.gmtime()), commit, machine,
           open("/proc/loadavg").read().split()[0]))


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all()
