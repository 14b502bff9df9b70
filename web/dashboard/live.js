// ONE WebSocket to /v1/ws for the whole dashboard: it authenticates as the
// operator ({"type":"auth","token":...}: its subscriptions do not count as
// online, and it may hold operator.max_subscriptions of them) and subscribes
// to every stream some view of the page wants. Views say what they want with
// watch(stream, fn) and get each message about that stream: `totals`,
// `status` and `deleted` (the last two from servers that send them).
//
// A lost socket is opened again after a growing pause (1 s .. 30 s) and
// subscribes again to everything still watched.

const MIN_RETRY_MS = 1000;
const MAX_RETRY_MS = 30000;

export class LiveSocket {
  constructor({ token, onState = () => {} }) {
    this.token = token;
    this.onState = onState;        // ('connecting'|'open'|'waiting', detail)
    this.watchers = new Map();     // stream -> Set of fns
    this.ws = null;
    this.retries = 0;
    this.timer = 0;
    this.closed = false;
    this.overLimit = 0;            // subscriptions refused (too_many_subscriptions) on this socket
    this.connect();
  }

  url() {
    return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/v1/ws`;
  }

  connect() {
    if (this.closed) return;
    this.onState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (e) {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.retries = 0;
      if (this.token) this.send({ type: 'auth', token: this.token });
      this.overLimit = 0;
      for (const stream of this.watchers.keys()) this.send({ type: 'subscribe', stream });
      this.onState('open');
    };
    ws.onmessage = ev => this.receive(ev.data);
    ws.onclose = () => {
      if (this.ws === ws) {
        this.ws = null;
        this.retry();
      }
    };
    ws.onerror = () => {}; // onclose follows
  }

  retry() {
    if (this.closed) return;
    const delay = Math.min(MAX_RETRY_MS, MIN_RETRY_MS * 2 ** this.retries++);
    this.onState('waiting', delay);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  receive(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch (e) {
      return;
    }
    if (!m || typeof m !== 'object') return;
    if (m.type === 'error' && m.code === 'too_many_subscriptions') {
      // one error per subscription refused: the rest are live
      this.overLimit++;
      this.onState('limited', this.watchers.size - this.overLimit);
      return;
    }
    if (m.type === 'auth' || m.type === 'error' || typeof m.stream !== 'string') return;
    const fns = this.watchers.get(m.stream);
    if (fns) for (const fn of [...fns]) fn(m);
  }

  // Calls fn with each message about stream; returns the function that stops it.
  watch(stream, fn) {
    let fns = this.watchers.get(stream);
    if (!fns) {
      this.watchers.set(stream, fns = new Set());
      this.send({ type: 'subscribe', stream });
    }
    fns.add(fn);
    return () => {
      fns.delete(fn);
      if (!fns.size && this.watchers.get(stream) === fns) {
        this.watchers.delete(stream);
        this.send({ type: 'unsubscribe', stream });
      }
    };
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
  }
}
