// The like ledger: optimistic taps, drops, server totals; and the backoff.
// Run: node --test tests/web/
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

// The readable source, or the file LT_WIDGET names (ctest runs these on the minified
// build/web/widget.js too).
const WIDGET = process.env.LT_WIDGET || path.join(__dirname, '../../web/widget.js');

const { LikeLedger, backoffDelay } = require(WIDGET);
const WIN = 2000;

test('a tap shows at once, and once the server has it, it is not counted twice', () => {
  const l = new LikeLedger(WIN);
  assert.equal(l.serverTotal(100, 0), 100);
  l.tap(10);
  assert.equal(l.shown(10), 101);
  assert.equal(l.take(50), 1);
  assert.equal(l.serverTotal(101, 300), 101);
  assert.equal(l.shown(5000), 101);
});

test('taps are handed out at most max at a time', () => {
  const l = new LikeLedger(WIN);
  l.serverTotal(0, 0);
  for (let i = 0; i < 120; i++) l.tap(1);
  assert.equal(l.take(50), 50);
  assert.equal(l.take(50), 50);
  assert.equal(l.take(50), 20);
  assert.equal(l.take(50), 0);
  assert.equal(l.shown(2), 120);
});

test('dropped taps are taken back', () => {
  const l = new LikeLedger(WIN);
  l.serverTotal(10, 0);
  for (let i = 0; i < 8; i++) l.tap(100);
  assert.equal(l.shown(100), 18);
  l.take(50);
  l.dropped(5);
  assert.equal(l.shown(200), 13);
  assert.equal(l.serverTotal(13, 400), 13);
  assert.equal(l.shown(5000), 13);
});

test('a drop notice never takes back more than was sent', () => {
  const l = new LikeLedger(WIN);
  l.serverTotal(0, 0);
  l.tap(1); l.tap(2); l.tap(3);
  l.take(2);
  l.dropped(50);
  assert.equal(l.shown(4), 1); // the unsent tap stays
  l.dropped(undefined);
  assert.equal(l.shown(4), 1);
});

test('an older (lower) server total never moves the count back', () => {
  const l = new LikeLedger(WIN);
  assert.equal(l.serverTotal(500, 0), 500);
  assert.equal(l.serverTotal(480, 10), 500);
  l.tap(20);
  l.take(50);
  assert.equal(l.serverTotal(490, 30), 501);
});

test('other viewers\' likes arriving first do not make own taps count twice or go backwards', () => {
  const l = new LikeLedger(WIN);
  l.serverTotal(100, 0);
  l.tap(10); l.tap(20); l.tap(30);
  l.take(50);
  assert.equal(l.shown(40), 103);
  // +2 from others, ours not in yet: may look like 2 of ours; never below 103
  assert.ok(l.serverTotal(102, 200) >= 103);
  // now ours are in as well
  assert.equal(l.serverTotal(105, 400), 105);
});

test('a tap the server never reflects stops being shown after the window', () => {
  const l = new LikeLedger(WIN);
  l.serverTotal(7, 0);
  l.tap(1000);
  l.take(50);
  assert.equal(l.shown(2999), 8);
  assert.equal(l.expiry(), 3000);
  assert.equal(l.shown(3000), 7);
  assert.equal(l.expiry(), 0);
  // it arrives late after all: shown again through the server total
  assert.equal(l.serverTotal(8, 3500), 8);
});

test('before any server total, taps show on top of zero', () => {
  const l = new LikeLedger(WIN);
  l.tap(0); l.tap(1);
  assert.equal(l.shown(2), 2);
  l.take(50);
  // the first total is taken as it is (it may or may not include the taps)
  assert.equal(l.serverTotal(40, 3), 42);
});

