// Shared machinery of the browser tests: a throwaway redis-server and the
// real livetally binary (stopped by PID, always), a second HTTP server that
// plays "another origin", headless Chromium through playwright-core, console
// watching, bounded waits and artifacts.
//
// Environment (set by CTest): LT_BINARY, LT_REDIS_SERVER, LT_SOURCE_DIR,
// LT_ARTIFACTS; LT_CHROMIUM overrides /usr/bin/chromium, LT_WEB_ROOT the web/
// beside the binary.
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const HERE = path.resolve(__dirname, '..');
const SOURCE_DIR = process.env.LT_SOURCE_DIR || path.resolve(HERE, '../..');
const ARTIFACTS = process.env.LT_ARTIFACTS || path.join(HERE, 'artifacts');
const CHROMIUM = process.env.LT_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                       '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const READY_RE = /^livetally ready on http:\/\/(\[[^\]]+\]|[^:/\s]+):(\d+)\s*$/m;

const sleep = ms => new Promise(r => setTimeout(r, ms));

function executable(p) {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch (e) {
    return false;
  }
}

function which(name) {
  for (const dir of (process.env.PATH || '').split(':'))
    if (dir && executable(path.join(dir, name))) return path.join(dir, name);
  return null;
}

/* Under LT_NO_SKIP=1 (scripts/test.sh) or CI=true, a suite that cannot run
 * fails with its reason instead of skipping: CI cannot pass by skipping. */
const NO_SKIP = !['', '0'].includes(process.env.LT_NO_SKIP || '') ||
                (process.env.CI || '').toLowerCase() === 'true';

/* What the suite needs, or why it cannot run. A missing browser, driver,
 * binary or redis-server is a skip with its reason (a failure under
 * NO_SKIP); an LT_BINARY that names no executable is a mistake and fails. */
function environment() {
  if (!executable(CHROMIUM)) return { skip: `no Chromium at ${CHROMIUM} (apt-get install chromium)` };
  let playwright;
  try {
    playwright = require('playwright-core');
  } catch (e) {
    return { skip: `playwright-core is not installed (cd ${HERE} && npm ci)` };
  }
  let binary = process.env.LT_BINARY;
  if (binary) {
    if (!executable(binary)) throw new Error(`LT_BINARY=${binary} is not an executable file`);
  } else {
    binary = path.join(SOURCE_DIR, 'build', 'livetally');
    if (!executable(binary)) return { skip: 'no livetally binary: set LT_BINARY (ctest does)' };
  }
  const redis = process.env.LT_REDIS_SERVER || which('redis-server');
  if (!redis || !executable(redis)) return { skip: 'no redis-server: set LT_REDIS_SERVER' };
  // What the build put beside the binary (the minified widget.js), as the
  // server serves it by default; LT_WEB_ROOT overrides it.
  const webRoot = process.env.LT_WEB_ROOT || path.join(path.dirname(binary), 'web');
  if (!fs.existsSync(path.join(webRoot, 'widget.js')))
    throw new Error(`no widget.js in ${webRoot}: build livetally with cmake (it makes web/ beside the binary), or set LT_WEB_ROOT`);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return { playwright, binary, redis, webRoot };
}

/* describe(name, options, fn), or, when the environment cannot run the
 * suite, one skipped test that says why (so that the runner counts a skip),
 * or under NO_SKIP one failing test that says why. */
function suite(name, env, options, fn) {
  const { describe, test } = require('node:test');
  if (env.skip && NO_SKIP)
    return test(name, () => {
      throw new Error(`cannot run, and skips are failures under LT_NO_SKIP/CI: ${env.skip}`);
    });
  if (env.skip) return test(name, { skip: env.skip }, () => {});
  return describe(name, options, fn);
}

/* Polls fn until it returns something truthy; returns that. On timeout the
 * error names desc and fn's last value. */
