// The widget's fallbacks: Server-Sent Events when WebSocket is blocked,
// polling GET /v1/streams/{id} when both are. Blocked in two ways: the
// constructor throws (as under a Content-Security-Policy or where the API is
// missing), or the connection fails on the network. And frames that are not
// JSON. See README.md.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib/harness');

const env = h.environment();

// An operator token (for the end and reopen test), from a variable of our
// own: the harness passes no LIVETALLY_* variable to livetally.
const TOKEN_ENV = 'LT_BROWSER_TRANSPORTS_TOKENS';
const TOKEN = 'tr-' + Math.random().toString(36).slice(2);
process.env[TOKEN_ENV] = TOKEN;

// Init scripts: they run in the page before the widget loads.
const THROWING_WEBSOCKET = () => {
  window.__wsAttempts = 0;
  window.WebSocket = function WebSocket() {
    window.__wsAttempts++;
    throw new DOMException('WebSocket blocked by the test', 'SecurityError');
  };
};
const THROWING_EVENTSOURCE = () => {
  window.__esAttempts = 0;
  window.EventSource = function EventSource() {
    window.__esAttempts++;
    throw new DOMException('EventSource blocked by the test', 'SecurityError');
  };
};
// A WebSocket whose handshake fails, as a proxy that refuses upgrades makes
// it: no exception, then error and close 1006 a moment later.
const FAILING_WEBSOCKET = () => {
  window.__wsAttempts = 0;
  class WebSocket extends EventTarget {
    constructor(url) {
      super();
      window.__wsAttempts++;
      this.url = String(url);
      this.readyState = 0;
      this.onopen = this.onmessage = this.onerror = this.onclose = null;
      setTimeout(() => {
        this.readyState = 3;
        const err = new Event('error');
        if (this.onerror) this.onerror(err);
        this.dispatchEvent(err);
        const close = new CloseEvent('close', { code: 1006, reason: '', wasClean: false });
        if (this.onclose) this.onclose(close);
        this.dispatchEvent(close);
      }, 30);
    }
    send() { throw new DOMException('not open', 'InvalidStateError'); }
    close() { this.readyState = 3; }
  }
  Object.assign(WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = WebSocket;
};

// A real WebSocket that, once open, first hands the widget frames that are
// not JSON objects (as a broken proxy might).
const GARBLING_WEBSOCKET = () => {
  const Native = window.WebSocket;
  window.WebSocket = class WebSocket extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('open', () => {
        for (const data of ['not json', '{"type":', 'null', '42', '[1]', '<html>'])
          if (this.onmessage) this.onmessage(new MessageEvent('message', { data }));
      });
    }
  };
};

