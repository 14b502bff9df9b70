// The operators' dashboard (GET /dashboard): sign-in, then one of three
// views chosen by the URL's fragment:
//   #/                 every stream, live first, and the server's figures
//   #/stream/<id>      one stream: numbers, charts, sources, segments, buttons
//   #/series/<id>      a series' streams compared by time since their start
// One LiveSocket (live.js) carries the live numbers of every view.
// Bundled with uPlot by esbuild into build/web/dashboard/dashboard.js.

import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, ApiError, getToken, setToken } from './api.js';
import { el, clear, notice } from './dom.js';
import { t, currentLang, setLang, onLangChange } from './i18n.js';
import { timeZoneName } from './format.js';
import { LiveSocket } from './live.js';
import { renderList } from './list.js';
import { renderStream } from './stream.js';
import { renderSeries } from './series.js';

const app = {
  live: null,
  cleanup: null,
  main: null,
  liveState: null
};

// The header's words, the language switch and the timezone.
function renderChrome() {
  document.documentElement.lang = currentLang() === 'zh' ? 'zh-CN' : 'en';
  document.title = t('appName');
  document.getElementById('skip').textContent = t('skip');
  document.getElementById('app-name').textContent = t('appName');
  document.getElementById('lang-label').textContent = t('language');
  const select = document.getElementById('lang');
  select.value = currentLang();
  document.getElementById('tz').textContent = t('timezone', { tz: timeZoneName() });
  const out = document.getElementById('sign-out');
  out.textContent = t('signOut');
  out.hidden = !getToken();
  renderLiveState();
}

function renderLiveState() {
  const node = document.getElementById('live-state');
  const s = app.liveState;
  node.hidden = !s;
  if (!s) return;
  node.dataset.state = s.state;
  node.textContent = s.state === 'open' ? t('liveOk')
    : s.state === 'limited' ? t('liveLimited', { n: s.detail }) : t('liveWaiting');
}

function signIn(main, message) {
  clear(main);
  const input = el('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password',
                              required: true, 'aria-describedby': 'login-help' });
  const status = el('p', { id: 'login-status', role: 'status', 'aria-live': 'polite' }, message || '');
  const button = el('button', { type: 'submit' }, t('signIn'));
  const form = el('form', { id: 'login', class: 'card login', 'aria-labelledby': 'login-title' },
    el('h1', { id: 'login-title' }, t('loginTitle')),
    el('p', { id: 'login-help', class: 'help' }, t('loginHelp')),
    el('label', { for: 'token' }, t('token')), input, button, status);
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    button.disabled = true;
    status.textContent = t('checking');
    try {
      await verifyToken(token);
      setToken(token);
      input.value = '';
      start();
    } catch (e) {
      status.textContent = e.message;
      status.className = 'notice error';
      button.disabled = false;
      input.focus();
    }
  });
  main.append(form);
  input.focus();
}

// Accepted by GET /v1/operator/status, or, on a server without it, by the
// WebSocket's auth message. Rejects with a message for the page.
async function verifyToken(token) {
  try {
    await api.operatorStatusWith(token);
    return;
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (!e.missing) {
      throw new Error(e.status === 403 && /configured/.test(e.message) ? t('noTokens')
                      : t('badToken', { code: `${e.status} ${e.code}` }));
    }
  }
  await new Promise((resolve, reject) => {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/v1/ws`);
    const timer = setTimeout(() => done(new Error(t('badToken', { code: 'timeout' }))), 5000);
    function done(err) {
      clearTimeout(timer);
      ws.onclose = ws.onmessage = null;
      ws.close(1000);
      if (err) reject(err);
      else resolve();
    }
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token }));
    ws.onmessage = ev => {
      let m = null;
      try {
        m = JSON.parse(ev.data);
      } catch (e) {}
      if (m && m.type === 'auth' && m.ok) done(null);
      else if (m && m.type === 'error') done(new Error(t('badToken', { code: m.code })));
    };
    ws.onclose = () => done(new Error(t('badToken', { code: 'closed' })));
  });
}

function signOut(message) {
  setToken('');
  if (app.cleanup) app.cleanup();
  app.cleanup = null;
  if (app.live) app.live.close();
  app.live = null;
  app.liveState = null;
  renderChrome();
  signIn(app.main, message);
}

function route() {
  const h = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
  const m = /^(stream|series)\/(.+)$/.exec(h);
  return m ? { view: m[1], id: m[2] } : { view: 'list' };
}

function show(moved = false) {
  if (app.cleanup) app.cleanup();
  app.cleanup = null;
  clear(app.main);
  const r = route();
  const ctx = {
    live: app.live,
    // an operator call refused the token: back to the sign-in form
    unauthorized: e => signOut(t('badToken', { code: `${e.status} ${e.code}` }))
  };
  try {
    if (r.view === 'stream') app.cleanup = renderStream(app.main, r.id, ctx);
    else if (r.view === 'series') app.cleanup = renderSeries(app.main, r.id, ctx);
    else app.cleanup = renderList(app.main, ctx);
  } catch (e) {
    app.main.append(notice(t('failed', { what: r.view, message: e.message }), 'error'));
  }
  // After a move within the page, the new view's heading takes the focus
  // (a screen reader reads where it is now), as a page load would.
  const h1 = app.main.querySelector('h1');
  if (moved && h1) {
    h1.setAttribute('tabindex', '-1');
    h1.focus();
  }
}

function start() {
  renderChrome();
  app.live = new LiveSocket({
    token: getToken(),
    onState: (state, detail) => {
      app.liveState = { state, detail };
      renderLiveState();
    }
  });
  show();
}

function boot() {
  app.main = document.getElementById('main');
  const select = document.getElementById('lang');
  select.addEventListener('change', () => setLang(select.value));
  document.getElementById('sign-out').addEventListener('click', () => signOut(''));
  onLangChange(() => {
    renderChrome();
    if (getToken()) show();
    else signIn(app.main);
  });
  window.addEventListener('hashchange', () => {
    if (getToken()) show(true);
  });
  renderChrome();
  if (getToken()) start();
  else signIn(app.main);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
