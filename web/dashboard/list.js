// Every stream: live first, then scheduled, then ended (each group in the
// API's order, newest first), with live numbers over the one WebSocket; and
// the server's figures below.

import { api } from './api.js';
import { el, clear, notice, setText } from './dom.js';
import { t, statusWord, currentLang, displayLocale } from './i18n.js';
import { formatCount, formatExact } from './format.js';
import { renderOperatorPanel } from './operator.js';

const ORDER = ['live', 'scheduled', 'ended'];

export function groupStreams(streams) {
  const groups = { live: [], scheduled: [], ended: [] };
  for (const s of streams) (groups[s.status] || groups.live).push(s);
  return ORDER.map(status => ({ status, streams: groups[status] }));
}

// The display form, or '' where it is the number itself (below 1K / 1万).
export function shortForm(value) {
  const disp = formatCount(value, displayLocale());
  return disp === String(Math.floor(+value || 0)) ? '' : disp;
}

// "203,411" with "20万+" beside it, in one cell.
export function numberCell(value, extra = {}) {
  const lang = currentLang();
  return el('td', { class: 'num', ...extra },
    el('span', { class: 'exact', dataset: { value: String(value || 0) } }, formatExact(value, lang)),
    el('span', { class: 'disp' }, shortForm(value)));
}

function setNumber(td, value) {
  const exact = td.querySelector('.exact');
  exact.dataset.value = String(value || 0);
  setText(exact, formatExact(value, currentLang()));
  setText(td.querySelector('.disp'), shortForm(value));
}

export function renderList(main, ctx) {
  const body = el('div', { id: 'streams-body' }, notice(t('loading')));
  main.append(el('h1', {}, t('streams')), body);
  const stopFigures = renderOperatorPanel(main, ctx);
  const unwatch = [];
  let reloadTimer = 0, stopped = false;

  function scheduleReload() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, 300);
  }

  async function load() {
    let streams;
    try {
      streams = await api.allStreams();
    } catch (e) {
      if (!stopped) clear(body).append(notice(t('failed', { what: t('streams'), message: e.message }), 'error'));
      return;
    }
    if (stopped) return;
    for (const u of unwatch.splice(0)) u();
    clear(body);
    if (!streams.length) {
      body.append(notice(t('noStreams')));
      return;
    }
    for (const g of groupStreams(streams)) {
      if (!g.streams.length) continue;
      const caption = { live: 'groupLive', scheduled: 'groupScheduled', ended: 'groupEnded' }[g.status];
      const rows = g.streams.map(s => row(s));
      body.append(el('div', { class: 'table-wrap' }, el('table', { class: 'streams', dataset: { group: g.status } },
        el('caption', {}, `${t(caption)} (${g.streams.length})`),
        el('thead', {}, el('tr', {},
          el('th', { scope: 'col' }, t('title')),
          el('th', { scope: 'col', class: 'hide-narrow' }, t('series')),
          el('th', { scope: 'col' }, t('status')),
          el('th', { scope: 'col', class: 'num' }, t('views')),
          el('th', { scope: 'col', class: 'num' }, t('likes')),
          el('th', { scope: 'col', class: 'num' }, t('online')))),
        el('tbody', {}, rows))));
    }
  }

  function row(s) {
    const views = numberCell(s.views, { 'data-label': t('views') });
    const likes = numberCell(s.likes, { 'data-label': t('likes') });
    const online = numberCell(s.online, { 'data-label': t('online') });
    const status = el('span', { class: `badge ${s.status}` }, statusWord(s.status));
    const tr = el('tr', { dataset: { stream: s.stream, status: s.status } },
      el('td', { class: 'title-cell' },
        el('a', { href: `#/stream/${encodeURIComponent(s.stream)}` }, s.title || s.stream),
        el('div', { class: 'meta' }, s.stream)),
      el('td', { class: 'hide-narrow' }, s.series
        ? el('a', { href: `#/series/${encodeURIComponent(s.series)}` }, s.series) : '–'),
      el('td', { class: 'status-cell' }, status), views, likes, online);
    unwatch.push(ctx.live.watch(s.stream, m => {
      if (m.type === 'totals') {
        setNumber(views, m.views);
        setNumber(likes, m.likes);
        setNumber(online, m.online);
      } else if (m.type === 'status' || m.type === 'deleted') {
        scheduleReload(); // the stream moves to another group, or goes
      }
    }));
    return tr;
  }

  load();
  return () => {
    stopped = true;
    clearTimeout(reloadTimer);
    stopFigures();
    for (const u of unwatch.splice(0)) u();
  };
}