async function waitFor(fn, { timeout = 5000, interval = 50, desc = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    let threw = false;
    try {
      last = await fn();
    } catch (e) { // tried again until the deadline (a server still starting)
      threw = true;
      last = `threw: ${e.message}`;
    }
    if (last && !threw) return last;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${(timeout / 1000).toFixed(1)} s waiting for ${desc} (last: ${JSON.stringify(last)})`);
    await sleep(interval);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function tail(file, n = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
  } catch (e) {
    return `(no ${file})`;
  }
}

// ---------------------------------------------------------------------------
// processes: every child is remembered and SIGKILLed by PID if node exits
// before a test's teardown stopped it (a crash, a CTest timeout's SIGTERM).

const children = new Set();
process.on('exit', () => {
  for (const c of children) killPid(c.pid, 'SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const c of children) {
      for (const k of c.kids || []) killPid(k, 'SIGKILL');
      killPid(c.pid, 'SIGKILL');
    }
    process.exit(128 + os.constants.signals[sig]);
  });
}

function killPid(pid, sig) {
  try {
    process.kill(pid, sig);
    return true;
  } catch (e) {
    return false;
  }
}

function pidAlive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch (e) {
    return false;
  }
}

// PIDs of pid's live children, from /proc (livetally's workers).
function childrenOf(pid) {
  const kids = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch (e) {
      continue;
    }
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] !== 'Z' && rest[0] !== 'X' && +rest[1] === pid) kids.push(+name);
  }
  return kids;
}

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child, timeout) {
  if (exited(child)) return Promise.resolve(true);
  return new Promise(resolve => {
    const t = setTimeout(() => resolve(false), timeout);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/* SIGTERM by PID, SIGKILL after timeout; workers left behind are SIGKILLed
 * by PID. Returns {code, signal, killed, leftovers}. */
async function stopProcess(child, { timeout = 10000 } = {}) {
  if (!child) return null;
  const kids = new Set([...(child.kids || []), ...(exited(child) ? [] : childrenOf(child.pid))]);
  let killed = false;
  if (!exited(child)) {
    killPid(child.pid, 'SIGTERM');
    if (!(await waitExit(child, timeout))) {
      killed = true;
      killPid(child.pid, 'SIGKILL');
      await waitExit(child, 5000);
    }
  }
  children.delete(child);
  const deadline = Date.now() + 3000;
  let leftovers = [...kids].filter(pidAlive);
  while (leftovers.length && Date.now() < deadline) {
    await sleep(20);
    leftovers = leftovers.filter(pidAlive);
  }
  for (const k of leftovers) killPid(k, 'SIGKILL');
  return { code: child.exitCode, signal: child.signalCode, killed, leftovers };
}

// ---------------------------------------------------------------------------
// redis-server

function redisPing(port, timeout = 1000) {
  return new Promise(resolve => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = ok => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeout);
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', d => {
      buf += d;
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
    s.on('error', () => done(false));
  });
}

async function startRedis(binary, dir) {
  fs.mkdirSync(dir, { recursive: true });
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    const log = path.join(dir, `redis-${port}.log`);
    const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                                 '--protected-mode', 'no', '--daemonize', 'no', '--dir', dir, '--logfile', log],
                        { stdio: 'ignore' });
    children.add(child);
    const deadline = Date.now() + 10000;
    while (!exited(child) && Date.now() < deadline && !(await redisPing(port))) await sleep(20);
    if (!exited(child) && (await redisPing(port))) return { child, port, log };
    await stopProcess(child);
    if (tries >= 2) throw new Error(`redis-server did not start:\n${tail(log)}`);
  }
}

// ---------------------------------------------------------------------------
// livetally

class Livetally {
  constructor(env, dir, redisPort, overrides = {}) {
    this.env = env;
    this.dir = dir;
    this.config = Object.assign({
      listen: '127.0.0.1:0',
      workers: 1,
      redis: { host: '127.0.0.1', port: redisPort },
      flush_interval_ms: 50,
      push_interval_ms: 100,
      cors: { allowed_origins: ['*'] },
      web_root: env.webRoot,
      log_level: 'info',
      // addLikes seeds thousands of likes from this one address; the
      // widgets' own taps stay far below the per-viewer budget either way.
      likes: { per_client_rate_per_second: 1000000, per_client_burst: 10000000 }
    }, overrides);
    this.seeded = 0; // like events addLikes has sent, naming its viewers
    this.configPath = path.join(dir, 'livetally.json');
    this.starts = 0;
    this.child = null;
  }

  /* Starts the master and waits for its ready line. args go after --config
   * (e.g. ['--listen', '127.0.0.1:PORT'] for a restart on the same port). */
  async start(args = [], timeout = 10000) {
    fs.mkdirSync(this.dir, { recursive: true });
    fs.writeFileSync(this.configPath, JSON.stringify(this.config, null, 2));
    this.starts++;
    this.stderrPath = path.join(this.dir, `livetally-${this.starts}.stderr`);
    const errFd = fs.openSync(this.stderrPath, 'w');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LIVETALLY_')));
    const child = spawn(this.env.binary, ['--config', this.configPath, ...args],
                        { stdio: ['ignore', 'pipe', errFd], env, cwd: this.dir });
    fs.closeSync(errFd);
    children.add(child);
    this.child = child;
    let out = '';
    child.stdout.setEncoding('utf8');
    const ready = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ready line from livetally within ${timeout} ms\n` +
                                                  `stdout: ${out}\nstderr:\n${tail(this.stderrPath)}`)), timeout);
      child.stdout.on('data', d => {
        out += d;
        const m = READY_RE.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m);
        }
      });
      child.once('exit', (code, sig) => {
        clearTimeout(t);
        reject(new Error(`livetally exited (${code ?? sig}) before its ready line\nstdout: ${out}\n` +
                         `stderr:\n${tail(this.stderrPath)}`));
      });
    });
    let m;
    try {
      m = await ready;
    } catch (e) {
      await stopProcess(child);
      throw e;
    }
    this.host = m[1].replace(/^\[|\]$/g, '');
    this.port = +m[2];
    this.origin = `http://${m[1]}:${m[2]}`;
    child.kids = childrenOf(child.pid);
    return this;
  }

  // SIGTERM, SIGKILL after timeout. Returns stopProcess's result.
  async stop(timeout = 10000) {
    const c = this.child;
    if (c && !exited(c)) c.kids = [...new Set([...(c.kids || []), ...childrenOf(c.pid)])];
    return stopProcess(c, { timeout });
  }

  /* A new master on the port this one had; retried while the port is still
   * busy (the old sockets closing). */
  async restartOnSamePort(tries = 10) {
    const port = this.port;
    for (let i = 1; ; i++) {
      try {
        return await this.start(['--listen', `127.0.0.1:${port}`]);
      } catch (e) {
        if (i >= tries) throw e;
        await sleep(200);
      }
    }
  }

  stderr() {
    return tail(this.stderrPath, 60);
  }

  url(p) {
    return this.origin + p;
  }

  async request(method, p, body, headers = {}) {
    const res = await fetch(this.url(p), {
      method,
      headers: body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5000)
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch (e) {}
    return { status: res.status, headers: res.headers, text, json };
  }

  async postEvents(stream, events) {
    const r = await this.request('POST', `/v1/streams/${stream}/events`, events);
    assert.equal(r.status, 202, `POST events for ${stream}: ${r.status} ${r.text}`);
    const n = Array.isArray(events) ? events.length : 1;
    assert.deepEqual(r.json, { accepted: n, rejected: 0 }, `POST events for ${stream}`);
    return r.json;
  }

  // `n` likes as events of at most 50 (likes.max_per_message), each from a
  // viewer of its own so that no viewer goes over its like budget.
  async addLikes(stream, n) {
    const events = [];
    for (let left = n; left > 0; left -= 50) {
      const viewer = 'seed-likes-' + String(this.seeded++).padStart(8, '0');
      events.push({ type: 'like', n: Math.min(50, left), viewer });
    }
    for (let i = 0; i < events.length; i += 1000) await this.postEvents(stream, events.slice(i, i + 1000));
  }

  async totals(stream, query = '') {
    const r = await this.request('GET', `/v1/streams/${stream}${query}`);
    if (r.status === 404) return null;
    assert.equal(r.status, 200, `GET totals of ${stream}: ${r.status} ${r.text}`);
    return r.json;
  }

  /* Waits until every key of expect (dotted paths) has its value in GET
   * totals, then checks it stays so for `settle` ms (nothing counted twice). */
  async waitTotals(stream, expect, { timeout = 5000, settle = 500 } = {}) {
    const pick = t => Object.fromEntries(Object.keys(expect).map(k => [k, k.split('.').reduce((o, p) => o?.[p], t)]));
    let got;
    try {
      await waitFor(async () => {
        got = pick((await this.totals(stream)) || {});
        return JSON.stringify(got) === JSON.stringify(pick(expectObj(expect)));
      }, { timeout, desc: `totals of ${stream} = ${JSON.stringify(expect)}` });
    } catch (e) {
      throw new Error(`${e.message}; got ${JSON.stringify(got)}`);
    }
    if (settle) {
      await sleep(settle);
      got = pick((await this.totals(stream)) || {});
      assert.deepEqual(got, pick(expectObj(expect)), `totals of ${stream} changed after matching`);
    }
    return this.totals(stream);
  }
}

