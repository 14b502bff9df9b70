// Charts (uPlot, from npm, bundled by the build): the stream page's three
// per-minute charts, which start from GET .../timeseries and then move with
// the pushes, with the segments drawn as markers; and the series page's
// comparison chart.
//
// Each chart's box is role="img" with a label that says what it shows; the
// canvas itself is hidden from screen readers. data-total, data-points and
// data-markers on the box say what is drawn (for tests and tools).

import uPlot from 'uplot';
import { formatOffset, formatTime } from './format.js';

const PALETTE = ['#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2', '#dc2626', '#4b5563'];

function widthOf(el) {
  return Math.max(240, Math.floor(el.getBoundingClientRect().width || el.clientWidth || 600));
}

// Keeps the chart as wide as its box.
function followWidth(box, u, height) {
  if (typeof ResizeObserver !== 'function') return () => {};
  const ro = new ResizeObserver(() => {
    const w = widthOf(box);
    if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height });
  });
  ro.observe(box);
  return () => ro.disconnect();
}

// Vertical lines at the segments' starts, each with its title: drawn on the
// canvas (fillText), so a title is never markup.
function markersPlugin(getMarkers, onDrawn) {
  return {
    hooks: {
      draw: [u => {
        const { ctx } = u;
        const { left, top, width, height } = u.bbox;
        let drawn = 0;
        ctx.save();
        ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`;
        ctx.textBaseline = 'top';
        for (const m of getMarkers()) {
          const x = Math.round(u.valToPos(m.t, 'x', true));
          if (!(x >= left && x <= left + width)) continue;
          const row = drawn % 3; // labels of close markers on rows of their own
          drawn++;
          ctx.strokeStyle = '#f59e0b';
          ctx.lineWidth = 2 * devicePixelRatio;
          ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
          ctx.fillStyle = '#b45309';
          // right of the line, or left of it in the chart's right part
          const right = x > left + width * 0.6;
          ctx.textAlign = right ? 'right' : 'left';
          ctx.fillText(String(m.title).slice(0, 24), x + (right ? -4 : 4) * devicePixelRatio,
                       top + (2 + row * 14) * devicePixelRatio);
        }
        ctx.restore();
        onDrawn(drawn);
      }]
    }
  };
}

/* One metric per minute bucket: `sum` adds each push's rise to the bucket
 * it falls in (views, likes), `max` keeps the highest value seen in it
 * (online). */
export class MinuteChart {
  constructor(box, { label, color, lang = 'en', kind = 'sum', step = 60, minutes = 30, height = 180 }) {
    this.box = box;
    this.label = label;
    this.kind = kind;
    this.step = step;
    this.minutes = minutes;
    this.height = height;
    this.xs = [];
    this.ys = [];
    this.markers = [];
    box.setAttribute('role', 'img');
    const opts = {
      width: widthOf(box),
      height,
      legend: { show: false },
      cursor: { show: true, drag: { x: false, y: false } },
      // x runs to the end of the last bucket, "now": a segment started a
      // moment ago is inside the chart
      scales: { x: { time: true, range: (u, min, max) => [min, max + step] },
                y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      // times in the operator's timezone and language (24-hour)
      axes: [{ stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,.2)' },
               values: (u, ticks) => ticks.map(t => formatTime(t * 1000, lang, { date: false })) },
             { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,.2)' }, size: 56 }],
      series: [{}, { label, stroke: color, width: 2, fill: color + '22', points: { show: false } }],
      plugins: [markersPlugin(() => this.markers, n => { box.dataset.markers = String(n); })]
    };
    this.u = new uPlot(opts, [[], []], box);
    this.u.root.setAttribute('aria-hidden', 'true');
    this.unfollow = followWidth(box, this.u, height);
    this.describe();
  }

  bucketOf(ms) {
    return Math.floor(ms / 1000 / this.step) * this.step;
  }

  // The series from the timeseries answer's points, column col.
  load(points, col) {
    this.xs = points.map(p => p[0]);
    this.ys = points.map(p => +p[col] || 0);
    this.padTo(this.bucketOf(Date.now()));
    this.redraw();
  }

  // Empty buckets up to the one starting at t; keeps the last `minutes`.
  padTo(t) {
    if (!this.xs.length) {
      this.xs.push(t);
      this.ys.push(0);
    }
    while (this.xs[this.xs.length - 1] < t) {
      this.xs.push(this.xs[this.xs.length - 1] + this.step);
      this.ys.push(0);
    }
    const keep = this.minutes * 60 / this.step;
    if (this.xs.length > keep) {
      this.xs.splice(0, this.xs.length - keep);
      this.ys.splice(0, this.ys.length - keep);
    }
  }

  // A push at tsMs: value is the rise since the previous push (sum) or the
  // current value (max).
  push(tsMs, value) {
    const t = this.bucketOf(tsMs);
    this.padTo(t);
    const i = this.xs.lastIndexOf(t);
    if (i < 0) return; // older than the window
    if (this.kind === 'sum') this.ys[i] += Math.max(0, value);
    else this.ys[i] = Math.max(this.ys[i], value);
    this.redraw();
  }

  setMarkers(markers) {
    this.markers = markers;
    this.redraw();
  }

  redraw() {
    this.u.setData([this.xs.slice(), this.ys.slice()]);
    this.describe();
  }

  describe() {
    const total = this.ys.reduce((a, b) => a + b, 0);
    const last = this.ys.length ? this.ys[this.ys.length - 1] : 0;
    this.box.dataset.total = String(total);
    this.box.dataset.points = String(this.xs.length);
    this.box.dataset.last = String(last);
    this.box.setAttribute('aria-label', `${this.label}: ${last}`);
  }

  destroy() {
    this.unfollow();
    this.u.destroy();
  }
}

/* The series page: one line per stream, x = seconds since that stream's
 * start (the answer of GET /v1/series/{id}/timeseries). */
export function comparisonChart(box, answer, { label, height = 320 }) {
  const streams = answer.streams || [];
  const points = answer.points || [];
  const data = [points.map(p => p[0])];
  streams.forEach((s, j) => data.push(points.map(p => (p[j + 1] === null ? null : +p[j + 1]))));
  box.setAttribute('role', 'img');
  box.setAttribute('aria-label', label);
  box.dataset.streams = String(streams.length);
  box.dataset.points = String(points.length);
  const opts = {
    width: widthOf(box),
    height,
    legend: { show: true, live: false },
    scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [{ stroke: 'currentColor', values: (u, ticks) => ticks.map(formatOffset),
             grid: { stroke: 'rgba(128,128,128,.2)' } },
           { stroke: 'currentColor', size: 56, grid: { stroke: 'rgba(128,128,128,.2)' } }],
    series: [{ label: '' }, ...streams.map((s, j) => ({
      label: String(s.stream), stroke: PALETTE[j % PALETTE.length], width: 2, spanGaps: false,
      points: { show: false }
    }))]
  };
  const u = new uPlot(opts, data, box);
  u.over.parentElement.setAttribute('aria-hidden', 'true');
  const unfollow = followWidth(box, u, height);
  return { destroy() { unfollow(); u.destroy(); } };
}
