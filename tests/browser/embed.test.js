// /embed/{id} framed by a page of another origin: it may be framed, shows the
// numbers with the locale, style and theme of its query, likes work from
// inside the frame; without ?locale= it speaks the browser's language; its
// query values cannot inject markup. See README.md.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib/harness');

const env = h.environment();

h.suite('embed page in an iframe of another origin', env, {}, () => {
  let lt, origin, browser;
  h.fixture(env, 'embed', { workers: 1 }, f => ({ lt, origin, browser } = f));

  const framePage = (src, title) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font:16px system-ui,sans-serif;margin:16px}</style></head><body>
<h1>${title}</h1>
<iframe id="lt" src="${h.escapeAttr(src)}" title="livetally" style="border:0;width:560px;height:90px"></iframe>
<p>Text after the frame.</p></body></html>`;

  async function open(label, url, contextOptions = {}) {
    const context = await browser.newContext({ viewport: { width: 640, height: 240 }, ...contextOptions });
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    const embeds = [], dialogs = [];
    page.on('response', r => r.url().startsWith(lt.url('/embed/')) && embeds.push(r));
    page.on('dialog', d => {
      dialogs.push(d.message());
      d.dismiss().catch(() => {});
    });
    const watch = h.watchConsole(page, label);
    await page.goto(url);
    const frame = await h.waitFor(() => page.frames().find(f => f.url().startsWith(lt.url('/embed/'))),
                                  { timeout: 5000, desc: 'the embed frame' });
    return { context, page, frame, embeds, dialogs, console: watch };
  }

  test('zh-CN compact dark: the frame loads, shows numbers, and a like from inside it counts', { timeout: 30000 },
       async () => {
    const s = h.uniq('br-embed');
    await lt.addLikes(s, 12345);
    const src = lt.url(`/embed/${s}?locale=zh-CN&style=compact&theme=dark`);
    const url = origin.page(`/${s}.html`, framePage(src, 'a partner page with an iframe'));
    const v = await open('embed zh-CN', url);
    try {
      // it may be framed by anyone
      assert.equal(v.embeds.length, 1);
      assert.equal(v.embeds[0].status(), 200);
      const hd = await v.embeds[0].allHeaders();
      assert.equal(hd['x-frame-options'], undefined, 'no X-Frame-Options');
      assert.match(hd['content-security-policy'] || '', /frame-ancestors \*/);
      await h.waitShown(v.frame, 'likes', { text: '1.2万', value: 12345 });
      await h.waitShown(v.frame, 'views', { text: '1', value: 1 });
      const w = await h.readWidget(v.frame);
      assert.deepEqual([w.views.label, w.likes.label, w.online.label], ['观看', '点赞', '在线']);
      assert.equal(w.theme, 'dark');
      assert.equal(w.background, 'rgb(29, 29, 34)');
      assert.equal(w.transport, 'ws');
      // the frame is really on screen, not collapsed
      const box = await v.page.locator('#lt').boundingBox();
      const inner = await v.frame.locator('livetally-widget').boundingBox();
      assert.ok(box && inner && inner.height > 20 && inner.width > 200, JSON.stringify({ box, inner }));

      await v.page.frameLocator('#lt').locator('livetally-widget button').click();
      await h.waitShown(v.frame, 'likes', { value: 12346, timeout: 1000 });
      await lt.waitTotals(s, { likes: 12346, views: 1, 'sources.direct.views': 1, 'sources.direct.likes': 12346 });
      await h.sleep(2200); // past the optimistic window: the server's number stays
      assert.equal((await h.readWidget(v.frame)).likes.value, 12346);
      await h.screenshot(v.page, 'embed-iframe-zh-dark');
      v.console.check();
    } catch (e) {
      throw await v.console.failed(e);
    } finally {
      await v.context.close();
    }
  });

  test('without ?locale= the frame speaks the browser\'s language; ?source= names the source', { timeout: 30000 },
       async () => {
    const s = h.uniq('br-embed-lang');
    await lt.addLikes(s, 1234);
    const url = origin.page(`/${s}.html`, framePage(lt.url(`/embed/${s}?source=partner-a`), 'browser language'));
    const zh = await open('embed zh browser', url, { locale: 'zh-CN' });
    try {
      await h.waitShown(zh.frame, 'likes', { text: '1234', value: 1234 }); // zh-CN floor: below 1万
      const w = await h.readWidget(zh.frame);
      assert.equal(w.likes.label, '点赞');
      assert.equal(w.theme, 'auto');
      await h.screenshot(zh.page, 'embed-iframe-browser-zh');
      zh.console.check();
    } catch (e) {
      throw await zh.console.failed(e);
    } finally {
      await zh.context.close();
    }
    const en = await open('embed en browser', url, { locale: 'en-US' });
    try {
      await h.waitShown(en.frame, 'likes', { text: '1K+', value: 1234 });
      assert.equal((await h.readWidget(en.frame)).likes.label, 'likes');
      await h.screenshot(en.page, 'embed-iframe-browser-en');
      en.console.check();
    } catch (e) {
      throw await en.console.failed(e);
    } finally {
      await en.context.close();
    }
    // two browsers, two viewers, both under ?source=
    await lt.waitTotals(s, { views: 2, 'sources.partner-a.views': 2 });
  });

  test('query values are escaped: no markup or script gets into the embed page', { timeout: 30000 }, async () => {
    const s = h.uniq('br-embed-xss');
    await lt.addLikes(s, 3);
    const bad = '"><img src=x onerror="alert(1)"><script>alert(2)</script>';
    const src = lt.url(`/embed/${s}?theme=${encodeURIComponent(bad)}&locale=${encodeURIComponent(bad)}`);
    const url = origin.page(`/${s}.html`, framePage(src, 'hostile query'));
    const v = await open('embed escaping', url);
    try {
      await h.waitShown(v.frame, 'likes', { text: '3', value: 3 });
      const found = await v.frame.evaluate(() => ({
        imgs: document.querySelectorAll('img').length,
        scripts: document.querySelectorAll('script').length,
        widgets: document.querySelectorAll('livetally-widget').length
      }));
      assert.deepEqual(found, { imgs: 0, scripts: 1, widgets: 1 });
      assert.deepEqual(v.dialogs, []);
      assert.equal((await h.readWidget(v.frame)).theme, 'auto');
      v.console.check();
    } catch (e) {
      throw await v.console.failed(e);
    } finally {
      await v.context.close();
    }
  });
});