// {"a.b": 1} -> {a: {b: 1}}, so that pick() reads both alike.
function expectObj(expect) {
  const out = {};
  for (const [k, v] of Object.entries(expect)) {
    const parts = k.split('.');
    let o = out;
    for (const p of parts.slice(0, -1)) o = o[p] = o[p] || {};
    o[parts[parts.length - 1]] = v;
  }
  return out;
}

/* A throwaway redis-server and one livetally for a test file. */
async function startServers(env, name, overrides) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lt-browser-${name}-`));
  const redis = await startRedis(env.redis, path.join(dir, 'redis'));
  const lt = new Livetally(env, path.join(dir, 'lt'), redis.port, overrides);
  try {
    await lt.start();
  } catch (e) {
    await stopProcess(redis.child);
    throw e;
  }
  return {
    dir, redis, lt,
    async stop() {
      const r = await lt.stop();
      await stopProcess(redis.child, { timeout: 5000 });
      return r;
    }
  };
}

// ---------------------------------------------------------------------------
// the other origin: pages registered by path, served from 127.0.0.1:<other>

async function startOrigin() {
  const pages = new Map();
  const server = http.createServer((req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    if (p === '/favicon.ico') return res.writeHead(204).end();
    const html = pages.get(p);
    if (html === undefined) return res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(html);
  });
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    // registers html at path; returns its URL
    page(p, html) {
      pages.set(p, html);
      return origin + p;
    },
    close: () => new Promise(r => {
      server.closeAllConnections();
      server.close(() => r());
    })
  };
}

const escapeAttr = s => String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/* A broadcast page of the other origin with the widget's script tag. */
function widgetPage(lt, attrs, { lang = 'en', title = 'a broadcast page', before = '' } = {}) {
  const a = Object.entries(attrs).map(([k, v]) => ` data-${k}="${escapeAttr(v)}"`).join('');
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font:16px system-ui,sans-serif;margin:16px;max-width:560px}</style></head><body>
<h1>${title}</h1>${before}
<script src="${lt.url('/widget.js')}"${a} async></script>
<p>Text after the widget.</p>
</body></html>`;
}

