// The dashboard's words in English and Chinese. The language follows the
// browser's (navigator.languages) until the operator picks one on the page;
// the pick is kept for the browser session (sessionStorage), like the token.

const WORDS = {
  en: {
    appName: 'livetally dashboard',
    skip: 'Skip to content',
    language: 'Language',
    timezone: 'Times in {tz}',
    loginTitle: 'Operator sign-in',
    loginHelp: 'The operator token is kept in this browser tab only, until it closes.',
    token: 'Operator token',
    signIn: 'Sign in',
    signOut: 'Sign out',
    checking: 'Checking…',
    badToken: 'This token is not accepted ({code}).',
    noTokens: 'This server has no operator tokens configured: operator features are off.',
    streams: 'Streams',
    series: 'Series',
    noStreams: 'No streams yet.',
    statusLive: 'live', statusScheduled: 'scheduled', statusEnded: 'ended',
    groupLive: 'Live', groupScheduled: 'Scheduled', groupEnded: 'Ended',
    stream: 'Stream', title: 'Title', status: 'Status',
    views: 'Views', likes: 'Likes', online: 'Online', uniques: 'Uniques',
    peakOnline: 'Peak online', peakAt: 'at {time}',
    viewsPerMin: 'Views per minute', likesPerMin: 'Likes per minute', onlineChart: 'Online',
    back: 'All streams',
    goLive: 'Go live', end: 'End stream', reopen: 'Reopen',
    confirmEnd: 'End the stream “{title}”? New views and likes will be refused.',
    csv: 'Time series (CSV)', report: 'Report (HTML)',
    sources: 'Sources', source: 'Source',
    counted: 'Counted here', reported: 'Reported by the platform',
    reportedAt: 'Reported at', lower: 'lower than the report before',
    segments: 'Segments', segment: 'Segment', started: 'Started', ended: 'Ended', running: 'running',
    newSegment: 'New segment title', startSegment: 'Start segment',
    segmentStarted: 'Segment “{title}” started.',
    noSegments: 'No segments yet.',
    history: 'Status history',
    refused: 'Refused here: {taps} taps over budgets, {rejected} rejected events.',
    operator: 'Server figures',
    operatorHelp: 'Refreshed every few seconds.',
    instance: 'Instance', generated: 'As of',
    tapsDropped: 'Taps dropped by budgets', eventsRejected: 'Rejected events',
    eventsAccepted: 'Accepted events', likesAccepted: 'Accepted likes',
    redis: 'Redis', redisState: 'Redis state', connected: 'connected', disconnected: 'disconnected',
    backlog: 'Backlog entries', dirty: 'Streams waiting to flush',
    worker: 'Worker', pid: 'PID', connections: 'Connections', ws: 'WebSocket', sse: 'SSE',
    notAvailable: 'This server does not offer {what} yet.',
    failed: 'Could not load {what}: {message}',
    liveOk: 'Live updates connected', liveWaiting: 'Live updates reconnecting…',
    liveLimited: 'Live numbers cover {n} streams (this server’s limit per socket).',
    streamEndedMsg: 'This stream has ended.', deleted: 'This stream was deleted.',
    compare: 'Streams of the series lined up by time since each one’s start',
    metric: 'Metric', sinceStart: 'Time since start',
    notFound: 'Not found.',
    loading: 'Loading…',
    display: 'display form',
    saved: 'Done.',
    statusChanged: 'Status is now {status}.'
  },
  zh: {
    appName: 'livetally 控制台',
    skip: '跳到内容',
    language: '语言',
    timezone: '时间按 {tz} 显示',
    loginTitle: '运营登录',
    loginHelp: '令牌只保存在这个浏览器标签页中，关闭即清除。',
    token: '运营令牌',
    signIn: '登录',
    signOut: '退出',
    checking: '正在验证…',
    badToken: '令牌未被接受（{code}）。',
    noTokens: '服务器未配置运营令牌：运营功能已关闭。',
    streams: '直播',
    series: '系列',
    noStreams: '还没有直播。',
    statusLive: '直播中', statusScheduled: '未开始', statusEnded: '已结束',
    groupLive: '直播中', groupScheduled: '未开始', groupEnded: '已结束',
    stream: '直播', title: '标题', status: '状态',
    views: '观看', likes: '点赞', online: '在线', uniques: '独立观众',
    peakOnline: '最高在线', peakAt: '于 {time}',
    viewsPerMin: '每分钟观看', likesPerMin: '每分钟点赞', onlineChart: '在线',
    back: '全部直播',
    goLive: '开始直播', end: '结束直播', reopen: '重新开启',
    confirmEnd: '确定结束直播“{title}”？之后的观看和点赞将被拒绝。',
    csv: '时间序列（CSV）', report: '报告（HTML）',
    sources: '来源', source: '来源',
    counted: '本站统计', reported: '平台报告',
    reportedAt: '报告时间', lower: '低于上一次报告',
    segments: '环节', segment: '环节', started: '开始', ended: '结束', running: '进行中',
    newSegment: '新环节名称', startSegment: '开始环节',
    segmentStarted: '环节“{title}”已开始。',
    noSegments: '还没有环节。',
    history: '状态记录',
    refused: '本站拒绝：超出额度的点赞 {taps} 次，无效事件 {rejected} 个。',
    operator: '服务器指标',
    operatorHelp: '每隔几秒刷新。',
    instance: '实例', generated: '截至',
    tapsDropped: '超出额度丢弃的点赞', eventsRejected: '被拒绝的事件',
    eventsAccepted: '接受的事件', likesAccepted: '接受的点赞',
    redis: 'Redis', redisState: 'Redis 状态', connected: '已连接', disconnected: '未连接',
    backlog: '积压条目', dirty: '待写入的直播',
    worker: '工作进程', pid: 'PID', connections: '连接', ws: 'WebSocket', sse: 'SSE',
    notAvailable: '此服务器尚未提供{what}。',
    failed: '无法加载{what}：{message}',
    liveOk: '实时更新已连接', liveWaiting: '实时更新正在重连…',
    liveLimited: '实时数字只覆盖 {n} 个直播（服务器每个连接的上限）。',
    streamEndedMsg: '直播已结束。', deleted: '直播已被删除。',
    compare: '系列中各场直播按开始后的时间对齐',
    metric: '指标', sinceStart: '开始后',
    notFound: '未找到。',
    loading: '加载中…',
    display: '显示形式',
    saved: '完成。',
    statusChanged: '状态已变为{status}。'
  }
};

