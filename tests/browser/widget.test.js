// The widget on a page of another origin, in headless Chromium: display
// formats and labels per locale, themes, the view it counts, likes between
// two viewers (mouse and keyboard), teardown when the element leaves the
// page, the demo page, the time to the first number and the size of
// /widget.js as served. See README.md.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const zlib = require('node:zlib');
const h = require('./lib/harness');

const env = h.environment();

h.suite('widget on another origin', env, {}, () => {
  let lt, origin, browser;
  h.fixture(env, 'widget', { workers: 2 }, f => ({ lt, origin, browser } = f));

  // A fresh context (one viewer: its own localStorage) and page, watched.
  async function viewer(label, contextOptions = {}) {
    const context = await browser.newContext({ viewport: { width: 640, height: 360 }, ...contextOptions });
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    return { context, page, console: h.watchConsole(page, label) };
  }

  test('en, floor, light: real numbers on a page of another origin; the view it counts reaches GET totals',
       { timeout: 30000 }, async () => {
    const s = h.uniq('br-en');
    await lt.addLikes(s, 1234);
    const url = origin.page(`/${s}.html`, h.widgetPage(lt, { stream: s, locale: 'en', theme: 'light' }, { lang: 'fr' }));
    assert.notEqual(new URL(url).origin, lt.origin, 'the page must be of another origin');
    const v = await viewer('en light');
    try {
      const sockets = [], widgetResponses = [];
      v.page.on('websocket', ws => sockets.push(ws.url()));
      v.page.on('response', r => r.url() === lt.url('/widget.js') && widgetResponses.push(r));
      await v.page.goto(url);
      await h.waitShown(v.page, 'likes', { text: '1K+', value: 1234 });
      // (that its own view and online then show in the widget: the test
      // "its own view and subscription" below)
      const w = await h.readWidget(v.page);
      assert.deepEqual([w.views.label, w.likes.label, w.online.label], ['views', 'likes', 'online']);
      assert.deepEqual(w.button, { label: 'Like', text: 'Like', disabled: false });
      assert.equal(w.lang, 'en');
      assert.equal(w.theme, 'light');
      assert.equal(w.background, 'rgb(255, 255, 255)', 'light theme background');
      assert.equal(w.transport, 'ws');
      assert.equal(w.state, 'live');
      // where the script stands
      assert.equal(await v.page.evaluate(() => document.querySelector('script[data-stream]').nextElementSibling.localName),
                   'livetally-widget');
      // one WebSocket, to the stream, counting the view with the widget's viewer id
      assert.equal(sockets.length, 1, `WebSockets opened: ${JSON.stringify(sockets)}`);
      const ws = new URL(sockets[0]);
      assert.equal(ws.origin.replace(/^ws/, 'http'), lt.origin);
      assert.equal(ws.pathname, `/v1/streams/${s}/ws`);
      assert.equal(ws.searchParams.get('source'), 'direct');
      const viewerId = await v.page.evaluate(() => localStorage.getItem('livetally.viewer'));
      assert.match(viewerId, /^[A-Za-z0-9_-]{8,64}$/);
      assert.equal(ws.searchParams.get('viewer'), viewerId);
      // /widget.js came gzipped, loadable cross-origin
      assert.equal(widgetResponses.length, 1);
      const wh = await widgetResponses[0].allHeaders();
      assert.equal(wh['content-encoding'], 'gzip');
      assert.equal(wh['cross-origin-resource-policy'], 'cross-origin');
      assert.match(wh['content-type'], /javascript/);

      const t = await lt.waitTotals(s, { views: 1, likes: 1234, 'sources.direct.views': 1, 'sources.direct.likes': 1234 });
      assert.equal(t.uniques, 1);
      assert.deepEqual((await lt.totals(s, '?locale=en')).display.likes, '1K+', 'server display agrees');
      await h.waitShown(v.page, 'views', { text: '1', value: 1 }).catch(() => {}); // for the picture
      await h.screenshot(v.page, 'widget-en-light');
      await h.screenshot(v.page.locator('livetally-widget'), 'widget-en-light-element');
      v.console.check();
    } catch (e) {
      throw await v.console.failed(e);
    } finally {
      await v.context.close();
    }
  });

  test('zh-CN, floor, dark: 12345 likes show 1万+, Chinese labels, data-source counts the view there',
       { timeout: 30000 }, async () => {
    const s = h.uniq('br-zh');
    await lt.addLikes(s, 12345);
    const url = origin.page(`/${s}.html`, h.widgetPage(lt, { stream: s, locale: 'zh-CN', theme: 'dark', source: 'br_test' },
                                                       { lang: 'en', title: '直播页面' }));
    const v = await viewer('zh-CN dark');
    try {
      await v.page.goto(url);
      await h.waitShown(v.page, 'likes', { text: '1万+', value: 12345 });
      const w = await h.readWidget(v.page);
      assert.deepEqual([w.views.label, w.likes.label, w.online.label], ['观看', '点赞', '在线']);
      assert.equal(w.button.label, '点赞');
      assert.equal(w.lang, 'zh-CN');
      assert.equal(w.theme, 'dark');
      assert.equal(w.background, 'rgb(29, 29, 34)', 'dark theme background');
      const t = await lt.waitTotals(s, { views: 1, likes: 12345, 'sources.br_test.views': 1 });
      assert.equal(t.sources.direct?.views || 0, 0, 'the view belongs to data-source, not direct');
      assert.equal((await lt.totals(s, '?locale=zh-CN')).display.likes, '1万+', 'server display agrees');
      await h.waitShown(v.page, 'views', { text: '1', value: 1 }).catch(() => {}); // for the picture
      await h.screenshot(v.page, 'widget-zh-dark');
      await h.screenshot(v.page.locator('livetally-widget'), 'widget-zh-dark-element');
      v.console.check();
    } catch (e) {
      throw await v.console.failed(e);
    } finally {
      await v.context.close();
    }
  });

  test('defaults: locale from the page lang, compact style, theme auto follows a dark color scheme',
       { timeout: 30000 }, async () => {
    const s = h.uniq('br-auto');
    await lt.addLikes(s, 203411);
    const url = origin.page(`/${s}.html`, h.widgetPage(lt, { stream: s, style: 'compact' }, { lang: 'zh-Hans-CN' }));
    const v = await viewer('auto dark', { colorScheme: 'dark' });
    try {
      await v.page.goto(url);
      await h.waitShown(v.page, 'likes', { text: '20.3万', value: 203411 });
      const w = await h.readWidget(v.page);
      assert.equal(w.lang, 'zh-CN');
      assert.equal(w.theme, 'auto');
      assert.equal(w.background, 'rgb(29, 29, 34)', 'theme auto under prefers-color-scheme: dark');
      await h.screenshot(v.page, 'widget-auto-dark-compact');
      v.console.check();
    } catch (e) {
      throw await v.console.failed(e);
    } finally {
      await v.context.close();
    }
  });

  test('its own view and subscription: each new widget gets the totals they changed (views 1, online 1) within 3 s',
       { timeout: 30000 }, async () => {
    // The view the widget counts (?viewer= on its WebSocket) and its
    // subscription (online) change the stream right after it subscribed;
    // that change must be pushed to it like any other. Twelve fresh streams
    // at once, one page each, so that a lost push shows.
    const PAGES = 12;
    fs.rmSync(path.join(h.ARTIFACTS, 'FAILED-own-view.png'), { force: true });
    const context = await browser.newContext({ viewport: { width: 640, height: 240 } });
    const pages = [];
    try {
      for (let i = 0; i < PAGES; i++) {
        const s = h.uniq(`br-own-${i}`);
        await lt.addLikes(s, 7);
        const page = await context.newPage();
        const frames = [];
        page.on('websocket', ws => ws.on('framereceived', f => frames.push(String(f.payload))));
        pages.push({ s, page, frames, console: h.watchConsole(page, `own view #${i}`),
                     url: origin.page(`/${s}.html`, h.widgetPage(lt, { stream: s, locale: 'en' })) });
      }
      await Promise.all(pages.map(p => p.page.goto(p.url)));
      const results = await Promise.all(pages.map(async p => {
        try {
          await h.waitShown(p.page, 'likes', { value: 7 });
          await h.waitShown(p.page, 'views', { value: 1, timeout: 3000 });
          await h.waitShown(p.page, 'online', { value: 1, timeout: 3000 });
          return null;
        } catch (e) {
          const t = await lt.totals(p.s);
          return `${p.s}: the widget shows ${JSON.stringify(await h.readWidget(p.page).then(w => ({ views: w.views.value, online: w.online.value, likes: w.likes.value })))}` +
            ` while GET totals has views ${t.views}, online ${t.online}, seq ${t.seq}; WebSocket messages received: ${p.frames.join(' ')}`;
        }
      }));
      const missed = results.filter(Boolean);
      if (missed.length) await h.screenshot(pages[results.findIndex(Boolean)].page, 'FAILED-own-view');
      for (const p of pages) p.console.check();
      assert.equal(missed.length, 0, `${missed.length} of ${PAGES} widgets never got the push of their own view and ` +
                   `subscription:\n${missed.join('\n')}`);
    } finally {
      await context.close();
    }
  });

  test('likes clicked in one viewer appear in another within 3 s and in GET totals exactly; Enter and Space tap',
       { timeout: 45000 }, async () => {
    const s = h.uniq('br-likes');
    const SEED = 100, N = 7;
    await lt.addLikes(s, SEED);
    const url = origin.page(`/${s}.html`, h.widgetPage(lt, { stream: s, locale: 'en' }));
    const a = await viewer('viewer A'), b = await viewer('viewer B');
    try {
      await Promise.all([a.page.goto(url), b.page.goto(url)]);
      await h.waitShown(a.page, 'likes', { value: SEED });
      await h.waitShown(b.page, 'likes', { value: SEED });
      // two viewers, two subscriptions (perhaps on two workers); that the
      // widgets show it is the test "its own view and subscription" above
      await lt.waitTotals(s, { views: 2, likes: SEED, online: 2 }, { settle: 0 });

      const like = a.page.locator('livetally-widget button');
      for (let i = 0; i < N; i++) await like.click();
      const clicked = Date.now();
      // the tapping viewer sees its taps at once
      await h.waitShown(a.page, 'likes', { value: SEED + N, timeout: 1000 });
      await h.waitShown(b.page, 'likes', { value: SEED + N, timeout: 3000 });
      const seenByB = Date.now() - clicked;
      console.log(`likes: ${N} clicks in A seen by B after ${seenByB} ms`);
      await lt.waitTotals(s, { likes: SEED + N, views: 2 }, { settle: 1000 });
      // past the 2 s window of optimistic taps, A shows the server's number, not more
      await h.sleep(2500);
      assert.equal((await h.readWidget(a.page)).likes.value, SEED + N, 'A after its taps aged out');
      assert.equal((await h.readWidget(b.page)).likes.value, SEED + N, 'B');

      // keyboard: the button takes focus (inside the shadow root); Enter and Space tap
      await like.focus();
      assert.equal(await a.page.evaluate(() => {
        const host = document.activeElement;
        return host && host.localName === 'livetally-widget' && host.shadowRoot.activeElement?.localName;
      }), 'button');
      await a.page.keyboard.press('Enter');
      await h.waitShown(a.page, 'likes', { value: SEED + N + 1, timeout: 1000 });
      await a.page.keyboard.press('Space');
      await h.waitShown(a.page, 'likes', { value: SEED + N + 2, timeout: 1000 });
      await h.waitShown(b.page, 'likes', { value: SEED + N + 2, timeout: 3000 });
      await lt.waitTotals(s, { likes: SEED + N + 2, views: 2 }, { settle: 1000 });
      await h.screenshot(a.page, 'likes-viewer-a');
      await h.screenshot(b.page, 'likes-viewer-b');
      a.console.check();
      b.console.check();
    } catch (e) {
      throw await b.console.failed(await a.console.failed(e));
    } finally {
      await a.context.close();
      await b.context.close();
    }
  });

  // Init script: every timer, interval and animation frame of the page is
  // tracked until it runs or is cleared, so that a test can see what is left.
  const TRACK_TIMERS = () => {
    const pending = window.__pending = new Map();
    const wrap = (set, clear, kind, once) => {
      const origSet = window[set], origClear = window[clear];
      window[set] = function (fn, ...rest) {
        const id = origSet.call(window, function (...a) {
          if (once) pending.delete(`${kind}:${id}`);
          return typeof fn === 'function' ? fn.apply(this, a) : undefined;
        }, ...rest);
        pending.set(`${kind}:${id}`, rest[0]);
        return id;
      };
      window[clear] = function (id) {
        pending.delete(`${kind}:${id}`);
        return origClear.call(window, id);
      };
    };
    wrap('setTimeout', 'clearTimeout', 'timeout', true);
    wrap('setInterval', 'clearInterval', 'interval', false);
    wrap('requestAnimationFrame', 'cancelAnimationFrame', 'frame', true);
  };

  test('removed from the page, the widget closes its WebSocket (online drops), sends its last taps and leaves no ' +
       'timer; put back, it connects again without a second view', { timeout: 45000 }, async () => {
    const s = h.uniq('br-teardown');
    const SEED = 20;
    await lt.addLikes(s, SEED);
    const url = origin.page(`/${s}.html`, h.widgetPage(lt, { stream: s, locale: 'en' }));
    const v = await viewer('teardown');
    await v.context.addInitScript(TRACK_TIMERS);
    try {
      const sockets = [];
      v.page.on('websocket', ws => sockets.push(ws));
      await v.page.goto(url);
      await h.waitShown(v.page, 'likes', { value: SEED });
      await lt.waitTotals(s, { views: 1, online: 1 }, { settle: 0 });
      await h.waitFor(() => sockets.length >= 1, { timeout: 3000, desc: 'the WebSocket' });
      assert.equal(sockets.length, 1);
      assert.ok(await v.page.evaluate(() => window.__pending.size) > 0, 'the timer tracking works (the probe timer)');

      // three quick taps: the first goes at once, two wait for the next
      // message (500 ms); they must not be lost with the widget
      const like = v.page.locator('livetally-widget button');
      for (let i = 0; i < 3; i++) await like.click();
      await v.page.evaluate(() => {
        window.__widget = document.querySelector('livetally-widget');
        window.__widget.remove();
      });
      await h.waitFor(() => sockets[0].isClosed(), { timeout: 3000, desc: 'the WebSocket closed' });
      await lt.waitTotals(s, { online: 0, likes: SEED + 3, views: 1 }, { timeout: 5000, settle: 500 });
      const left = await v.page.evaluate(() => ({
        pending: [...window.__pending.keys()],
        state: window.__widget.dataset.state
      }));
      assert.deepEqual(left.pending, [], 'timers, intervals or animation frames left running');
      assert.equal(left.state, 'stopped');

      // a move within the page is not a removal
      await v.page.evaluate(() => document.body.prepend(window.__widget));
      await h.waitShown(v.page, 'likes', { value: SEED + 3 });
      await lt.waitTotals(s, { online: 1, views: 1 }, { settle: 0 });
      // Playwright reports the socket to this process asynchronously: the
      // server can count it online before the 'websocket' event lands here.
      await h.waitFor(() => sockets.length >= 2, { timeout: 3000, desc: 'the new WebSocket' });
      assert.equal(sockets.length, 2, 'one new WebSocket');
      assert.ok(!sockets[1].url().includes('viewer='), `no second view: ${sockets[1].url()}`);
      await v.page.evaluate(() => document.querySelector('h1').after(window.__widget));
      await h.sleep(300);
      assert.equal(sockets.length, 2, 'moved: the same WebSocket');
      assert.ok(!sockets[1].isClosed(), 'moved: still open');
      const w = await h.readWidget(v.page);
      assert.deepEqual([w.state, w.transport], ['live', 'ws']);
      await like.click();
      await lt.waitTotals(s, { likes: SEED + 4, views: 1, online: 1 });
      v.console.check();
    } catch (e) {
      throw await v.console.failed(e);
    } finally {
      await v.context.close();
    }
  });

  test('the demo page (GET /demo?stream=) shows the widget with live numbers', { timeout: 30000 }, async () => {
    const s = h.uniq('br-demo');
    await lt.addLikes(s, 5);
    const v = await viewer('demo', { viewport: { width: 1100, height: 800 } });
    try {
      const r = await v.page.goto(lt.url(`/demo?stream=${s}`));
      assert.equal(r.status(), 200);
      await h.waitShown(v.page, 'likes', { text: '5', value: 5 });
      await lt.waitTotals(s, { views: 1, likes: 5 }, { settle: 0 });
      const page = await v.page.evaluate(() => ({
        title: document.title,
        origins: [...document.querySelectorAll('.origin')].map(e => e.textContent),
        links: [...document.querySelectorAll('.side a')].map(a => a.getAttribute('href'))
      }));
      assert.ok(page.title.includes(s), page.title);
      assert.ok(page.origins.length > 0 && page.origins.every(o => o === lt.origin), JSON.stringify(page.origins));
      assert.deepEqual(page.links, [`/v1/streams/${s}`, `/embed/${s}`]);
      await v.page.locator('livetally-widget button').click();
      await lt.waitTotals(s, { likes: 6, views: 1 });
      await h.waitShown(v.page, 'likes', { text: '6', value: 6 });
      await h.screenshot(v.page, 'demo');
      v.console.check();
    } catch (e) {
      throw await v.console.failed(e);
    } finally {
      await v.context.close();
    }
  });

  // A figure, not an assertion (this machine is shared and noisy): the
  // target (<= 300 ms on localhost) is checked by reading the printed line
  // and the artifact, as bench/README.md records it.
  test('time from script insertion to the first number shown (printed; target <= 300 ms on localhost)',
       { timeout: 45000 }, async () => {
    const s = h.uniq('br-first');
    await lt.addLikes(s, 42);
    // The page inserts the script itself and notes when a number first
    // appears in the shadow root (MutationObserver, and rAF as a fallback).
    const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>first number</title></head><body>
<div id="slot"></div>
<script>
(() => {
  const m = window.__lt = { t0: performance.now(), first: null };
  const hasNumber = () => {
    const host = document.querySelector('livetally-widget');
    const r = host && host.shadowRoot;
    return !!r && [...r.querySelectorAll('b')].some(b => /\\d/.test(b.textContent));
  };
  const done = () => {
    if (m.first === null && hasNumber()) {
      m.first = performance.now() - m.t0;
      const e = performance.getEntriesByType('resource').find(e => e.name.endsWith('/widget.js'));
      m.script = e ? e.responseEnd - m.t0 : null;
    }
  };
  let watched = null;
  new MutationObserver(() => {
    const host = document.querySelector('livetally-widget');
    if (host && host.shadowRoot && watched !== host.shadowRoot) {
      watched = host.shadowRoot;
      new MutationObserver(done).observe(watched, { subtree: true, childList: true, characterData: true });
    }
    done();
  }).observe(document.body, { subtree: true, childList: true });
  const raf = () => { done(); if (m.first === null) requestAnimationFrame(raf); };
  requestAnimationFrame(raf);
  const sc = document.createElement('script');
  sc.src = ${JSON.stringify(lt.url('/widget.js'))};
  sc.async = true;
  sc.dataset.stream = ${JSON.stringify(s)};
  sc.dataset.locale = 'en';
  sc.dataset.target = 'slot';
  document.body.append(sc);
})();
</script></body></html>`;
    const url = origin.page(`/${s}.html`, html);
    const runs = [];
    for (let i = 0; i < 5; i++) {
      const v = await viewer(`first number #${i + 1}`); // fresh: nothing cached
      try {
        await v.page.goto(url);
        const m = await v.page.waitForFunction(() => window.__lt.first !== null && window.__lt, null,
                                               { timeout: 10000 }).then(j => j.jsonValue());
        runs.push(m);
        assert.equal((await h.readWidget(v.page)).likes.value, 42);
        v.console.check();
      } catch (e) {
        throw await v.console.failed(e);
      } finally {
        await v.context.close();
      }
    }
    const firsts = runs.map(r => r.first).sort((x, y) => x - y);
    const median = firsts[Math.floor(firsts.length / 2)];
    const line = `first number after ${median.toFixed(1)} ms (median of ${runs.length} fresh loads on localhost; ` +
      `each: ${runs.map(r => r.first.toFixed(1)).join(', ')} ms; widget.js loaded after ` +
      `${runs.map(r => r.script === null ? '?' : r.script.toFixed(1)).join(', ')} ms)`;
    console.log(line);
    h.writeArtifact('first_number_ms.txt', `${median.toFixed(1)}\n${line}\n`);
  });

  test('GET /widget.js: gzip as served, the built (minified) file, under 8 KB, ETag revalidation', { timeout: 15000 }, async () => {
    const get = headers => new Promise((resolve, reject) => {
      const req = http.get(lt.url('/widget.js'), { headers, timeout: 5000 }, res => {
        const chunks = [];
        res.on('data', c => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });
    const file = fs.readFileSync(path.join(env.webRoot, 'widget.js'));
    const gz = await get({ 'Accept-Encoding': 'gzip' });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.match(gz.headers.vary || '', /accept-encoding/i);
    assert.ok(gz.headers.etag, 'an ETag');
    assert.ok(zlib.gunzipSync(gz.body).equals(file), 'gunzipped body = the built widget.js');
    const plain = await get({});
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.ok(plain.body.equals(file), 'identity body = the built widget.js');
    assert.ok(gz.body.length < 8192, `${gz.body.length} bytes gzipped: over 8 KB`);
    const again = await get({ 'Accept-Encoding': 'gzip', 'If-None-Match': gz.headers.etag });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    // the two variants are other bytes: other tags, none revalidates the other
    assert.ok(plain.headers.etag && plain.headers.etag !== gz.headers.etag,
              `ETags: plain ${plain.headers.etag}, gzip ${gz.headers.etag}`);
    assert.equal((await get({ 'If-None-Match': plain.headers.etag })).status, 304);
    assert.equal((await get({ 'If-None-Match': gz.headers.etag })).status, 200, 'plain with the gzip tag');
    assert.equal((await get({ 'Accept-Encoding': 'gzip', 'If-None-Match': plain.headers.etag })).status, 200,
                 'gzip with the plain tag');
    console.log(`/widget.js: ${gz.body.length} bytes gzipped as served, ${file.length} bytes plain`);
    h.writeArtifact('widget_gzip_bytes.txt', `${gz.body.length}\n`);
  });
});