// ---------------------------------------------------------------------------
// the browser

async function launchBrowser(env) {
  return env.playwright.chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
}

/* Collects console errors and uncaught exceptions of a page (its frames
 * included). check() fails on any not matched by an allowed pattern (each
 * {text: RegExp, url?: RegExp}); allowed ones are returned for the log. */
function watchConsole(page, label) {
  const seen = [];
  const slug = label.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');
  fs.rmSync(path.join(ARTIFACTS, `FAILED-${slug}.png`), { force: true }); // from an earlier run
  page.on('console', m => {
    if (m.type() === 'error') seen.push({ kind: 'console.error', text: m.text(), url: m.location().url || '' });
  });
  page.on('pageerror', e => seen.push({ kind: 'pageerror', text: String(e && e.stack || e), url: '' }));
  page.on('crash', () => seen.push({ kind: 'crash', text: 'the page crashed', url: '' }));
  return {
    seen,
    /* e with what the console had so far appended to its message: a
     * widget that stopped is often explained there. */
    annotate(e) {
      if (seen.length && e && typeof e.message === 'string' && !(e.annotatedBy ||= new Set()).has(label)) {
        e.message += `\n${label}: the page's console errors and exceptions so far:\n` +
          seen.map(m => `  [${m.kind}] ${m.text}${m.url ? ` (at ${m.url})` : ''}`).join('\n');
        e.annotatedBy.add(label);
      }
      return e;
    },
    /* A failing test's page: a screenshot (FAILED-<label>.png) and e
     * annotated with the console. */
    async failed(e) {
      try {
        if (!page.isClosed()) await screenshot(page, `FAILED-${slug}`);
      } catch (err) {}
      return this.annotate(e);
    },
    check(allowed = []) {
      const ok = m => m.kind === 'console.error' &&
        allowed.some(a => a.text.test(m.text) && (!a.url || a.url.test(m.url) || a.url.test(m.text)));
      const bad = seen.filter(m => !ok(m));
      if (bad.length) {
        const e = new assert.AssertionError({
          message: `${label}: ${bad.length} console error(s) / uncaught exception(s):\n` +
            bad.map(m => `  [${m.kind}] ${m.text}${m.url ? ` (at ${m.url})` : ''}`).join('\n')
        });
        e.annotatedBy = new Set([label]);
        throw e;
      }
      return seen.filter(ok);
    }
  };
}

