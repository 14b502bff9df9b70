/* livetally viewer widget. A page adds
 *
 *   <script src="https://HOST/widget.js" data-stream="ID" async></script>
 *
 * This file is the source; the server sends a copy that esbuild minified in
 * the build (web/CMakeLists.txt). Options and behaviour: README.md, "Widget".
 *
 * Reading order: the pure parts first (display formats, like ledger, backoff,
 * transport state machine, JSON guard), which node loads for tests/web/; then
 * the page side (options, the card, the connection, likes, lifecycle) and, at
 * the bottom, the loader that mounts one widget per script tag. */
(() => {
  'use strict';

  // --------------------------------------------------------------------------
  // Display formats, as src/display.c: both pass tests/display_vectors.json.

  const UNITS = { // biggest first
    en: [[1e9, 'B'], [1e6, 'M'], [1e3, 'K']],
    'zh-CN': [[1e8, '亿'], [1e4, '万']],
    'zh-CN-W': [[1e8, '亿'], [1e4, 'W']]
  };

  // zh, zh-Hans-CN, zh_SG... -> zh-CN; zh-CN-W is ours (never given to Intl).
  function resolveLocale(tag) {
    const t = String(tag || '').toLowerCase();
    if (t === 'zh-cn-w') return 'zh-CN-W';
    if (t === 'zh' || /^zh[-_]/.test(t)) return 'zh-CN';
    return 'en';
  }

  // Digits are cut, never rounded up: 'compact' 1299 -> 1.2K, 'floor' -> 1K+.
  function formatCount(value, locale, style) {
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

  // --------------------------------------------------------------------------
  // The like ledger.
  //
  // Shown likes = S (the highest server total seen) + own taps of the last
  // `window` ms not yet in S. The two promises: the count never goes back
  // because of the server (old or reordered totals are ignored), and never
  // exceeds S by more than the viewer's recent taps. The hard part is knowing
  // which taps S already has: when S rises by d, up to d of the taps sent
  // (the oldest first) are taken as counted. They may be other viewers' likes
  // instead; then ours show again through S a moment later, never twice.

  class LikeLedger {
    constructor(window = 2000) {
      this.window = window;
      this.highest = 0;      // S
      this.known = false;    // any server total seen yet
      this.recentTaps = [];  // times of the taps shown on top of S, oldest first
      this.unsent = 0;       // of those, not handed out by take() yet
      this.inFlight = 0;     // sent, neither in S nor dropped
    }

    tap(now) {
      this.recentTaps.push(now);
      this.unsent++;
    }

    // Hands out up to max unsent taps for one message.
    take(max) {
      const n = Math.min(this.unsent, max);
      this.unsent -= n;
      this.inFlight += n;
      return n;
    }

    // The server refused n of the sent taps: they are no longer shown.
    dropped(n) {
      this.forgetSent(Math.min(n | 0, this.inFlight));
    }

    // A total from the server; returns the likes to show.
    serverTotal(total, now) {
      if (!this.known || total > this.highest) {
        // the first total is taken as it is: it may or may not have our taps
        if (this.known) this.forgetSent(Math.min(total - this.highest, this.inFlight));
        this.highest = total;
        this.known = true;
      }
      return this.shown(now);
    }

    shown(now) {
      while (this.recentTaps[0] <= now - this.window) this.recentTaps.shift();
      // taps that aged out unreflected were sent ones (the oldest): no longer in flight
      this.inFlight = Math.min(this.inFlight, Math.max(0, this.recentTaps.length - this.unsent));
      return this.highest + this.recentTaps.length;
    }

    // When the oldest shown tap ages out (0: none shown): render again then.
    expiry() {
      return this.recentTaps.length ? this.recentTaps[0] + this.window : 0;
    }

    // Sent taps are the oldest ones shown.
    forgetSent(n) {
      this.inFlight -= n;
      this.recentTaps.splice(0, n);
    }
  }

  // --------------------------------------------------------------------------
  // Reconnect backoff: full jitter from the first retry on, so that a crowd
  // that lost its server comes back spread out. After close 1013 (overloaded):
  // 10 s, then jitter over a window 8 times wider.

  const MAX_BACKOFF_MS = 30000;

  function backoffDelay(attempt, closeCode, random) {
    if (closeCode === 1013) return 10000 + random() * Math.min(MAX_BACKOFF_MS, 8000 * 2 ** attempt);
    return random() * Math.min(MAX_BACKOFF_MS, 1000 * 2 ** attempt);
  }

  // --------------------------------------------------------------------------
  // The transport state machine: which connection the widget has, and what
  // it tries next. States:
  //
  //   stopped            not started yet, or torn down (the element left the page)
  //   connecting-MODE    a WebSocket, an EventSource or the first poll is on its
  //                      way; no totals yet
  //   live-MODE          totals arrive over it
  //   waiting            it failed or closed; connect() is due after a backoff
  //
  // MODE is ws, sse or poll; `mode` is the transport in use or, while
  // waiting, the one the next connect() tries. WebSocket first; a transport
  // that fails twice in a row before its first totals steps down (ws -> sse
  // -> poll -> ws: two polls that cannot reach the server mean the server is
  // away, not a protocol blocked). A constructor that throws steps down at
  // once. Every change goes through go(), against TRANSITIONS. Pure: times and
  // randomness come in as arguments, so that tests/web/ drives it.

  const NEXT_MODE = { ws: 'sse', sse: 'poll', poll: 'ws' };
  const EARLY_FAILURES_TO_STEP_DOWN = 2;
  const STABLE_MS = 10000; // a connection up this long resets the backoff

  const CONNECTING = ['connecting-ws', 'connecting-sse', 'connecting-poll'];
  const TRANSITIONS = {
    stopped: CONNECTING,
    'connecting-ws': ['live-ws', 'waiting', 'stopped'],
    'connecting-sse': ['live-sse', 'live-ws', 'waiting', 'stopped'],   // live-ws: a probe took over
    'connecting-poll': ['live-poll', 'live-ws', 'waiting', 'stopped'],
    'live-ws': ['waiting', 'stopped'],
    'live-sse': ['live-ws', 'waiting', 'stopped'],
    'live-poll': ['live-ws', 'waiting', 'stopped'],
    waiting: [...CONNECTING, 'live-ws', 'stopped']
  };

  class TransportMachine {
    // onChange(state, mode) is called after every change.
    constructor(onChange = () => {}) {
      this.onChange = onChange;
      this.state = 'stopped';
      this.mode = 'ws';
      this.earlyFailures = 0; // of this mode, in a row
      this.attempt = 0;       // the backoff's exponent
      this.liveSince = 0;
    }

    // connecting, live, waiting or stopped: what <livetally-widget data-state> says.
    get phase() {
      return this.state.split('-')[0];
    }

    // The one place the state changes. States with a MODE set the mode too.
    go(next, mode = this.mode) {
      if (!TRANSITIONS[this.state].includes(next))
        throw new Error(`livetally widget: no transition from ${this.state} to ${next}`);
      this.state = next;
      this.mode = next.includes('-') ? next.split('-')[1] : mode;
      this.onChange(this.state, this.mode);
    }

    connect() {
      this.go('connecting-' + this.mode);
    }

    // The connection delivered its first totals.
    live(now) {
      this.go('live-' + this.mode);
      this.liveSince = now;
      this.earlyFailures = 0;
    }

    // A WebSocket tried beside SSE or polling delivered totals: it takes over.
    // False when the widget is on WebSocket already (the probe is not needed).
    probeTookOver(now) {
      if (this.mode === 'ws') return false;
      this.go('live-ws');
      this.liveSince = now;
      this.earlyFailures = 0;
      return true;
    }

    /* The connection failed or closed. early: before its first totals, in a
     * way that may mean this transport is blocked here (a WebSocket closed
     * with 1001 or 1013 is not: the server restarts or is full). Returns the
     * delay before connect(). */
    lost(closeCode, early, now, random) {
      const stepDown = early && ++this.earlyFailures >= EARLY_FAILURES_TO_STEP_DOWN;
      return this.waitBeforeRetry(closeCode, stepDown, now, random);
    }

    // The constructor threw (a Content-Security-Policy, or no such API here).
    blocked(now, random) {
      return this.waitBeforeRetry(undefined, true, now, random);
    }

    stop() {
      if (this.state !== 'stopped') this.go('stopped');
    }

    waitBeforeRetry(closeCode, stepDown, now, random) {
      if (this.liveSince && now - this.liveSince > STABLE_MS) this.attempt = 0; // it had worked a while
      if (closeCode === 1001) this.attempt = Math.max(this.attempt, 2); // a restart: spread over 4 s at least
      this.liveSince = 0;
      const delay = backoffDelay(this.attempt, closeCode, random);
      this.attempt = Math.min(this.attempt + 1, 10);
      if (stepDown) this.earlyFailures = 0;
      this.go('waiting', stepDown ? NEXT_MODE[this.mode] : this.mode);
      return delay;
    }
  }

  // --------------------------------------------------------------------------
  // JSON from the network: an object, or null (and onBad called) for anything
  // else, so that a bad frame or body never throws out of an event handler.

  function parseJsonObject(text, onBad) {
    try {
      const value = JSON.parse(text);
      if (value && typeof value === 'object' && !Array.isArray(value)) return value;
    } catch (e) {
      // reported below
    }
    onBad(text);
    return null;
  }

  // Only node gets exports (a page may have a global `module`).
  if (typeof document === 'undefined') {
    if (typeof module === 'object' && module.exports)
      module.exports = { formatCount, resolveLocale, LikeLedger, backoffDelay, TransportMachine, parseJsonObject };
    return;
  }

  // --------------------------------------------------------------------------
  // The page side.

  const LIKE_WINDOW_MS = 2000;          // own taps shown on top of the server's total
  const SEND_INTERVAL_MS = 500;         // at most one like message this often
  const MAX_LIKES_PER_MESSAGE = 50;     // the server's likes.max_per_message default
  const FIRST_TOTALS_TIMEOUT_MS = 10000; // a connection with no totals by then has failed
  const POLL_INTERVAL_MS = 5000;
  const POLL_AFTER_LIKE_MS = 300;       // see postLikes()
  const PROBE_INTERVAL_MS = 300000;     // ±20%: a WebSocket tried beside SSE or polling
  const ANNOUNCE_INTERVAL_MS = 10000;   // the live region speaks at most this often
  const COUNT_UP_MS = 600;
  const POP_MS = 800;                   // the +1 float

  const STREAM_ID = /^[\w-][\w.-]{0,63}$/;
  const SOURCE_ID = /^[a-z0-9_-]{1,32}$/;
  const TEXT = {
    en: { views: 'views', likes: 'likes', online: 'online', like: 'Like' },
    zh: { views: '观看', likes: '点赞', online: '在线', like: '点赞' }
  };

  const DARK = '--bg:#1d1d22;--fg:#f3f3f5;--mu:#b4b4bf;--bd:#fff3;--fo:#8ab4f8}';
  const CSS = `:host{all:initial;display:block;font:14px/1.3 system-ui,sans-serif;
--bg:#fff;--fg:#16161a;--mu:#55555f;--bd:#0002;--ac:#d81b56;--fo:#0b57d0}
:host([data-theme=dark]){${DARK}
@media(prefers-color-scheme:dark){:host([data-theme=auto]){${DARK}}
.w{position:relative;display:flex;flex-wrap:wrap;align-items:center;gap:8px 16px;box-sizing:border-box;
min-width:220px;padding:10px 14px;background:var(--bg);color:var(--mu);border:1px solid var(--bd);border-radius:12px}
.s{display:flex;flex-wrap:wrap;gap:4px 14px;flex:1}
span{white-space:nowrap}
b{margin-right:4px;font-size:1.15em;color:var(--fg)}
i{display:inline-block;width:8px;height:8px;margin-right:6px;border-radius:50%;background:#22a33a}
button{position:relative;display:flex;gap:6px;align-items:center;min-height:36px;padding:6px 16px;cursor:pointer;
border:2px solid transparent;border-radius:99px;background:var(--ac);color:#fff;font:inherit;font-weight:600}
button:focus-visible{outline:3px solid var(--fo);outline-offset:2px}
button:disabled{opacity:.5}
svg{width:18px;height:18px;fill:#fff}
.pop{position:absolute;left:40%;top:0;color:var(--ac);font-weight:700;animation:u .8s forwards}
@keyframes u{to{transform:translateY(-30px);opacity:0}}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
:host([data-state=waiting]) .s{opacity:.6}
@media(prefers-reduced-motion:reduce){.pop{display:none}}`;
  const HEART = '<svg viewBox="0 0 24 24" aria-hidden="true">' +
    '<path d="M12 21C5 15 2 12 2 8a5 5 0 0 1 10-2 5 5 0 0 1 10 2c0 4-3 7-10 13z"/></svg>';

  // The script tag's options, checked; null (after a console error) when it
  // names no valid stream.
  function readOptions(script) {
    const attr = name => (script.getAttribute('data-' + name) || '').trim(); // empty = absent
    const stream = attr('stream');
    if (!STREAM_ID.test(stream)) {
      console.error(`livetally widget: data-stream="${stream}" is missing or not a stream id; no widget shown`);
      return null;
    }
    let source = attr('source') || 'direct';
    if (!SOURCE_ID.test(source)) {
      console.error(`livetally widget: data-source="${source}" is not a source id; using "direct"`);
      source = 'direct';
    }
    const asked = attr('locale');
    // embed.html has no language of its own: it asks for the browser's
    const locale = resolveLocale((asked !== 'auto' && asked) || document.documentElement.lang ||
                                 (attr('locale-fallback') === 'browser' && navigator.language));
    const theme = attr('theme');
    return {
      stream,
      source,
      locale,
      style: attr('style') === 'compact' ? 'compact' : 'floor',
      theme: /^(light|dark)$/.test(theme) ? theme : 'auto',
      target: attr('target'),
      // the API sits beside widget.js on the livetally host
      api: new URL('v1/streams/' + stream, new URL('.', script.src)).href
    };
  }

  // 22 random characters kept in localStorage; where storage is blocked, one
  // per page, shared by the page's widgets.
  function viewerId() {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
    const fresh = Array.from(crypto.getRandomValues(new Uint8Array(22)), b => alphabet[b & 63]).join('');
    const key = 'livetally.viewer';
    try {
      const kept = localStorage.getItem(key);
      if (/^[\w-]{8,64}$/.test(kept)) return kept;
      localStorage.setItem(key, fresh);
      return fresh;
    } catch (e) {
      const pageKey = Symbol.for(key);
      return window[pageKey] || (window[pageKey] = fresh);
    }
  }

  const reducedMotion = () => matchMedia('(prefers-reduced-motion: reduce)').matches;

  // The card inside the element's open shadow root; returns its parts.
  function buildCard(host, options) {
    const text = TEXT[options.locale === 'en' ? 'en' : 'zh'];
    host.dataset.theme = options.theme;
    host.lang = options.locale === 'en' ? 'en' : 'zh-CN';
    const root = host.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${CSS}</style><div class="w" part="widget"><div class="s" aria-hidden="true">
<span><b class="views">–</b>${text.views}</span> <span><b class="likes">–</b>${text.likes}</span>
<span><i></i><b class="online">–</b>${text.online}</span></div>
<button type="button" aria-label="${text.like}">${HEART}${text.like}</button>
<div class="sr" aria-live="polite" aria-atomic="true"></div></div>`;
    return {
      root,
      text,
      button: root.querySelector('button'),
      liveRegion: root.querySelector('.sr'),
      number: name => root.querySelector('b.' + name)
    };
  }

  /* One number of the card. It counts up over COUNT_UP_MS when it rises, and
   * jumps when it falls, the first time, and under prefers-reduced-motion.
   * data-value has the exact number, for tests and tools. */
  function animatedNumber(el, format) {
    let current = 0, from = 0, target = -1, startedAt = 0, frame = 0, painted;

    function paint(value) {
      const s = format(value);
      if (s !== painted) el.textContent = painted = s;
    }
    function step(now) {
      const progress = Math.max(0, Math.min(1, (now - startedAt) / COUNT_UP_MS));
      const easeOut = 1 - (1 - progress) ** 3;
      current = progress < 1 ? from + (target - from) * easeOut : target;
      paint(Math.floor(current));
      frame = progress < 1 ? requestAnimationFrame(step) : 0;
    }
    // Ends a count-up at its target (or shows the target at once).
    function finish() {
      cancelAnimationFrame(frame);
      frame = 0;
      if (target >= 0) paint(current = target);
    }
    function set(value) {
      if (value === target) return;
      el.dataset.value = value;
      if (value < current || target < 0 || reducedMotion()) {
        target = value;
        return finish();
      }
      [from, target, startedAt] = [current, value, performance.now()];
      if (!frame) frame = requestAnimationFrame(step);
    }
    return { set, finish };
  }

  // Every timer of a widget, by name, so that a name is armed once at most
  // and teardown clears them all.
  class Timers {
    constructor() {
      this.pending = new Map();
    }
    set(name, ms, fn) {
      this.clear(name);
      this.pending.set(name, setTimeout(() => {
        this.pending.delete(name);
        fn();
      }, ms));
    }
    has(name) {
      return this.pending.has(name);
    }
    clear(name) {
      clearTimeout(this.pending.get(name));
      this.pending.delete(name);
    }
    clearAll() {
      for (const id of this.pending.values()) clearTimeout(id);
      this.pending.clear();
    }
  }

  // Into data-target (an id, else a selector), else after the script tag,
  // else into <body>; waits for the document to be parsed where it must.
  function placeWidget(host, script, target) {
    const place = () => placeWidget(host, script, target);
    const body = document.body;
    if (target) {
      let el = null;
      try {
        el = document.getElementById(target) || document.querySelector(target);
      } catch (e) {
        // not a selector either: as not found
      }
      if (el) return el.append(host);
      if (document.readyState === 'loading') return addEventListener('DOMContentLoaded', place, { once: true });
      console.error(`livetally widget: data-target="${target}" matches no element; placing the widget at its script`);
    }
    if (body && body.contains(script)) script.after(host);
    else if (body) body.append(host);
    else addEventListener('DOMContentLoaded', place, { once: true });
  }

  // --------------------------------------------------------------------------
  // One widget: its card, its connection and its likes.

  function mountWidget(script) {
    const options = readOptions(script);
    if (!options) return;
    const viewer = viewerId();
    const host = document.createElement('livetally-widget');
    const card = buildCard(host, options);
    const format = value => formatCount(value, options.locale, options.style);
    const numbers = {
      views: animatedNumber(card.number('views'), format),
      likes: animatedNumber(card.number('likes'), format),
      online: animatedNumber(card.number('online'), format)
    };
    const timers = new Timers();
    const ledger = new LikeLedger(LIKE_WINDOW_MS);
    const machine = new TransportMachine(() => {
      host.dataset.state = machine.phase;
      host.dataset.transport = machine.mode;
    });

    let views = 0, online = 0, lastSeq = -1, haveTotals = false;
    let announced = '', announcedAt = 0;
    let viewCounted = false;     // by a WebSocket's ?viewer= or a POST
    let streamHasEnded = false;
    let lastSentAt = 0, lastSentOverSocket = 0, pops = 0;
    let warnedBadJson = false;
    // Bumped whenever a connection is abandoned: the late callbacks of an
    // old one see another number and do nothing.
    let generation = 0;
    let connection = null; // the current one: { socket (a WebSocket, or null), close() }
    let probe = null;      // a WebSocket tried beside SSE or polling

    // ---- showing the numbers

    function render() {
      const now = Date.now();
      const likes = ledger.shown(now);
      numbers.views.set(views);
      numbers.likes.set(likes);
      numbers.online.set(online);
      const expiry = ledger.expiry(); // own taps age out then: show it
      if (expiry) timers.set('aging', expiry - now + 5, render);
      else timers.clear('aging');
      const t = card.text;
      announce(`${format(views)} ${t.views}, ${format(likes)} ${t.likes}, ${format(online)} ${t.online}`, now);
    }

    // The live region speaks when its text changes, at most every
    // ANNOUNCE_INTERVAL_MS: a change inside the interval is said at its end.
    function announce(sentence, now) {
      if (!haveTotals || sentence === announced || timers.has('announce')) return;
      const wait = announcedAt + ANNOUNCE_INTERVAL_MS - now;
      if (wait > 0) return timers.set('announce', wait, render);
      card.liveRegion.textContent = announced = sentence;
      announcedAt = now;
    }

    const count = x => (typeof x === 'number' && x >= 0 && x < Infinity ? x : 0);

    // Totals from the server. A lower seq is an old message and is ignored,
    // except in a connection's first (fresh): a restarted server may count
    // its seq from lower.
    function applyTotals(m, fresh) {
      if (!fresh && m.seq < lastSeq) return;
      lastSeq = m.seq;
      views = Math.max(views, count(m.views));
      online = count(m.online);
      ledger.serverTotal(count(m.likes), Date.now());
      haveTotals = true;
      render();
    }

    function parse(text) {
      return parseJsonObject(text, bad => {
        if (warnedBadJson) return;
        warnedBadJson = true;
        console.warn('livetally widget: ignoring what the server sent, not a JSON object:', String(bad).slice(0, 100));
      });
    }

    // ---- the connection

    function connect() {
      machine.connect();
      const gen = ++generation;
      if (machine.mode === 'ws') openWebSocket(gen);
      else if (machine.mode === 'sse') openEventSource(gen);
      else startPolling(gen);
    }

    function abandonConnection() {
      generation++;
      timers.clear('firstTotals');
      if (connection) connection.close();
      connection = null;
    }

    function retryAfter(delay) {
      timers.set('retry', delay, connect);
      sendLikes(); // taps go over HTTP meanwhile
    }

    function connectionLost(closeCode, early) {
      abandonConnection();
      retryAfter(machine.lost(closeCode, early, Date.now(), Math.random));
    }

    function transportBlocked() {
      abandonConnection();
      retryAfter(machine.blocked(Date.now(), Math.random));
    }

    function firstTotalsArrived() {
      timers.clear('firstTotals');
      machine.live(Date.now());
      if (machine.mode !== 'ws') countViewOverHttp();
      sendLikes();
    }

    // Only until a socket has delivered totals: later ones name the viewer in
    // each like message instead, so that a reconnect never counts a view
    // again (even after views.dedup_seconds).
    function webSocketUrl() {
      const url = `${options.api.replace(/^http/, 'ws')}/ws?source=${options.source}`;
      return viewCounted ? url : url + '&viewer=' + viewer;
    }

    function closeSocket(ws) {
      ws.onclose = ws.onerror = ws.onmessage = null;
      ws.close();
    }

    function openWebSocket(gen) {
      let ws;
      try {
        ws = new WebSocket(webSocketUrl());
      } catch (e) { // a Content-Security-Policy
        return transportBlocked();
      }
      connection = { socket: ws, close: () => closeSocket(ws) };
      timers.set('firstTotals', FIRST_TOTALS_TIMEOUT_MS, () => gen === generation && connectionLost(1006, true));
      listenToWebSocket(ws, gen, false);
    }

    function listenToWebSocket(ws, gen, live) {
      ws.onmessage = ev => {
        const m = gen === generation && parse(ev.data);
        if (!m) return;
        if (m.type === 'totals') {
          applyTotals(m, !live);
          if (live) return;
          live = viewCounted = true;
          firstTotalsArrived();
        } else if (m.type === 'error') {
          likesRefusedOverSocket(m);
        } else if (m.type === 'status') {
          statusChanged(m.status);
        }
      };
      // 1001 (a restart) and 1013 (overloaded) do not say WebSocket is blocked
      const lost = code => gen === generation && connectionLost(code, !live && code !== 1001 && code !== 1013);
      ws.onclose = ev => lost(ev.code);
      ws.onerror = () => lost(1006); // alone, without close, when CSP blocks it
    }

    // Not EventSource's own retry (a fixed delay, every viewer at once) but
    // ours, so that every reconnect of any kind starts with a fresh snapshot.
    function openEventSource(gen) {
      let es;
      try {
        es = new EventSource(options.api + '/live');
      } catch (e) { // blocked, or no EventSource
        return transportBlocked();
      }
      let live = false;
      connection = { socket: null, close: () => es.close() };
      const lost = () => gen === generation && connectionLost(0, !live);
      timers.set('firstTotals', FIRST_TOTALS_TIMEOUT_MS, lost);
      es.onerror = lost;
      es.addEventListener('totals', ev => {
        const m = gen === generation && parse(ev.data);
        if (!m) return;
        applyTotals(m, !live);
        if (live) return;
        live = true;
        firstTotalsArrived();
      });
      es.addEventListener('status', ev => {
        const m = gen === generation && parse(ev.data);
        if (m) statusChanged(m.status);
      });
    }

    function startPolling(gen) {
      const close = () => {
        timers.clear('poll');
        timers.clear('pollSoon');
      };
      connection = { socket: null, close };
      poll(gen);
    }

    // GET the totals; 404 is a stream without events yet: zeros.
    function poll(gen) {
      request('GET', null, (status, body) => {
        if (gen !== generation) return;
        const unreachable = status === 0;
        if ((status !== 200 || !body) && status !== 404) return connectionLost(0, unreachable);
        const first = machine.phase === 'connecting';
        applyTotals(body || {}, first);
        if (first) firstTotalsArrived();
        timers.set('poll', POLL_INTERVAL_MS, () => poll(gen));
      });
    }

    /* While on SSE or polling, a WebSocket is tried beside it every 4-6 min
     * (the network may have changed, or the failure was passing). It takes
     * over when it delivers totals; a failed one changes nothing. */
    function scheduleProbe() {
      timers.set('probe', PROBE_INTERVAL_MS * (0.8 + 0.4 * Math.random()), () => {
        if (machine.mode !== 'ws' && machine.phase === 'live' && !probe) openProbe();
        scheduleProbe();
      });
    }

    function closeProbe() {
      timers.clear('probeTimeout');
      if (probe) closeSocket(probe);
      probe = null;
    }

    function openProbe() {
      try {
        probe = new WebSocket(webSocketUrl());
      } catch (e) {
        return;
      }
      const ws = probe;
      timers.set('probeTimeout', FIRST_TOTALS_TIMEOUT_MS, closeProbe);
      ws.onclose = ws.onerror = closeProbe;
      ws.onmessage = ev => {
        const m = parse(ev.data);
        if (!m || m.type !== 'totals') return;
        timers.clear('probeTimeout');
        probe = null;
        if (!machine.probeTookOver(Date.now())) return closeSocket(ws);
        // it replaces SSE or polling, and any retry that was due
        abandonConnection();
        timers.clear('retry');
        connection = { socket: ws, close: () => closeSocket(ws) };
        listenToWebSocket(ws, generation, true);
        viewCounted = true;
        applyTotals(m, true);
        sendLikes();
      };
    }

    // ---- HTTP

    /* GET the totals, or POST events as text/plain (a simple request: no CORS
     * preflight). cb(status, body): status 0 when the server could not be
     * reached, body the JSON object of a 200 or 202, else null. Nothing is
     * called back once the widget has stopped. */
    function request(method, events, cb) {
      const url = events ? options.api + '/events' : options.api;
      fetch(url, { method, body: events && JSON.stringify(events), keepalive: !!events, cache: 'no-store' })
        .then(r => r.text().then(text => [r.status, text]))
        .catch(() => [0, ''])
        .then(([status, text]) => {
          if (machine.state !== 'stopped') cb(status, status === 200 || status === 202 ? parse(text) : null);
        });
    }

    // On SSE or polling the view is a POST (a WebSocket counts it with
    // ?viewer=); tried again at the next first totals when it failed.
    function countViewOverHttp() {
      if (viewCounted) return;
      viewCounted = true;
      request('POST', [{ type: 'view', viewer, source: options.source }], status => {
        viewCounted = status > 0 && status < 500;
      });
    }

    // ---- likes

    function onTap() {
      ledger.tap(Date.now());
      showPlusOne();
      render();
      sendLikes();
    }

    function showPlusOne() {
      const pop = document.createElement('span');
      pop.className = 'pop';
      pop.textContent = '+1';
      card.button.append(pop);
      timers.set('pop' + ++pops, POP_MS, () => pop.remove());
    }

    // Taps go out coalesced: one message every SEND_INTERVAL_MS at most, of
    // MAX_LIKES_PER_MESSAGE at most; the rest in the next one. Over the
    // WebSocket when one is live, else as a POST.
    function sendLikes() {
      timers.clear('send');
      if (!ledger.unsent || streamHasEnded || machine.phase === 'connecting' || machine.phase === 'stopped')
        return; // firstTotalsArrived() sends them
      const wait = lastSentAt + SEND_INTERVAL_MS - Date.now();
      if (wait > 0) return timers.set('send', wait, sendLikes);
      const n = ledger.take(MAX_LIKES_PER_MESSAGE);
      lastSentAt = Date.now();
      const socket = connection && connection.socket;
      if (machine.state === 'live-ws' && socket && socket.readyState === 1 /* OPEN */) {
        lastSentOverSocket = n;
        // named: a reconnected socket has no ?viewer=
        socket.send(JSON.stringify({ type: 'like', n, viewer }));
      } else {
        postLikes(n);
      }
      if (ledger.unsent) timers.set('send', SEND_INTERVAL_MS, sendLikes);
    }

    function postLikes(n) {
      request('POST', [{ type: 'like', n, viewer, source: options.source }], (status, body) => {
        // not counted, or not all of it (which ones is unknown): all taken back
        if (status !== 202 || (body && body.rejected)) ledger.dropped(n);
        if (status === 409) endOfStream();
        render();
        // polling: fetch the total soon, before these taps leave the 2 s window
        if (machine.state === 'live-poll') {
          const gen = generation;
          timers.set('pollSoon', POLL_AFTER_LIKE_MS, () => gen === generation && poll(gen));
        }
      });
    }

    // {type:"error"} on the WebSocket: taps the server refused are taken back.
    function likesRefusedOverSocket(m) {
      if (m.code === 'rate_limited') ledger.dropped(m.dropped);
      // these refuse the last like message whole
      else if (/^(stream_ended|overloaded|not_ready)$/.test(m.code)) ledger.dropped(lastSentOverSocket);
      lastSentOverSocket = 0;
      if (m.code === 'stream_ended') endOfStream();
      render();
    }

    function endOfStream() {
      streamHasEnded = card.button.disabled = true;
    }

    // {type:"status"} when an operator ends or reopens the stream: the like
    // button follows at once, before any tap is refused.
    function statusChanged(status) {
      if (status === 'ended') endOfStream();
      else if (status === 'live' || status === 'scheduled') streamHasEnded = card.button.disabled = false;
    }

    // ---- lifecycle

    function start() {
      if (machine.state !== 'stopped') return;
      card.button.addEventListener('click', onTap);
      scheduleProbe();
      connect();
    }

    /* Teardown, when the element has left the page: the connection closed
     * (the server's online count drops), every timer and animation frame
     * cleared. Taps not sent yet go out as a last POST. Put back in a page,
     * the element starts again: a new connection, no second view. */
    function stop() {
      if (machine.state === 'stopped') return;
      const unsent = streamHasEnded ? 0 : ledger.take(MAX_LIKES_PER_MESSAGE);
      machine.stop();
      if (unsent) postLikes(unsent); // its answer is not waited for
      abandonConnection();
      closeProbe();
      timers.clearAll();
      for (const number of Object.values(numbers)) number.finish();
      for (const pop of card.root.querySelectorAll('.pop')) pop.remove();
      card.button.removeEventListener('click', onTap);
    }

    // The element calls these (see defineElement). A move within the page
    // disconnects and connects it in one go: only a removal still true a
    // microtask later stops it (a promise: queueMicrotask is newer than ES2017).
    host[WIDGET] = {
      connected: start,
      disconnected: () => Promise.resolve().then(() => host.isConnected || stop())
    };
    placeWidget(host, script, options.target);
    start();
  }

  // --------------------------------------------------------------------------
  // <livetally-widget>: a custom element only for its lifecycle callbacks,
  // which it hands to the widget behind it. Each copy of this file on a page
  // runs this, and the first one defines the element; the key is shared
  // (Symbol.for), so its callbacks reach the widgets of every copy.

  const WIDGET = Symbol.for('livetally.widget');

  function defineElement() {
    if (!window.customElements || customElements.get('livetally-widget')) return;
    customElements.define('livetally-widget', class extends HTMLElement {
      connectedCallback() {
        if (this[WIDGET]) this[WIDGET].connected();
      }
      disconnectedCallback() {
        if (this[WIDGET]) this[WIDGET].disconnected();
      }
    });
  }

  // One widget per script tag (currentScript works with async too; without
  // it, every tag of ours not started yet).
  defineElement();
  const me = document.currentScript;
  for (const script of me ? [me] : document.querySelectorAll('script[src*="widget.js"][data-stream]')) {
    if (script.hasAttribute('data-livetally')) continue;
    script.setAttribute('data-livetally', '');
    mountWidget(script);
  }
})();
