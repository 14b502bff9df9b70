// The widget recovers after livetally restarts on the same port: at once
// (a quick restart) and after a few seconds of outage, it gets live totals
// again within its backoff, without counting its view again. See README.md.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib/harness');

const env = h.environment();

h.suite('widget across a livetally restart', env, {}, () => {
  let lt, origin, browser;
  h.fixture(env, 'restart', { workers: 1 }, f => ({ lt, origin, browser } = f), { checkExit: false });

  test('after SIGTERM and a start on the same port, the widget shows new totals within its backoff',
       { timeout: 110000 }, async () => {
    const s = h.uniq('br-restart');
    const SEED = 10, STEP = 25, BACKOFF_MAX = 35000;
    await lt.addLikes(s, SEED);
    const url = origin.page(`/${s}.html`, h.widgetPage(lt, { stream: s, locale: 'en' }));
    const context = await browser.newContext({ viewport: { width: 640, height: 240 } });
    const page = await context.newPage();
    const watch = h.watchConsole(page, 'restart');
    const sockets = [];
    page.on('websocket', ws => sockets.push(ws.url()));
    try {
      await page.goto(url);
      await h.waitShown(page, 'likes', { value: SEED });
      await h.waitShown(page, 'views', { value: 1 });
      assert.equal((await h.readWidget(page)).transport, 'ws');
      await lt.waitTotals(s, { views: 1, likes: SEED }, { settle: 0 });

      const rounds = [];
      let likes = SEED;
      for (const [round, outageMs] of [[1, 0], [2, 3000]]) {
        const stop = await lt.stop();
        assert.equal(stop.code, 0, `round ${round}: livetally's exit on SIGTERM ${JSON.stringify(stop)}\n${lt.stderr()}`);
        const down = Date.now();
        if (outageMs) {
          await h.sleep(outageMs);
          // meanwhile the widget says it is waiting (dimmed numbers), keeping the last ones
          const w = await h.readWidget(page);
          assert.match(w.state, /^(waiting|connecting)$/, `round ${round}: state during the outage`);
          assert.equal(w.likes.value, likes, `round ${round}: likes kept during the outage`);
          await h.screenshot(page, 'restart-outage');
        }
        await lt.restartOnSamePort();
        const up = Date.now();
        likes += STEP;
        await lt.addLikes(s, STEP);
        await h.waitShown(page, 'likes', { value: likes, timeout: BACKOFF_MAX });
        const w = await h.readWidget(page);
        const r = { round, outage_ms: up - down, shown_after_restart_ms: Date.now() - up, transport: w.transport,
                    state: w.state };
        rounds.push(r);
        console.log(`restart round ${round}: down ${r.outage_ms} ms; new likes shown ${r.shown_after_restart_ms} ms ` +
                    `after the ready line, over ${r.transport}`);
        assert.equal(w.state, 'live');
        // live again, not just one fetch: a later change is pushed too
        likes += 1;
        await lt.addLikes(s, 1);
        await h.waitShown(page, 'likes', { value: likes, timeout: w.transport === 'poll' ? 7000 : 3000 });
        // its view was counted once, at start, not at each reconnection
        await lt.waitTotals(s, { views: 1, likes }, { settle: 300 });
      }
      // the like button works on the new server
      await page.locator('livetally-widget button').click();
      likes += 1;
      await lt.waitTotals(s, { likes, views: 1 }, { settle: 500 });
      await h.screenshot(page, 'restart-recovered');
      h.writeArtifact('restart.json', JSON.stringify(rounds, null, 2) + '\n');
      // only the connection failures this test provokes, towards livetally
      const allowed = watch.check(h.networkErrorsOf(lt));
      if (allowed.length) console.log(`restart: ${allowed.length} expected network errors in the console, e.g. ${allowed[0].text}`);
      console.log(`restart: WebSockets opened: ${sockets.length}`);
    } catch (e) {
      throw await watch.failed(e);
    } finally {
      await context.close();
    }
  });
});
