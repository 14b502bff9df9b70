// The dashboard's display formats (web/dashboard/format.js, an ES module)
// against the same shared vectors as the widget and the C side
// (tests/display_vectors.json). Run: node --test tests/web/
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { formatCount, resolveLocale, formatOffset } = await import(path.join(here, '../../web/dashboard/format.js'));
const vectors = JSON.parse(fs.readFileSync(path.join(here, '../display_vectors.json'), 'utf8'));

test('dashboard: every display vector', () => {
  assert.ok(vectors.cases.length > 0);
  for (const [locale, style, n, want] of vectors.cases)
    assert.equal(formatCount(n, locale, style), want, `${locale} ${style} ${n}`);
});

test('dashboard: every locale vector', () => {
  assert.ok(vectors.locales.length > 0);
  for (const [tag, want] of vectors.locales)
    assert.equal(resolveLocale(tag), want, `"${tag}"`);
});

test('dashboard: floor is the default style and digits are cut', () => {
  assert.equal(formatCount(203411, 'zh-CN'), '20万+');
  assert.equal(formatCount(1999, 'en', 'compact'), '1.9K');
  assert.equal(formatCount(99999999, 'zh-CN', 'compact'), '9999.9万');
});

test('dashboard: time since start', () => {
  assert.equal(formatOffset(0), '0:00');
  assert.equal(formatOffset(307), '5:07');
  assert.equal(formatOffset(3907), '1:05:07');
});
