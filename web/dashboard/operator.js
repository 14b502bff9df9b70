// The server's own figures, for operators only (GET /v1/operator/status):
// taps dropped by the like budgets, rejected events, connections per
// worker, Redis' state and the spool backlog; refreshed every few seconds.
// On a server without the endpoint the panel says so and stops asking.

import { api } from './api.js';
import { el, clear, notice } from './dom.js';
import { t, currentLang } from './i18n.js';
import { formatExact, formatTime } from './format.js';

const REFRESH_MS = 5000;

export function renderOperatorPanel(parent, ctx) {
  const body = el('div', { id: 'figures-body' }, notice(t('loading')));
  const section = el('section', { id: 'figures', 'aria-labelledby': 'figures-title' },
    el('h2', { id: 'figures-title' }, t('operator')),
    el('p', { class: 'help' }, t('operatorHelp')), body);
  parent.append(section);
  let timer = 0, stopped = false;

  async function refresh() {
    try {
      const s = await api.operatorStatus();
      if (stopped) return;
      clear(body).append(...figures(s));
      timer = setTimeout(refresh, REFRESH_MS);
    } catch (e) {
      if (stopped) return;
      if (e.status === 401) return ctx.unauthorized(e);
      if (e.missing) {
        clear(body).append(notice(t('notAvailable', { what: t('operator') }), 'warn'));
        body.dataset.missing = 'true';
        return;
      }
      clear(body).append(notice(t('failed', { what: t('operator'), message: e.message }), 'error'));
      timer = setTimeout(refresh, REFRESH_MS);
    }
  }
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function figures(s) {
  const lang = currentLang();
  const n = v => formatExact(v, lang);
  const redis = s.redis || {};
  const fig = (key, id, value) => el('div', {}, el('dt', {}, t(key)), el('dd', { id, dataset: { value: String(value ?? '') } },
    typeof value === 'number' ? n(value) : String(value ?? '–')));
  const list = el('dl', { class: 'figures' },
    fig('tapsDropped', 'fig-dropped', s.likes && s.likes.dropped),
    fig('eventsRejected', 'fig-rejected', s.events && s.events.rejected),
    fig('eventsAccepted', 'fig-accepted', s.events && s.events.accepted),
    fig('likesAccepted', 'fig-likes', s.likes && s.likes.accepted),
    fig('redisState', 'fig-redis', redis.connected ? t('connected') : t('disconnected')),
    fig('backlog', 'fig-backlog', redis.backlog_entries),
    fig('dirty', 'fig-dirty', redis.streams_dirty),
    fig('instance', 'fig-instance', s.instance));
  const rows = (s.workers || []).map(w => el('tr', {},
    el('td', { class: 'num' }, String(w.index)), el('td', { class: 'num' }, String(w.pid)),
    el('td', { class: 'num' }, n(w.connections)), el('td', { class: 'num' }, n(w.ws)),
    el('td', { class: 'num' }, n(w.sse)), el('td', { class: 'num' }, n(w.backlog_entries)),
    el('td', {}, w.redis_connected ? t('connected') : t('disconnected'))));
  const table = el('div', { class: 'table-wrap' }, el('table', { id: 'workers' },
    el('caption', {}, t('connections')),
    el('thead', {}, el('tr', {}, ...['worker', 'pid', 'connections', 'ws', 'sse', 'backlog', 'redis']
      .map(k => el('th', { scope: 'col', class: k === 'redis' ? '' : 'num' }, t(k))))),
    el('tbody', {}, rows)));
  return [list, table, el('p', { class: 'meta' }, `${t('generated')} ${formatTime(s.generated_at, lang, { seconds: true })}`)];
}
