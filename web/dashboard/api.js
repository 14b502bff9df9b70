// The HTTP API as the dashboard uses it: the operator token (kept in
// sessionStorage only: gone when the tab closes), JSON in and out, and
// errors as ApiError with the contract's code.
//
// An endpoint this server does not have (an older livetally: 404 not_found
// "no such endpoint", or 405) is an ApiError whose `missing` is true: the
// page says so where the feature would be, and goes on.

const TOKEN_KEY = 'livetally.dashboard.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
    this.missing = status === 405 || (status === 404 && code === 'not_found');
  }
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch (e) {
    return '';
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch (e) {}
}

const enc = encodeURIComponent;

// fetch with the token; resolves to the parsed JSON (null for 204), rejects
// with ApiError (or the network's TypeError).
export async function request(method, path, body, { token = getToken() } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body)
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (e) {}
  if (!res.ok) throw new ApiError(res.status, json && json.error, json && json.message);
  return json;
}

export const api = {
  stream: id => request('GET', `/v1/streams/${enc(id)}`),
  // Every stream, following next_cursor (at most `pages` pages of 500).
  async allStreams(pages = 20) {
    const out = [];
    let cursor = null;
    for (let i = 0; i < pages; i++) {
      const q = `limit=500${cursor ? `&cursor=${enc(cursor)}` : ''}`;
      const r = await request('GET', `/v1/streams?${q}`);
      out.push(...(r.streams || []));
      cursor = r.next_cursor;
      if (!cursor) break;
    }
    return out;
  },
  timeseries: (id, fromS, step = '1m') =>
    request('GET', `/v1/streams/${enc(id)}/timeseries?from=${fromS}&step=${step}&metrics=views,likes,online`),
  putStream: (id, fields) => request('PUT', `/v1/streams/${enc(id)}`, fields),
  segments: id => request('GET', `/v1/streams/${enc(id)}/segments`),
  startSegment: (id, title) => request('POST', `/v1/streams/${enc(id)}/segments`, { title }),
  series: id => request('GET', `/v1/series/${enc(id)}`),
  seriesTimeseries: (id, metric) => request('GET', `/v1/series/${enc(id)}/timeseries?metric=${enc(metric)}`),
  operatorStatus: () => request('GET', '/v1/operator/status'),
  operatorStatusWith: token => request('GET', '/v1/operator/status', undefined, { token }),
  csvUrl: id => `/v1/streams/${enc(id)}/timeseries?format=csv`,
  reportUrl: (id, lang, tz) =>
    `/v1/streams/${enc(id)}/report?format=html&locale=${lang === 'zh' ? 'zh-CN' : 'en'}&tz=${enc(tz)}`
};