h.suite('widget transports when WebSocket or SSE is blocked', env, { concurrency: true }, () => {
  let lt, origin, browser;
  h.fixture(env, 'transports', { workers: 1, auth: { operator_tokens_env: TOKEN_ENV } }, f => ({ lt, origin, browser } = f));

  /* A viewer whose page gets `inits` before any script; every request and
   * WebSocket of the page is logged with its time. */
  async function open(label, s, inits, seed, { blockSse = false, onPage = () => {} } = {}) {
    await lt.addLikes(s, seed);
    const url = origin.page(`/${s}.html`, h.widgetPage(lt, { stream: s, locale: 'en' }));
    const context = await browser.newContext({ viewport: { width: 640, height: 240 } });
    for (const f of inits) await context.addInitScript(f);
    // the SSE request fails on the network (as a proxy that cuts it would)
    if (blockSse) await context.route(lt.url(`/v1/streams/${s}/live`), r => r.abort('failed'));
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    onPage(page);
    const requests = [], sockets = [];
    page.on('request', r => requests.push({ t: Date.now(), method: r.method(), url: r.url(), type: r.resourceType() }));
    page.on('websocket', ws => sockets.push(ws.url()));
    const watch = h.watchConsole(page, label);
    const api = lt.url(`/v1/streams/${s}`);
    await page.goto(url);
    return { context, page, requests, sockets, console: watch, api };
  }

  async function sseScenario(v, s, seed, name) {
    // the widget steps down to SSE and gets live totals over it
    await h.waitShown(v.page, 'likes', { value: seed, timeout: 10000 });
    const w = await h.readWidget(v.page);
    assert.equal(w.transport, 'sse', `transport: ${JSON.stringify(w)}`);
    assert.equal(w.state, 'live');
    const live = v.requests.filter(r => r.url === `${v.api}/live`);
    assert.ok(live.length >= 1, `an EventSource request to ${v.api}/live: ${JSON.stringify(v.requests)}`);
    assert.equal(live[live.length - 1].type, 'eventsource');
    assert.deepEqual(v.sockets, [], 'no WebSocket got through');
    // the view goes over HTTP instead of ?viewer= on the socket
    await lt.waitTotals(s, { views: 1 }, { settle: 0 });
    // pushed: someone else's likes appear without polling
    const posted = Date.now();
    await lt.addLikes(s, 25);
    await h.waitShown(v.page, 'likes', { value: seed + 25, timeout: 3000 });
    console.log(`${name}: a posted like reached the widget over SSE after ${Date.now() - posted} ms`);
    const gets = v.requests.filter(r => r.method === 'GET' && r.url === v.api);
    assert.deepEqual(gets, [], 'no polling while SSE works');
    // own taps go out over HTTP and are counted once
    await v.page.locator('livetally-widget button').click();
    await v.page.locator('livetally-widget button').click();
    await lt.waitTotals(s, { likes: seed + 27, views: 1 }, { settle: 1000 });
    await h.waitShown(v.page, 'likes', { value: seed + 27, timeout: 3000 });
    await h.sleep(2200); // the optimistic taps aged out: the pushed total holds
    assert.equal((await h.readWidget(v.page)).likes.value, seed + 27);
    await h.screenshot(v.page, name);
  }

  test('WebSocket constructor throws (CSP-like): SSE carries live updates', { timeout: 30000 }, async () => {
    const s = h.uniq('br-sse');
    const v = await open('SSE, WebSocket throws', s, [THROWING_WEBSOCKET], 300);
    try {
      await sseScenario(v, s, 300, 'transport-sse-ws-throws');
      assert.equal(await v.page.evaluate(() => window.__wsAttempts), 1, 'one WebSocket attempt, then SSE');
      v.console.check();
    } catch (e) {
      throw await v.console.failed(e);
    } finally {
      await v.context.close();
    }
  });

  test('WebSocket handshake fails (error, close 1006): after two failures, SSE carries live updates',
       { timeout: 30000 }, async () => {
    const s = h.uniq('br-sse2');
    const v = await open('SSE, WebSocket fails', s, [FAILING_WEBSOCKET], 400);
    try {
      await sseScenario(v, s, 400, 'transport-sse-ws-fails');
      assert.equal(await v.page.evaluate(() => window.__wsAttempts), 2, 'two WebSocket attempts, then SSE');
      v.console.check();
    } catch (e) {
      throw await v.console.failed(e);
    } finally {
      await v.context.close();
    }
  });

  test('frames that are not JSON objects are ignored, with one console warning, and nothing thrown',
       { timeout: 30000 }, async () => {
    const s = h.uniq('br-garbled');
    const warnings = [];
    const v = await open('garbled frames', s, [GARBLING_WEBSOCKET], 700, {
      onPage: page => page.on('console', m => m.type() === 'warning' && warnings.push(m.text()))
    });
    try {
      await h.waitShown(v.page, 'likes', { value: 700 });
      const w = await h.readWidget(v.page);
      assert.deepEqual([w.state, w.transport], ['live', 'ws']);
      await lt.addLikes(s, 5);
      await h.waitShown(v.page, 'likes', { value: 705, timeout: 3000 });
      const ours = warnings.filter(t => t.startsWith('livetally widget:'));
      assert.equal(ours.length, 1, `one warning: ${JSON.stringify(warnings)}`);
      v.console.check(); // no uncaught exception
    } catch (e) {
      throw await v.console.failed(e);
    } finally {
      await v.context.close();
    }
  });

  async function pollScenario(v, s, seed, name) {
    // the first poll, after the step-downs' backoff
    await h.waitShown(v.page, 'likes', { value: seed, timeout: 15000 });
    let w = await h.readWidget(v.page);
    assert.equal(w.transport, 'poll', `transport: ${JSON.stringify(w)}`);
    assert.equal(w.state, 'live');
    assert.deepEqual(v.sockets, [], 'no WebSocket got through');
    const gets = () => v.requests.filter(r => r.method === 'GET' && r.url === v.api);
    await lt.waitTotals(s, { views: 1 }, { settle: 0 }); // counted over HTTP
    // a like posted right after a poll shows at the next one: ~5 s
    const before = gets().length;
    await h.waitFor(() => gets().length > before, { timeout: 7000, desc: 'the next poll' });
    const posted = Date.now();
    await lt.addLikes(s, 30);
    await h.waitShown(v.page, 'likes', { value: seed + 30, timeout: 7000 });
    const took = Date.now() - posted;
    // one more poll, for a second interval
    const n = gets().length;
    await h.waitFor(() => gets().length > n, { timeout: 7000, desc: 'one more poll' });
    const times = gets().map(r => r.t);
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    console.log(`${name}: the posted likes showed after ${took} ms; GET ${v.api} every ${gaps.join(', ')} ms`);
    assert.ok(gaps.length >= 2, `polls: ${gaps}`);
    for (const g of gaps.slice(-2)) assert.ok(g >= 4500 && g <= 6500, `a poll interval of ${g} ms (expected ~5000)`);
    // own taps over HTTP, counted once
    await v.page.locator('livetally-widget button').click();
    await lt.waitTotals(s, { likes: seed + 31, views: 1 }, { settle: 1000 });
    await h.waitShown(v.page, 'likes', { value: seed + 31, timeout: 1000 });
    w = await h.readWidget(v.page);
    assert.equal(w.transport, 'poll');
    await h.screenshot(v.page, name);
  }

  test('WebSocket and EventSource constructors both throw: the widget polls GET totals every ~5 s',
       { timeout: 45000 }, async () => {
    const s = h.uniq('br-poll');
    const v = await open('polling, both throw', s, [THROWING_WEBSOCKET, THROWING_EVENTSOURCE], 500);
    try {
      await pollScenario(v, s, 500, 'transport-poll-both-throw');
      v.console.check();
    } catch (e) {
      throw await v.console.failed(e);
    } finally {
      await v.context.close();
    }
  });

  test('WebSocket throws and the SSE request fails on the network: the widget polls GET totals every ~5 s',
       { timeout: 45000 }, async () => {
    const s = h.uniq('br-poll2');
    const v = await open('polling, SSE fails', s, [THROWING_WEBSOCKET], 600, { blockSse: true });
    try {
      await pollScenario(v, s, 600, 'transport-poll-sse-fails');
      const live = v.requests.filter(r => r.url === `${v.api}/live`);
      assert.ok(live.length >= 2, `EventSource tried twice before polling: ${live.length}`);
      // the aborted EventSource requests are the only console errors allowed
      v.console.check([{ text: /^Failed to load resource: net::ERR_FAILED$/, url: new RegExp(`^${v.api}/live$`) }]);
    } catch (e) {
      throw await v.console.failed(e);
    } finally {
      await v.context.close();
    }
  });
  test('an operator ends and reopens the stream: the like button follows at once, over WebSocket and SSE',
       { timeout: 45000 }, async () => {
    const s = h.uniq('br-status');
    const put = async status => {
      const r = await lt.request('PUT', `/v1/streams/${s}`, { status }, { Authorization: `Bearer ${TOKEN}` });
      assert.equal(r.status, 200, r.text);
    };
    const ws = await open('status over WebSocket', s, [], 40);
    const sse = await open('status over SSE', s, [THROWING_WEBSOCKET], 0);
    try {
      for (const [v, transport] of [[ws, 'ws'], [sse, 'sse']]) {
        await h.waitShown(v.page, 'likes', { value: 40, timeout: 10000 });
        const w = await h.readWidget(v.page);
        assert.equal(w.transport, transport);
        assert.equal(w.button.disabled, false);
      }
      await put('ended');
      const ended = Date.now();
      for (const v of [ws, sse])
        await h.waitFor(async () => (await h.readWidget(v.page)).button.disabled === true,
                        { timeout: 3000, desc: 'the like button disabled by the status message' });
      console.log(`status: both buttons disabled ${Date.now() - ended} ms after the end`);
      await put('live'); // reopened
      for (const v of [ws, sse])
        await h.waitFor(async () => (await h.readWidget(v.page)).button.disabled === false,
                        { timeout: 3000, desc: 'the like button enabled again after the reopen' });
      await ws.page.locator('livetally-widget button').click();
      await lt.waitTotals(s, { likes: 41 }, { settle: 500 });
      ws.console.check();
      sse.console.check();
    } catch (e) {
      throw await ws.console.failed(e);
    } finally {
      await ws.context.close();
      await sse.context.close();
    }
  });
});
