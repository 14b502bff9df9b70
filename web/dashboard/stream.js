// One stream: big numbers (exact, with the display form beside), live
// per-minute charts with the segments as markers, the per-source table
// (counted here and reported by the platform, in columns of their own), the
// segments with a start-segment form, go-live and end buttons, and links to
// the CSV time series and the HTML report.
//
// The charts start from GET .../timeseries (the last 30 minutes, 1-minute
// buckets) and then move with the pushes: a push's rise of views and likes
// goes into the minute it arrived in, online keeps the minute's highest.
// The rise is that of counted_views and counted_likes (counted here only,
// as the time series is): the top-level views and likes add the partners'
// reports, and a report of +50,000 views is not a minute's views.

import { api } from './api.js';
import { el, clear, notice, setText } from './dom.js';
import { t, statusWord, currentLang, displayLocale } from './i18n.js';
import { formatCount, formatExact, formatTime, timeZoneName } from './format.js';
import { MinuteChart } from './charts.js';

const REFRESH_MS = 10000;
const WINDOW_MIN = 30;

// The rise of what was counted here between two pushes: counted_<name>
// when both carry it, else (a push from an earlier server version) the
// top-level field.
function countedRise(prev, m, name) {
  const key = 'counted_' + name;
  if (typeof m[key] === 'number' && typeof prev[key] === 'number') return m[key] - prev[key];
  return m[name] - prev[name];
}