const KEY = 'livetally.dashboard.lang';
let lang = initialLang();
const listeners = new Set();

function initialLang() {
  try {
    const kept = sessionStorage.getItem(KEY);
    if (kept === 'en' || kept === 'zh') return kept;
  } catch (e) {}
  const tags = (navigator.languages && navigator.languages.length) ? navigator.languages : [navigator.language];
  for (const tag of tags) {
    const t = String(tag || '').toLowerCase();
    if (t.startsWith('zh')) return 'zh';
    if (t.startsWith('en')) return 'en';
  }
  return 'en';
}

export function currentLang() {
  return lang;
}

// The locale the display rule takes for this language.
export function displayLocale() {
  return lang === 'zh' ? 'zh-CN' : 'en';
}

export function setLang(next) {
  if (next !== 'en' && next !== 'zh' || next === lang) return;
  lang = next;
  try {
    sessionStorage.setItem(KEY, next);
  } catch (e) {}
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// The word for key, with {name} filled from vars (as text: the caller puts
// the result in textContent, never in markup).
export function t(key, vars = {}) {
  const s = WORDS[lang][key] ?? WORDS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

export function statusWord(status) {
  const key = { live: 'statusLive', scheduled: 'statusScheduled', ended: 'statusEnded' }[status];
  return key ? t(key) : String(status || '–');
}
