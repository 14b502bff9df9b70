/* livetally viewer widget: <script src="https://HOST/widget.js" data-stream="ID" async>.
 * No framework, no build step. Options and behaviour: README.md, "Widget".
 * The pure parts are exported to node for tests/web/. */
(() => {
  'use strict';

  // Display formats as src/display.c; both pass tests/display_vectors.json.
  const UNITS = {
    en: [[1e9, 'B'], [1e6, 'M'], [1e3, 'K']],
    'zh-CN': [[1e8, '亿'], [1e4, '万']],
    'zh-CN-W': [[1e8, '亿'], [1e4, 'W']]
  };

  // zh, zh-Hans-CN, zh_SG... -> zh-CN; zh-CN-W is ours (never given to Intl).
  function resolveLocale(tag) {
    const t = String(tag || '').toLowerCase();
    return t === 'zh-cn-w' ? 'zh-CN-W' : t === 'zh' || /^zh[-_]/.test(t) ? 'zh-CN' : 'en';
  }

  // Digits are cut, never rounded up: 'compact' 1299 -> 1.2K, 'floor' -> 1K+.
  function formatCount(n, locale, style) {
    n = Math.floor(+n || 0);
    const u = UNITS[resolveLocale(locale)].find(u => n >= u[0]);
    if (!u) return String(n);
    const whole = Math.floor(n / u[0]), rest = n - whole * u[0], tenth = Math.floor(rest / (u[0] / 10));
    if (style !== 'compact') return whole + u[1] + (rest ? '+' : '');
    return whole + (tenth ? '.' + tenth : '') + u[1];
  }

  /* Shown likes = S (highest server total seen) + own taps of the last `win`
   * ms not yet in S. When S rises by d, up to d sent taps count as in S, so
   * the server never makes it fall; only taken-back taps do. */
  class LikeLedger {
    constructor(win = 2000) {
      this.win = win;
      this.server = 0;
      this.known = false;
      this.pend = [];  // times of the taps shown on top of S, oldest first
      this.unsent = 0; // not handed out yet
      this.flying = 0; // sent, neither in S nor dropped
    }
    tap(now) {
      this.pend.push(now);
      this.unsent++;
    }
    take(max) {
      const n = Math.min(this.unsent, max);
      this.unsent -= n;
      this.flying += n;
      return n;
    }
    dropped(n) {
      this.cut(Math.min(n | 0, this.flying));
    }
    serverTotal(total, now) {
      if (!this.known || total > this.server) {
        if (this.known) this.cut(Math.min(total - this.server, this.flying));
        this.server = total;
        this.known = true;
      }
      return this.shown(now);
    }
    shown(now) {
      while (this.pend[0] <= now - this.win) this.pend.shift();
      this.flying = Math.min(this.flying, Math.max(0, this.pend.length - this.unsent));
      return this.server + this.pend.length;
    }
    expiry() { // when the oldest shown tap ages out (0: none)
      return this.pend.length ? this.pend[0] + this.win : 0;
    }
    cut(n) { // sent taps are the oldest
      this.flying -= n;
      this.pend.splice(0, n);
    }
  }

  // Full jitter from the first retry on. After close 1013 (overloaded): 10 s,
  // then jitter over a window 8 times wider.
  const backoffDelay = (attempt, code, rnd) => code === 1013
    ? 10000 + rnd() * Math.min(30000, 8000 * 2 ** attempt)
    : rnd() * Math.min(30000, 1000 * 2 ** attempt);

  // Only node gets exports (a page may have a global `module`).
  if (typeof document === 'undefined') {
    if (typeof module === 'object' && module.exports) module.exports = { formatCount, resolveLocale, LikeLedger, backoffDelay };
    return;
  }

  const TEXT = { en: ['views', 'likes', 'online', 'Like'], zh: ['观看', '点赞', '在线', '点赞'] };
  const SEND_MS = 500, MAX_N = 50, POLL_MS = 5000, SAY_MS = 10000, PROBE_MS = 3e5;
  const DARK = '--bg:#1d1d22;--fg:#f3f3f5;--mu:#b4b4bf;--bd:#fff3;--fo:#8ab4f8}';
  const CSS = `:host{all:initial;display:block;font:14px/1.3 system-ui,sans-serif;
--bg:#fff;--fg:#16161a;--mu:#55555f;--bd:#0002;--ac:#d81b56;--fo:#0b57d0}
:host([data-theme=dark]){${DARK}@media(prefers-color-scheme:dark){:host([data-theme=auto]){${DARK}}
.w{position:relative;display:flex;flex-wrap:wrap;align-items:center;gap:8px 16px;box-sizing:border-box;min-width:220px;padding:10px 14px;
background:var(--bg);color:var(--mu);border:1px solid var(--bd);border-radius:12px}
.s{display:flex;flex-wrap:wrap;gap:4px 14px;flex:1}span{white-space:nowrap}
b{margin-right:4px;font-size:1.15em;color:var(--fg)}
i{display:inline-block;width:8px;height:8px;margin-right:6px;border-radius:50%;background:#22a33a}
button{position:relative;display:flex;gap:6px;align-items:center;min-height:36px;padding:6px 16px;cursor:pointer;
border:2px solid transparent;border-radius:99px;background:var(--ac);color:#fff;font:inherit;font-weight:600}
button:focus-visible{outline:3px solid var(--fo);outline-offset:2px}button:disabled{opacity:.5}svg{width:18px;height:18px;fill:#fff}
.pop{position:absolute;left:40%;top:0;color:var(--ac);font-weight:700;animation:u .8s forwards}
@keyframes u{to{transform:translateY(-30px);opacity:0}}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
:host([data-state=waiting]) .s{opacity:.6}@media(prefers-reduced-motion:reduce){.pop{display:none}}`;

  const reducedMotion = () => matchMedia('(prefers-reduced-motion: reduce)').matches;

  // Kept in localStorage; one per page where storage is blocked.
  function viewerId() {
    const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
    const id = Array.from(crypto.getRandomValues(new Uint8Array(22)), b => abc[b & 63]).join('');
    let key = 'livetally.viewer';
    try {
      if (/^[\w-]{8,64}$/.test(localStorage.getItem(key))) return localStorage.getItem(key);
      localStorage.setItem(key, id);
      return id;
    } catch (e) { // shared by the page's widgets
      key = Symbol.for(key);
      return window[key] || (window[key] = id);
    }
  }

  // Counts up when it rises; jumps when it falls, at first, or for reduced motion.
  function counter(el, fmt) {
    let cur = 0, from = 0, to = -1, t0 = 0, raf = 0, text;
    const paint = v => {
      const s = fmt(v);
      if (s !== text) el.textContent = text = s;
    };
    const frame = t => {
      const p = Math.max(0, Math.min(1, (t - t0) / 600));
      cur = p < 1 ? from + (to - from) * (1 - (1 - p) ** 3) : to;
      paint(Math.floor(cur));
      raf = p < 1 ? requestAnimationFrame(frame) : 0;
    };
    return v => {
      if (v === to) return;
      el.dataset.value = v; // the exact number, for tests and tools
      if (v < cur || to < 0 || reducedMotion()) {
        cancelAnimationFrame(raf);
        raf = 0;
        return paint(cur = to = v);
      }
      [from, to, t0] = [cur, v, performance.now()];
      raf = raf || requestAnimationFrame(frame);
    };
  }

  function mount(script) {
    const attr = name => (script.getAttribute('data-' + name) || '').trim(); // empty = absent
    const stream = attr('stream'), want = attr('locale'), theme = attr('theme');
    let source = attr('source') || 'direct';
    if (!/^[\w-][\w.-]{0,63}$/.test(stream))
      return console.error(`livetally widget: data-stream="${stream}" is missing or not a stream id; no widget shown`);
    if (!/^[a-z0-9_-]{1,32}$/.test(source)) {
      console.error(`livetally widget: data-source="${source}" is not a source id; using "direct"`);
      source = 'direct';
    }
    // embed.html has no language of its own: it asks for the browser's
    const locale = resolveLocale((want !== 'auto' && want) || document.documentElement.lang ||
                                 (attr('locale-fallback') === 'browser' && navigator.language));
    const style = attr('style') === 'compact' ? 'compact' : 'floor';
    const T = TEXT[locale === 'en' ? 'en' : 'zh'];
    const fmt = v => formatCount(v, locale, style);
    // the API sits beside widget.js on the livetally host
    const api = new URL('v1/streams/' + stream, new URL('.', script.src)).href;
    const viewer = viewerId();

    const host = document.createElement('livetally-widget');
    host.dataset.theme = /^(light|dark)$/.test(theme) ? theme : 'auto';
    host.lang = locale === 'en' ? 'en' : 'zh-CN';
    const root = host.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${CSS}</style><div class="w" part="widget"><div class="s" aria-hidden="true">
<span><b class="views">–</b>${T[0]}</span> <span><b class="likes">–</b>${T[1]}</span> <span><i></i><b class="online">–</b>${T[2]}</span></div>
<button type="button" aria-label="${T[3]}"><svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 21C5 15 2 12 2 8a5 5 0 0 1 10-2 5 5 0 0 1 10 2c0 4-3 7-10 13z"/></svg>${T[3]}</button>
<div class="sr" aria-live="polite" aria-atomic="true"></div></div>`;
    const btn = root.querySelector('button'), say = root.querySelector('.sr'), show = {};
    for (const k of ['views', 'likes', 'online']) show[k] = counter(root.querySelector('.' + k), fmt);

    // Into data-target (an id, else a selector), else after the tag, else into <body>.
    function place() {
      const t = attr('target'), body = document.body;
      if (t) {
        let el = null;
        try { el = document.getElementById(t) || document.querySelector(t); } catch (e) {}
        if (el) return el.append(host);
        if (document.readyState === 'loading') return addEventListener('DOMContentLoaded', place);
        console.error(`livetally widget: data-target="${t}" matches no element; placing the widget at its script`);
      }
      if (body && body.contains(script)) script.after(host);
      else if (body) body.append(host);
      else addEventListener('DOMContentLoaded', place);
    }
    place();

    const ledger = new LikeLedger(2000);
    let views = 0, online = 0, lastSeq = -1, got = false, agingTimer, said = '', saidAt = 0, sayTimer = 0;
    function render() {
      const now = Date.now(), likes = ledger.shown(now), exp = ledger.expiry();
      show.views(views);
      show.likes(likes);
      show.online(online);
      clearTimeout(agingTimer);
      if (exp) agingTimer = setTimeout(render, exp - now + 5);
      // the live region speaks only on a change, at most every SAY_MS
      const s = `${fmt(views)} ${T[0]}, ${fmt(likes)} ${T[1]}, ${fmt(online)} ${T[2]}`;
      if (!got || s === said || sayTimer) return;
      if (saidAt + SAY_MS > now) return (sayTimer = setTimeout(() => { sayTimer = 0; render(); }, saidAt + SAY_MS - now));
      say.textContent = said = s;
      saidAt = now;
    }
    // fresh: a connection's first totals, taken even with a lower seq
    function totals(m, fresh) {
      if (!fresh && m.seq < lastSeq) return;
      lastSeq = m.seq;
      views = Math.max(views, m.views || 0);
      online = m.online || 0;
      ledger.serverTotal(m.likes || 0, Date.now());
      got = true;
      render();
    }

    /* Transport: WebSocket, SSE, polling; each steps down after failing twice
     * before its first totals (polling: unreachable twice) back to WebSocket.
     * `gen` silences the callbacks of abandoned connections. */
    let mode = 'ws', fails = 0, attempt = 0, gen = 0, state, upSince = 0, sock, stop, retryTimer;
    let viewDone = false, ended = false, lastSend = 0, sendTimer, lastN = 0, pollTimer;

    function setState(s) {
      state = host.dataset.state = s;
      host.dataset.transport = mode;
    }
    function connect() {
      setState('connecting');
      (mode === 'ws' ? openWs : mode === 'sse' ? openSse : poll)(++gen, mode === 'poll');
    }
    // failedEarly: before the first totals
    function retry(code, failedEarly) {
      if (stop) stop();
      stop = sock = null;
      gen++;
      if (failedEarly && ++fails > 1) {
        fails = 0;
        mode = { ws: 'sse', sse: 'poll', poll: 'ws' }[mode];
      }
      if (upSince && Date.now() - upSince > 10000) attempt = 0; // it had worked a while
      if (code === 1001) attempt = Math.max(attempt, 2); // a restart: spread over 4 s+
      upSince = 0;
      clearTimeout(retryTimer);
      retryTimer = setTimeout(connect, backoffDelay(attempt, code, Math.random));
      attempt = Math.min(attempt + 1, 10);
      setState('waiting');
      flush(); // taps go over HTTP meanwhile
    }
    function up() { // a connection's first totals
      upSince = Date.now();
      fails = 0;
      setState('live');
      if (mode !== 'ws') countView();
      flush();
    }

    function openWs(my, probe) {
      let live = false, ws;
      try {
        ws = new WebSocket(`${api.replace(/^http/, 'ws')}/ws?source=${source}${viewDone ? '' : '&viewer=' + viewer}`);
      } catch (e) { // blocked (CSP)
        if (!probe) mode = 'sse', retry();
        return;
      }
      const timer = setTimeout(() => gone(1006), 10000); // no totals in 10 s: failed
      const close = () => {
        clearTimeout(timer);
        ws.onclose = ws.onerror = ws.onmessage = null;
        ws.close();
      };
      if (!probe) sock = ws, stop = close;
      ws.onmessage = ev => {
        const m = JSON.parse(ev.data);
        if (probe && !live) { // the probe works: it replaces SSE or polling
          if (mode === 'ws') return close();
          if (m.type !== 'totals') return;
          if (stop) stop();
          clearTimeout(retryTimer);
          [my, mode, sock, stop] = [++gen, 'ws', ws, close];
        }
        if (my !== gen) return close();
        if (m.type === 'totals') {
          totals(m, !live);
          if (live) return;
          live = viewDone = true; // later sockets go without ?viewer=: one view per start
          clearTimeout(timer);
          up();
        } else if (m.type === 'error') {
          // a like refused whole is the last message's
          ledger.dropped(m.code === 'rate_limited' ? m.dropped : /^(stream_ended|overloaded|not_ready)$/.test(m.code) ? lastN : 0);
          if (m.code === 'stream_ended') end();
          lastN = 0;
          render();
        }
      };
      // a failed probe changes nothing; 1013 and 1001 are not a blocked WebSocket
      function gone(code) {
        if (probe && !live) close();
        else if (my === gen) retry(code, !live && code !== 1013 && code !== 1001);
      }
      ws.onclose = ev => gone(ev.code);
      ws.onerror = () => gone(1006); // alone, without close, when CSP blocks it
    }

    // Not EventSource's own retry (fixed delay, all viewers at once): ours.
    function openSse(my) {
      let es;
      try {
        es = new EventSource(api + '/live');
      } catch (e) { // blocked or missing: step down to polling
        mode = 'poll', retry();
        return;
      }
      const timer = setTimeout(fail, 10000);
      let live = false;
      function fail() {
        if (my === gen) retry(0, !live);
      }
      stop = () => { clearTimeout(timer); es.close(); };
      es.onerror = fail;
      es.addEventListener('totals', ev => {
        if (my !== gen) return;
        totals(JSON.parse(ev.data), !live);
        if (!live) live = true, clearTimeout(timer), up();
      });
    }

    // 404: no event yet, zeros
    function poll(my, first) {
      stop = () => clearTimeout(pollTimer);
      request(null, (status, body) => {
        if (my !== gen) return;
        if (status !== 200 && status !== 404) return retry(0, !status);
        totals(status === 200 ? body : {}, first);
        if (first) up();
        clearTimeout(pollTimer);
        pollTimer = setTimeout(() => poll(my), POLL_MS);
      });
    }

    (function probe() {
      setTimeout(() => {
        if (mode !== 'ws' && state === 'live') openWs(gen, true);
        probe();
      }, PROBE_MS * (0.8 + 0.4 * Math.random()));
    })();

    // GET totals or POST events as text/plain (no CORS preflight); status 0: network error.
    function request(events, cb) {
      fetch(events ? api + '/events' : api, { method: events ? 'POST' : 'GET', body: events && JSON.stringify(events),
                                              keepalive: !!events, cache: 'no-store' })
        .then(r => r.json().catch(() => {}).then(b => cb(r.status, b || {})), () => cb(0, {}));
    }
    function countView() {
      if (viewDone) return;
      viewDone = true;
      request([{ type: 'view', viewer, source }], status => {
        viewDone = status && status < 500; // else again at the next up()
      });
    }

    // Likes go out coalesced: one message every SEND_MS at most, n <= MAX_N.
    function flush() {
      const wait = lastSend + SEND_MS - Date.now();
      clearTimeout(sendTimer);
      if (!ledger.unsent || ended || state === 'connecting') return; // up() flushes
      if (wait > 0) return (sendTimer = setTimeout(flush, wait));
      const n = ledger.take(MAX_N);
      lastSend = Date.now();
      if (state === 'live' && sock && sock.readyState === 1) {
        // named: a reconnected socket has no ?viewer=
        sock.send(JSON.stringify({ type: 'like', n: lastN = n, viewer }));
      } else {
        request([{ type: 'like', n, viewer, source }], (status, body) => {
          if (status !== 202 || body.rejected) ledger.dropped(n); // not counted, or unknown
          if (status === 409) end();
          render();
          // polling: fetch the total soon, before these taps leave the 2 s window
          if (mode === 'poll' && state === 'live') setTimeout(g => g === gen && poll(g), 300, gen);
        });
      }
      if (ledger.unsent) sendTimer = setTimeout(flush, SEND_MS);
    }
    function end() {
      ended = btn.disabled = true;
    }

    btn.onclick = () => {
      const pop = document.createElement('span');
      ledger.tap(Date.now());
      pop.className = 'pop';
      pop.textContent = '+1';
      btn.append(pop);
      setTimeout(() => pop.remove(), 800);
      render();
      flush();
    };
    connect();
  }

  // One widget per script tag (currentScript works with async too; without
  // it, every tag of ours not started yet).
  const me = document.currentScript;
  for (const s of me ? [me] : document.querySelectorAll('script[src*="widget.js"][data-stream]')) {
    if (!s.hasAttribute('data-livetally')) {
      s.setAttribute('data-livetally', '');
      mount(s);
    }
  }
})();
