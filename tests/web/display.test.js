// The widget's display formats against the shared vectors (the C side reads
// the same file in tests/unit/test_display.c). Run: node --test tests/web/
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');

// The readable source, or the file LT_WIDGET names (ctest runs these on the minified
// build/web/widget.js too).
const WIDGET = process.env.LT_WIDGET || path.join(__dirname, '../../web/widget.js');

const { formatCount, resolveLocale } = require(WIDGET);
const vectors = JSON.parse(fs.readFileSync(path.join(__dirname, '../display_vectors.json'), 'utf8'));

test('every display vector', () => {
  assert.ok(vectors.cases.length > 0);
  for (const [locale, style, n, want] of vectors.cases)
    assert.equal(formatCount(n, locale, style), want, `${locale} ${style} ${n}`);
});

test('every locale vector', () => {
  assert.ok(vectors.locales.length > 0);
  for (const [tag, want] of vectors.locales)
    assert.equal(resolveLocale(tag), want, `"${tag}"`);
});

test('floor is the default style, and unknown styles are floor', () => {
  assert.equal(formatCount(203411, 'zh-CN'), '20万+');
  assert.equal(formatCount(203411, 'zh-CN', 'nonsense'), '20万+');
  assert.equal(formatCount(1234, 'en', undefined), '1K+');
});

test('locale tags are resolved inside formatCount too', () => {
  assert.equal(formatCount(12345, 'zh-Hans-CN', 'compact'), '1.2万');
  assert.equal(formatCount(203411, 'ZH-cn-w', 'floor'), '20W+');
  assert.equal(formatCount(1234, 'fr', 'compact'), '1.2K');
  assert.equal(formatCount(1234, undefined, 'compact'), '1.2K');
});

test('the zh-CN-W tag never reaches Intl', () => {
  const saved = Intl.NumberFormat;
  Intl.NumberFormat = function () { throw new Error('Intl used'); };
  try {
    assert.equal(formatCount(203411, 'zh-CN-W', 'compact'), '20.3W');
    assert.equal(formatCount(203411, 'zh-CN', 'compact'), '20.3万');
  } finally {
    Intl.NumberFormat = saved;
  }
});

test('never rounds up at unit edges', () => {
  for (const [locale, size] of [['en', 1e3], ['en', 1e6], ['en', 1e9], ['zh-CN', 1e4], ['zh-CN', 1e8]]) {
    const below = formatCount(size - 1, locale, 'compact');
    assert.ok(!/^1[^0-9.]/.test(below) || size === 1e3 && locale === 'en' && below === '999', `${locale} ${size - 1} -> ${below}`);
  }
  assert.equal(formatCount(1999, 'en', 'compact'), '1.9K');
  assert.equal(formatCount(1999, 'en', 'floor'), '1K+');
});

test('odd inputs do not throw', () => {
  assert.equal(formatCount(0, 'en', 'floor'), '0');
  assert.equal(formatCount(-5, 'en', 'floor'), '-5');
  assert.equal(formatCount(undefined, 'en', 'floor'), '0');
  assert.equal(formatCount('1500', 'en', 'compact'), '1.5K');
});