// The network errors a test provokes on purpose, for the livetally origin only.
function networkErrorsOf(lt) {
  const o = lt.origin.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const wo = o.replace(/^http/, 'ws');
  return [
    // "WebSocket connection to 'ws://127.0.0.1:P/v1/streams/S/ws?...' failed: ..."
    { text: new RegExp(`^WebSocket connection to '${wo}/v1/streams/[^']+/ws[^']*' failed`) },
    // "Failed to load resource: net::ERR_CONNECTION_REFUSED" at a livetally API URL
    { text: /^Failed to load resource: net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|FAILED|CONNECTION_CLOSED|ABORTED)/,
      url: new RegExp(`^${o}/v1/streams/`) },
    // fetch/EventSource errors Chromium prints with the URL in the text
    { text: new RegExp(`^(GET|POST) ${o}/v1/streams/\\S+ net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|FAILED|CONNECTION_CLOSED|ABORTED)`) }
  ];
}

async function screenshot(target, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await target.screenshot({ path: file, timeout: 10000 });
  return file;
}

function writeArtifact(name, text) {
  const file = path.join(ARTIFACTS, name);
  fs.writeFileSync(file, text);
  return file;
}

/* What the widget under `host` (a selector of its <livetally-widget>) shows,
 * read through its open shadow root. Runs in the page or a frame. */
function readWidget(frame, host = 'livetally-widget') {
  return frame.evaluate(sel => {
    const h = document.querySelector(sel);
    if (!h) return null;
    const r = h.shadowRoot;
    if (!r) return { noShadowRoot: true };
    const num = k => {
      const b = r.querySelector('b.' + k);
      return b ? { text: b.textContent, value: b.dataset.value === undefined ? null : +b.dataset.value,
                   label: b.parentElement.textContent.slice(b.textContent.length).trim() } : null;
    };
    const w = r.querySelector('.w'), btn = r.querySelector('button');
    return {
      theme: h.dataset.theme, state: h.dataset.state, transport: h.dataset.transport, lang: h.lang,
      views: num('views'), likes: num('likes'), online: num('online'),
      button: btn && { label: btn.getAttribute('aria-label'), text: btn.textContent.trim(), disabled: btn.disabled },
      background: w && getComputedStyle(w).backgroundColor,
      live: (r.querySelector('[aria-live]') || {}).textContent
    };
  }, host);
}

/* Waits until the widget's `key` (views, likes, online) shows `text` and,
 * when value is given, its exact value is that; returns ms waited. */
async function waitShown(frame, key, { text, value, timeout = 5000, host = 'livetally-widget' }) {
  const t0 = Date.now();
  let last;
  try {
    await waitFor(async () => {
      last = await readWidget(frame, host);
      const n = last && last[key];
      return n && (text === undefined || n.text === text) && (value === undefined || n.value === value);
    }, { timeout, interval: 25, desc: `widget ${key} = ${JSON.stringify({ text, value })}` });
  } catch (e) {
    throw new Error(`${e.message}\nwidget: ${JSON.stringify(last)}`);
  }
  return Date.now() - t0;
}

/* The setup every test file shares: Redis and livetally, the other origin
 * and a browser, started before its tests and stopped after them. `bind`
 * gets {servers, lt, origin, browser} once they run. With checkExit, the
 * file fails when livetally does not exit 0 on SIGTERM. */
function fixture(env, name, overrides, bind, { checkExit = true } = {}) {
  const { before, after } = require('node:test');
  const f = {};
  before(async () => {
    f.servers = await startServers(env, name, overrides);
    f.lt = f.servers.lt;
    f.origin = await startOrigin();
    f.browser = await launchBrowser(env);
    bind(f);
  });
  after(async () => {
    if (f.browser) await f.browser.close().catch(() => {});
    if (f.origin) await f.origin.close();
    if (!f.servers) return;
    const r = await f.servers.stop();
    if (checkExit)
      assert.equal(r.code, 0, `livetally's exit on SIGTERM: ${JSON.stringify(r)}\n${f.lt.stderr()}`);
  });
}

const uniq = prefix => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;

module.exports = {
  SOURCE_DIR, ARTIFACTS, CHROMIUM, environment, suite, waitFor, sleep, freePort, startServers, startOrigin,
  widgetPage, launchBrowser, watchConsole, networkErrorsOf, screenshot, writeArtifact, readWidget, waitShown,
  stopProcess, uniq, escapeAttr, fixture
};
