// The end-of-event report's HTML form (GET /v1/streams/{id}/report?format=html)
// in headless Chromium: it opens with no console error, has no script, shows
// the exact figures with their display form and the per-minute chart as
// inline SVG, its words in Chinese; a screenshot is kept (report-zh-CN.png). See README.md.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib/harness');

const env = h.environment();

h.suite('end-of-event report as HTML', env, {}, () => {
  let lt, browser;
  h.fixture(env, 'report', { workers: 1, likes: { per_client_burst: 1000000 } }, f => ({ lt, browser } = f));

  test('zh-CN in Asia/Shanghai: opens without console errors, figures and chart shown', { timeout: 30000 },
       async () => {
    const s = h.uniq('br-report');
    await lt.addLikes(s, 12345);
    const views = [];
    for (let i = 0; i < 12; i++) views.push({ type: 'view', viewer: `report-viewer-${String(i).padStart(4, '0')}` });
    await lt.postEvents(s, views);
    await lt.waitTotals(s, { views: 12, likes: 12345 });
    const context = await browser.newContext({ viewport: { width: 820, height: 1000 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    const watch = h.watchConsole(page, 'report zh-CN');
    try {
      const res = await page.goto(lt.url(`/v1/streams/${s}/report?format=html&locale=zh-CN&tz=Asia/Shanghai`));
      assert.equal(res.status(), 200);
      const hdrs = await res.allHeaders();
      assert.match(hdrs['content-type'], /^text\/html/);
      assert.match(hdrs['repr-digest'], /^sha-256=:[A-Za-z0-9+/]{43}=:$/);
      const seen = await page.evaluate(() => ({
        scripts: document.scripts.length,
        lang: document.documentElement.lang,
        text: document.body.innerText,
        svg: document.querySelectorAll('svg.chart rect').length,
        svgBox: (() => {
          const b = document.querySelector('svg.chart').getBoundingClientRect();
          return [b.width, b.height];
        })()
      }));
      assert.equal(seen.scripts, 0, 'the report needs no JavaScript');
      assert.ok(seen.text.includes('12,345 (1万+)'), seen.text.slice(0, 400));
      assert.ok(seen.svg >= 2, 'the per-minute charts are inline SVG with bars');
      assert.ok(seen.svgBox[0] > 300 && seen.svgBox[1] > 100, `chart size ${seen.svgBox}`);
      assert.ok(seen.text.includes('+08:00'), 'times in the asked zone');
      assert.equal(seen.lang, 'zh-CN');
      assert.ok(seen.text.includes('总计') && seen.text.includes('统计方法'), 'the words in Chinese');
      assert.ok(!seen.text.includes('Totals') && !seen.text.includes('Counting method'),
                'no English heading in a zh-CN report');
      await h.screenshot(page, 'report-zh-CN');
      watch.check();
    } catch (e) {
      throw await watch.failed(e);
    } finally {
      await context.close();
    }
  });
});
