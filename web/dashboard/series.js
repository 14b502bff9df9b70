// A series: its totals, its streams (links to their pages), and a chart of
// one metric per stream, lined up by time since each stream's start
// (GET /v1/series/{id}/timeseries: x is the offset in seconds, one column
// per stream, null where a stream has not got that far).

import { api } from './api.js';
import { el, clear, notice } from './dom.js';
import { t, statusWord, currentLang } from './i18n.js';
import { formatTime } from './format.js';
import { comparisonChart } from './charts.js';
import { numberCell } from './list.js';

const METRICS = ['views', 'likes', 'online', 'uniques'];

export function renderSeries(main, id, ctx) {
  const lang = currentLang();
  let stopped = false, chart = null;
  const body = el('div', { id: 'series-body' }, notice(t('loading')));
  const metric = el('select', { id: 'series-metric' }, METRICS.map(m => el('option', { value: m }, t(m))));
  const chartBox = el('div', { class: 'chart-box', id: 'series-chart' });
  const chartMsg = el('div', { id: 'series-chart-message' });
  main.append(
    el('p', {}, el('a', { href: '#/' }, `← ${t('back')}`)),
    el('h1', {}, `${t('series')}: ${id}`),
    body,
    el('section', { 'aria-labelledby': 'compare-title' },
      el('h2', { id: 'compare-title' }, t('compare')),
      el('div', { class: 'bar' }, el('label', { for: 'series-metric' }, t('metric')), metric),
      el('div', { class: 'chart' }, chartBox), chartMsg));

  async function loadTotals() {
    try {
      const s = await api.series(id);
      if (stopped) return;
      const rows = (s.streams || []).map(x => el('tr', { dataset: { stream: x.stream } },
        el('td', { class: 'title-cell' }, el('a', { href: `#/stream/${encodeURIComponent(x.stream)}` }, x.title || x.stream),
          el('div', { class: 'meta' }, x.stream)),
        el('td', {}, el('span', { class: `badge ${x.status}` }, statusWord(x.status))),
        el('td', { class: 'hide-narrow' }, formatTime(x.starts_at || x.created_at, lang)),
        numberCell(x.views), numberCell(x.likes), numberCell(x.uniques)));
      const tot = s.totals || {};
      clear(body).append(
        el('div', { class: 'table-wrap' }, el('table', { id: 'series-streams' },
          el('caption', {}, t('streams')),
          el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, t('title')), el('th', { scope: 'col' }, t('status')),
            el('th', { scope: 'col', class: 'hide-narrow' }, t('started')),
            el('th', { scope: 'col', class: 'num' }, t('views')), el('th', { scope: 'col', class: 'num' }, t('likes')),
            el('th', { scope: 'col', class: 'num' }, t('uniques')))),
          el('tbody', {}, rows),
          el('tfoot', {}, el('tr', {}, el('th', { scope: 'row', colspan: 3 }, t('series')),
            numberCell(tot.views), numberCell(tot.likes), numberCell(tot.uniques))))));
    } catch (e) {
      if (stopped) return;
      if (e.status === 401) return ctx.unauthorized(e);
      clear(body).append(notice(e.status === 404 ? t('notFound') : t('failed', { what: t('series'), message: e.message }), 'error'));
    }
  }

  async function loadChart() {
    try {
      const answer = await api.seriesTimeseries(id, metric.value);
      if (stopped) return;
      if (chart) chart.destroy();
      clear(chartBox);
      clear(chartMsg);
      chart = comparisonChart(chartBox, answer, { label: `${t(metric.value)} · ${t('sinceStart')}` });
    } catch (e) {
      if (stopped) return;
      clear(chartMsg).append(notice(e.missing ? t('notAvailable', { what: t('compare') })
        : t('failed', { what: t('compare'), message: e.message }), e.missing ? 'warn' : 'error'));
    }
  }

  metric.addEventListener('change', loadChart);
  loadTotals();
  loadChart();
  return () => {
    stopped = true;
    if (chart) chart.destroy();
  };
}