export function renderStream(main, id, ctx) {
  const lang = currentLang();
  const state = { totals: null, last: null, stopped: false, segmentsMissing: false };
  const timers = [];

  // -- the page's parts, filled as answers arrive --------------------------------
  const title = el('h1', { id: 'stream-title' }, id);
  const badge = el('span', { id: 'stream-status', class: 'badge' }, '…');
  const seriesLink = el('span', { class: 'meta' });
  const message = el('div', { id: 'stream-message', role: 'status', 'aria-live': 'polite' });
  const goLive = el('button', { id: 'go-live', type: 'button', class: 'primary' }, t('goLive'));
  const end = el('button', { id: 'end-stream', type: 'button', class: 'danger' }, t('end'));
  const big = {};
  const bigGrid = el('div', { class: 'big-grid', id: 'numbers' },
    ['views', 'likes', 'online', 'uniques', 'peakOnline'].map(k => {
      big[k] = { b: el('b', { id: `num-${k}`, dataset: { value: '0' } }, '–'), disp: el('span', { class: 'disp' }) };
      return el('div', { class: 'big' }, el('span', { class: 'label' }, t(k)), big[k].b, ' ', big[k].disp);
    }));
  const peakAt = el('p', { class: 'meta', id: 'peak-at' });
  // Screen readers hear the numbers at most every 30 s, when asked politely.
  const spoken = el('p', { class: 'sr-only', 'aria-live': 'polite', id: 'numbers-spoken' });
  const refused = el('p', { class: 'meta', id: 'refused' });
  const chartBoxes = {
    online: el('div', { class: 'chart-box', id: 'chart-online' }),
    views: el('div', { class: 'chart-box', id: 'chart-views' }),
    likes: el('div', { class: 'chart-box', id: 'chart-likes' })
  };
  const sources = el('div', { id: 'sources-body', class: 'table-wrap' });
  const segments = el('div', { id: 'segments-body' });
  const segInput = el('input', { id: 'segment-title', name: 'title', type: 'text', required: true, maxlength: 200 });
  const segButton = el('button', { type: 'submit', id: 'start-segment' }, t('startSegment'));
  const segStatus = el('p', { id: 'segment-status', role: 'status' });
  const segForm = el('form', { class: 'seg-form', id: 'segment-form' },
    el('label', {}, t('newSegment'), segInput), segButton);
  const history = el('div', { id: 'history' });

  main.append(
    el('p', {}, el('a', { href: '#/' }, `← ${t('back')}`)),
    title,
    el('div', { class: 'bar' }, badge, el('code', {}, id), seriesLink),
    el('div', { class: 'bar', role: 'group', 'aria-label': t('status') }, goLive, end,
      el('a', { id: 'csv-link', href: api.csvUrl(id), download: `${id}.csv` }, t('csv')),
      el('a', { id: 'report-link', href: api.reportUrl(id, lang, timeZoneName()), target: '_blank', rel: 'noopener' },
        t('report'))),
    message,
    el('section', { 'aria-labelledby': 'numbers-title' },
      el('h2', { id: 'numbers-title', class: 'sr-only' }, t('views')), bigGrid, peakAt, refused, spoken),
    el('section', { class: 'charts', 'aria-label': t('viewsPerMin') },
      chartCard('onlineChart', chartBoxes.online), chartCard('viewsPerMin', chartBoxes.views),
      chartCard('likesPerMin', chartBoxes.likes)),
    el('section', { 'aria-labelledby': 'sources-title' }, el('h2', { id: 'sources-title' }, t('sources')), sources),
    el('section', { 'aria-labelledby': 'segments-title' }, el('h2', { id: 'segments-title' }, t('segments')),
      segments, segForm, segStatus),
    history);

  function chartCard(key, box) {
    return el('div', { class: 'chart' }, el('h3', {}, t(key)), box);
  }

  const charts = {
    online: new MinuteChart(chartBoxes.online, { label: t('onlineChart'), lang, color: '#059669', kind: 'max', minutes: WINDOW_MIN }),
    views: new MinuteChart(chartBoxes.views, { label: t('viewsPerMin'), lang, color: '#2563eb', minutes: WINDOW_MIN }),
    likes: new MinuteChart(chartBoxes.likes, { label: t('likesPerMin'), lang, color: '#db2777', minutes: WINDOW_MIN })
  };

  // -- numbers ---------------------------------------------------------------------
  function setBig(k, value) {
    big[k].b.dataset.value = String(value || 0);
    setText(big[k].b, formatExact(value, lang));
    // the display form only where it says something the exact number does not
    const disp = formatCount(value, displayLocale());
    setText(big[k].disp, disp === String(Math.floor(+value || 0)) ? '' : disp);
  }

  let spokenAt = 0;
  function showNumbers(m) {
    setBig('views', m.views);
    setBig('likes', m.likes);
    setBig('online', m.online);
    setBig('uniques', m.uniques);
    setBig('peakOnline', m.peak_online);
    if (m.peak_at) setText(peakAt, `${t('peakOnline')} ${t('peakAt', { time: formatTime(m.peak_at, lang, { seconds: true }) })}`);
    const now = Date.now();
    if (now - spokenAt > 30000) {
      spokenAt = now;
      spoken.textContent = `${t('views')} ${formatCount(m.views, displayLocale())}, ${t('likes')} ` +
        `${formatCount(m.likes, displayLocale())}, ${t('online')} ${formatCount(m.online, displayLocale())}`;
    }
  }

  function showStatus(status) {
    badge.className = `badge ${status}`;
    badge.dataset.status = status;
    setText(badge, statusWord(status));
    goLive.hidden = status === 'live';
    setText(goLive, status === 'ended' ? t('reopen') : t('goLive'));
    end.hidden = status === 'ended';
  }

  // -- the totals object: everything but the charts ------------------------------
  function showTotals(tot) {
    state.totals = tot;
    const name = tot.title || tot.stream;
    setText(title, name);
    document.title = `${name} · ${t('appName')}`;
    showStatus(tot.status);
    clear(seriesLink);
    if (tot.series) seriesLink.append(`${t('series')}: `, el('a', { href: `#/series/${encodeURIComponent(tot.series)}` }, tot.series));
    showNumbers(tot);
    if (tot.refused) setText(refused, t('refused', { taps: formatExact(tot.refused.dropped_taps, lang),
                                                       rejected: formatExact(tot.refused.rejected, lang) }));
    showSources(tot.sources || {});
    if (Array.isArray(tot.segments)) showSegments(tot.segments);
    else loadSegments();
    showHistory(tot.history);
  }

  function showSources(src) {
    const n = v => formatExact(v, lang);
    const rows = Object.entries(src).map(([name, s]) => {
      const r = s.reported;
      return el('tr', { dataset: { source: name } },
        el('th', { scope: 'row' }, name),
        el('td', { class: 'num' }, n(s.views)), el('td', { class: 'num' }, n(s.likes)),
        el('td', { class: 'num' }, r ? n(r.views) : '–'), el('td', { class: 'num' }, r ? n(r.likes) : '–'),
        el('td', {}, r ? formatTime(r.at, lang, { seconds: true }) : '–',
          r && r.lower_than_previous ? el('span', { class: 'lower' }, ` (${t('lower')})`) : null));
    });
    clear(sources).append(el('table', { id: 'sources' },
      el('caption', { class: 'sr-only' }, t('sources')),
      el('thead', {},
        el('tr', {}, el('td', {}), el('th', { scope: 'colgroup', colspan: 2 }, t('counted')),
          el('th', { scope: 'colgroup', colspan: 3 }, t('reported'))),
        el('tr', {}, el('th', { scope: 'col' }, t('source')),
          el('th', { scope: 'col', class: 'num' }, t('views')), el('th', { scope: 'col', class: 'num' }, t('likes')),
          el('th', { scope: 'col', class: 'num' }, t('views')), el('th', { scope: 'col', class: 'num' }, t('likes')),
          el('th', { scope: 'col' }, t('reportedAt')))),
      el('tbody', {}, rows)));
  }

  // -- segments --------------------------------------------------------------------
  let segmentsLoading = false;
  async function loadSegments() {
    if (state.segmentsMissing || segmentsLoading) return;
    segmentsLoading = true;
    try {
      const r = await api.segments(id);
      if (!state.stopped) showSegments((r && r.segments) || []);
    } catch (e) {
      if (state.stopped) return;
      if (e.missing) {
        state.segmentsMissing = true;
        clear(segments).append(notice(t('notAvailable', { what: t('segments') }), 'warn'));
        segments.dataset.missing = 'true';
      } else {
        clear(segments).append(notice(t('failed', { what: t('segments'), message: e.message }), 'error'));
      }
    } finally {
      segmentsLoading = false;
    }
  }

  // Segments as chart markers: from the totals' (or the segment list's)
  // segments, or the time series' own `segments` where it has them.
  function setMarkers(list) {
    // started_at: RFC 3339, or a number of seconds (ms when that large)
    const seconds = v => (typeof v === 'number' ? (v > 1e11 ? v / 1000 : v) : Date.parse(v) / 1000);
    const markers = list.map(s => ({ t: seconds(s.started_at ?? s.t), title: s.title || '' }))
      .filter(m => isFinite(m.t));
    for (const c of Object.values(charts)) c.setMarkers(markers);
  }

  function showSegments(list) {
    delete segments.dataset.missing;
    const n = v => formatExact(v, lang);
    setMarkers(list);
    if (!list.length) {
      clear(segments).append(el('p', { class: 'meta', id: 'no-segments' }, t('noSegments')));
      return;
    }
    clear(segments).append(el('div', { class: 'table-wrap' }, el('table', { id: 'segments' },
      el('caption', { class: 'sr-only' }, t('segments')),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, '#'), el('th', { scope: 'col' }, t('segment')),
        el('th', { scope: 'col' }, t('started')), el('th', { scope: 'col', class: 'hide-narrow' }, t('ended')),
        el('th', { scope: 'col', class: 'num' }, t('views')), el('th', { scope: 'col', class: 'num' }, t('likes')),
        el('th', { scope: 'col', class: 'num hide-narrow' }, t('uniques')))),
      el('tbody', {}, list.map((s, i) => el('tr', { dataset: { segment: String(s.id ?? i + 1) } },
        el('td', {}, String(s.id ?? i + 1)), el('td', { class: 'title-cell' }, s.title || ''),
        el('td', {}, formatTime(s.started_at, lang, { seconds: true })),
        el('td', { class: 'hide-narrow' }, s.ended_at ? formatTime(s.ended_at, lang, { seconds: true }) : t('running')),
        el('td', { class: 'num' }, n(s.views)), el('td', { class: 'num' }, n(s.likes)),
        el('td', { class: 'num hide-narrow' }, s.uniques === undefined ? '–' : n(s.uniques))))))));
  }

  segForm.addEventListener('submit', async ev => {
    ev.preventDefault();
    const name = segInput.value.trim();
    if (!name) return;
    segButton.disabled = true;
    try {
      await api.startSegment(id, name);
      segInput.value = '';
      segStatus.className = 'notice';
      segStatus.textContent = t('segmentStarted', { title: name });
      state.segmentsMissing = false;
      await refresh();
    } catch (e) {
      fail(segStatus, e, t('segments'));
    } finally {
      segButton.disabled = false;
    }
  });

  function showHistory(list) {
    clear(history);
    if (!Array.isArray(list) || !list.length) return;
    history.append(el('h2', {}, t('history')), el('ol', { class: 'meta' },
      list.map(h => el('li', {}, `${formatTime(h.at, lang, { seconds: true })} · ${statusWord(h.status)}`))));
  }

  function fail(node, e, what) {
    if (e.status === 401) return ctx.unauthorized(e);
    node.className = `notice ${e.missing ? 'warn' : 'error'}`;
    node.setAttribute('role', 'alert');
    node.textContent = e.missing ? t('notAvailable', { what }) : t('failed', { what, message: e.message });
  }

  // -- status buttons (PUT /v1/streams/{id}) -----------------------------------
  async function setStatus(status) {
    goLive.disabled = end.disabled = true;
    try {
      const tot = await api.putStream(id, { status });
      message.className = 'notice';
      message.textContent = t('statusChanged', { status: statusWord(status) });
      if (tot && tot.stream) showTotals(tot);
      else await refresh();
    } catch (e) {
      fail(message, e, t('status'));
    } finally {
      goLive.disabled = end.disabled = false;
    }
  }
  goLive.addEventListener('click', () => setStatus('live'));
  end.addEventListener('click', () => {
    const name = (state.totals && (state.totals.title || state.totals.stream)) || id;
    if (window.confirm(t('confirmEnd', { title: name }))) setStatus('ended');
  });

  // -- loading and live updates ------------------------------------------------
  async function refresh() {
    try {
      const tot = await api.stream(id);
      if (!state.stopped) showTotals(tot);
    } catch (e) {
      if (state.stopped) return;
      if (e.status === 404) {
        clear(main).append(el('h1', {}, id), notice(t('notFound'), 'error'));
        state.stopped = true;
        return;
      }
      fail(message, e, t('stream'));
    }
  }

  async function loadCharts() {
    const from = Math.floor(Date.now() / 1000 / 60) * 60 - (WINDOW_MIN - 1) * 60;
    try {
      const ts = await api.timeseries(id, from);
      if (state.stopped) return;
      const col = name => 1 + (ts.metrics || []).indexOf(name);
      charts.views.load(ts.points || [], col('views'));
      charts.likes.load(ts.points || [], col('likes'));
      charts.online.load(ts.points || [], col('online'));
      if (Array.isArray(ts.segments) && !(state.totals && Array.isArray(state.totals.segments) && state.totals.segments.length))
        setMarkers(ts.segments);
    } catch (e) {
      if (!state.stopped && e.status !== 404) fail(message, e, t('viewsPerMin'));
    }
  }

  const unwatch = ctx.live.watch(id, m => {
    if (state.stopped) return;
    if (m.type === 'totals') {
      const prev = state.last;
      state.last = m;
      if (state.totals) Object.assign(state.totals, { views: m.views, likes: m.likes, online: m.online });
      showNumbers(m);
      const ts = +m.ts || Date.now();
      if (prev) {
        charts.views.push(ts, countedRise(prev, m, 'views'));
        charts.likes.push(ts, countedRise(prev, m, 'likes'));
      }
      charts.online.push(ts, m.online);
    } else if (m.type === 'status') {
      showStatus(m.status);
      refresh();
    } else if (m.type === 'deleted') {
      message.className = 'notice error';
      message.textContent = t('deleted');
    }
  });

  // The segments' own counts, the sources' reports and the operator fields
  // are not in the pushes: read again every few seconds.
  timers.push(setInterval(refresh, REFRESH_MS));
  refresh().then(loadCharts);

  return () => {
    state.stopped = true;
    unwatch();
    for (const id of timers) clearInterval(id);
    for (const c of Object.values(charts)) c.destroy();
  };
}