// Random runs: the two rules of the issue hold at every step.
//  - never above the highest server total + own taps of the last 2 s;
//  - never backwards, except that own taps are taken back: by a drop notice,
//    or by aging out of the 2 s unreflected, and by no more than those taps.
test('random runs keep both rules', () => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const inWindow = (taps, now) => taps.filter(t => t > now - WIN).length;
  let checked = 0;
  for (let run = 0; run < 300; run++) {
    const l = new LikeLedger(WIN);
    const taps = [];  // times of every tap
    const queue = []; // [arrival time, n]: sent taps travelling to the server
    let now = 0, trueTotal = 1000, maxServer = -1, lastPush = -1, prev = l.shown(0), prevNow = 0;
    for (let step = 0; step < 400; step++) {
      now += Math.floor(rnd() * 200);
      // between steps only aging can lower the count
      const before = l.shown(now);
      const agedOut = inWindow(taps, prevNow) - inWindow(taps, now);
      assert.ok(prev - before <= agedOut, `run ${run} step ${step}: ${prev} -> ${before} with ${agedOut} aged out`);
      let tookBack = 0;
      const r = rnd();
      if (r < 0.35) {
        l.tap(now);
        taps.push(now);
      } else if (r < 0.5) {
        const n = l.take(50);
        if (n) {
          // the server drops some (rate limit) and counts the rest a bit later
          const dropped = rnd() < 0.2 ? Math.floor(rnd() * (n + 1)) : 0;
          if (dropped) l.dropped(dropped), tookBack = dropped;
          queue.push([now + Math.floor(rnd() * 1500), n - dropped]);
        }
      } else if (r < 0.65) {
        trueTotal += Math.floor(rnd() * 5); // other viewers
      } else {
        // the server applies what has arrived and pushes; now and then an old total
        while (queue.length && queue[0][0] <= now) trueTotal += queue.shift()[1];
        const pushed = rnd() < 0.1 && lastPush >= 0 ? lastPush : trueTotal;
        lastPush = trueTotal;
        maxServer = Math.max(maxServer, pushed);
        l.serverTotal(pushed, now);
      }
      const shown = l.shown(now);
      assert.ok(shown >= before - tookBack, `run ${run} step ${step}: ${before} -> ${shown}, took back ${tookBack}`);
      if (maxServer >= 0) {
        const recent = inWindow(taps, now);
        assert.ok(shown <= maxServer + recent, `run ${run} step ${step}: ${shown} > ${maxServer} + ${recent}`);
        checked++;
      }
      prev = shown;
      prevNow = now;
    }
    // once everything arrived and was pushed, the count is the server's
    trueTotal += queue.reduce((a, q) => a + q[1], 0);
    assert.equal(l.serverTotal(trueTotal, now + 10 * WIN), trueTotal);
  }
  assert.ok(checked > 10000);
});

test('backoff: full jitter up to min(30 s, 1 s * 2^attempt); after 1013 at least 10 s, spread wider', () => {
  for (let a = 0; a < 12; a++) {
    const cap = Math.min(30000, 1000 * 2 ** a);
    assert.equal(backoffDelay(a, 1006, () => 0), 0);
    assert.equal(backoffDelay(a, 1006, () => 0.999999), 0.999999 * cap);
    assert.equal(backoffDelay(a, 1001, () => 0.5), 0.5 * cap);
    assert.equal(backoffDelay(a, 1013, () => 0), 10000);
    assert.ok(backoffDelay(a, 1013, () => 0.999999) < 40000);
  }
  assert.ok(backoffDelay(0, 1013, () => 0.999) > 17000); // a crowd refused at once spreads over 8 s
  assert.ok(backoffDelay(20, 0, () => 0.99) < 30000);
});

test('a crowd that loses its server comes back spread out, not at once', () => {
  // 10,000 widgets, first retry after a restart: count arrivals per 100 ms
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const buckets = new Array(40).fill(0);
  for (let i = 0; i < 10000; i++) buckets[Math.floor(backoffDelay(2, 1001, rnd) / 100)]++;
  assert.ok(Math.max(...buckets) < 400, `peak ${Math.max(...buckets)} per 100 ms`);
});
