// Numbers and times as the dashboard shows them.
//
// formatCount is the display rule of the API's `display` field and of the
// widget (web/widget.js, src/core/display.c), ported as it is: all three pass
// tests/display_vectors.json (tests/web/dashboard_format.test.mjs runs them
// on this file). Digits are cut, never rounded up.

const UNITS = { // biggest first
  en: [[1e9, 'B'], [1e6, 'M'], [1e3, 'K']],
  'zh-CN': [[1e8, '亿'], [1e4, '万']],
  'zh-CN-W': [[1e8, '亿'], [1e4, 'W']]
};

// zh, zh-Hans-CN, zh_SG... -> zh-CN; zh-CN-W is ours (never given to Intl).
export function resolveLocale(tag) {
  const t = String(tag || '').toLowerCase();
  if (t === 'zh-cn-w') return 'zh-CN-W';
  if (t === 'zh' || /^zh[-_]/.test(t)) return 'zh-CN';
  return 'en';
}

// 'compact' 1299 -> 1.2K, 'floor' (the default) -> 1K+.
export function formatCount(value, locale, style) {
  const n = Math.floor(+value || 0);
  const unit = UNITS[resolveLocale(locale)].find(([size]) => n >= size);
  if (!unit) return String(n);
  const [size, suffix] = unit;
  const whole = Math.floor(n / size);
  const rest = n - whole * size;
  if (style !== 'compact') return whole + suffix + (rest ? '+' : '');
  const tenth = Math.floor(rest / (size / 10));
  return whole + (tenth ? '.' + tenth : '') + suffix;
}

// The exact number with the locale's digit grouping: 203411 -> "203,411".
export function formatExact(value, lang) {
  const n = Math.floor(+value || 0);
  try {
    return new Intl.NumberFormat(lang === 'zh' ? 'zh-CN' : 'en-US').format(n);
  } catch (e) {
    return String(n);
  }
}

// The operator's timezone, as the browser knows it ("Asia/Shanghai").
export function timeZoneName() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch (e) {
    return 'UTC';
  }
}

// A date-time (Date, epoch ms or RFC 3339) in the operator's timezone.
export function formatTime(when, lang, { seconds = false, date = true } = {}) {
  if (when === null || when === undefined || when === '') return '–';
  const d = when instanceof Date ? when : new Date(when);
  if (isNaN(d.getTime())) return '–';
  const opts = { hour: '2-digit', minute: '2-digit', hour12: false };
  if (seconds) opts.second = '2-digit';
  if (date) Object.assign(opts, { year: 'numeric', month: '2-digit', day: '2-digit' });
  return new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', opts).format(d);
}

// Seconds as "1:05:07" / "5:07": time since a stream's start.
export function formatOffset(s) {
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
  const two = x => String(x).padStart(2, '0');
  return h ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`;
}
