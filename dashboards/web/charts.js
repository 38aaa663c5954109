// Charts drawn as inline SVG: hourly bars (with an optional expected-value line and a highlighted
// window), the 7x24 hours-of-week grid and horizontal bars. No library; text goes in as text nodes.

import { h, s, fmtNum, fmtTime, parseTime, severityClass } from './dom.js';

const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;
const MAX_HOURLY_BARS = 24 * 21; // beyond three weeks, bars become days
const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

const pad = (n) => String(n).padStart(2, '0');

/** The smallest "nice" number (1, 2, 2.5, 5 x 10^k) at or above max / ticks, times ticks. */
function niceScale(max, ticks = 4) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((v) => v >= raw);
  return { top: step * Math.ceil(max / step - 1e-9), step };
}

function fmtTick(v) {
  if (v >= 1e6) return `${fmtNum(+(v / 1e6).toFixed(1))}M`;
  if (v >= 1e4) return `${fmtNum(+(v / 1e3).toFixed(1))}k`;
  return fmtNum(+v.toFixed(2));
}

/**
 * Hourly points [{hour, count, expected?}] as a continuous series: missing hours are zero
 * (expected: unknown), several points in one hour add up, long ranges become days.
 */
export function bucketize(points, { withExpected = false } = {}) {
  const byHour = new Map();
  for (const p of Array.isArray(points) ? points : []) {
    const d = parseTime(p && p.hour);
    if (!d) continue;
    const t = Math.floor(d.getTime() / HOUR) * HOUR;
    const cur = byHour.get(t) || { count: 0, expected: null };
    cur.count += Number(p.count) || 0;
    if (withExpected && Number.isFinite(Number(p.expected)) && p.expected !== null) {
      cur.expected = (cur.expected ?? 0) + Number(p.expected);
    }
    byHour.set(t, cur);
  }
  if (byHour.size === 0) return { step: HOUR, buckets: [] };
  const hours = [...byHour.keys()].sort((a, b) => a - b);
  const first = hours[0];
  const last = hours[hours.length - 1];
  const step = (last - first) / HOUR + 1 > MAX_HOURLY_BARS ? DAY : HOUR;
  const start = Math.floor(first / step) * step;
  const buckets = [];
  for (let t = start; t <= last; t += step) buckets.push({ t, count: 0, expected: null });
  for (const [t, v] of byHour) {
    const b = buckets[Math.floor((t - start) / step)];
    b.count += v.count;
    if (v.expected !== null) b.expected = (b.expected ?? 0) + v.expected;
  }
  return { step, buckets };
}

function bucketLabel(t, step, previous) {
  const d = new Date(t);
  const day = `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  if (step >= DAY) return day;
  const hour = `${pad(d.getUTCHours())}:00`;
  const prevDay = previous === null ? null : new Date(previous).getUTCDate();
  return prevDay === d.getUTCDate() ? hour : `${day} ${hour}`;
}

/**
 * Bars of counts per hour (or per day for long ranges), with an optional line of expected counts
 * and an optional highlighted window {from, to} (ISO). Returns a <figure> holding the SVG.
 *   opts: {points, testid, label, expected: bool, highlight, unit: 'accesses', height}
 */
export function hourlyChart(opts) {
  const { points, testid, label, expected = false, highlight = null, unit = 'accesses', height = 220, width = 820 } = opts;
  const { step, buckets } = bucketize(points, { withExpected: expected });
  const W = width;
  const H = height;
  const m = { l: 46, r: 12, t: 14, b: 40 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'chart',
    role: 'img',
    'aria-label': label,
    'data-testid': testid,
    'data-buckets': buckets.length,
  });
  svg.append(s('title', null, label));
  const figure = h('figure', { class: 'chart-figure' }, svg);

  if (buckets.length === 0) {
    svg.append(s('text', { x: W / 2, y: H / 2, class: 'chart-empty', 'text-anchor': 'middle' }, 'No data in this range'));
    return figure;
  }

  const max = Math.max(...buckets.map((b) => Math.max(b.count, b.expected ?? 0)));
  const { top, step: yStep } = niceScale(max);
  const y = (v) => m.t + ph - (v / top) * ph;
  const slot = pw / buckets.length;
  const barW = Math.max(1, Math.min(slot * 0.82, 40));
  const x = (i) => m.l + i * slot;

  // Grid and y axis.
  const grid = s('g', { class: 'grid' });
  for (let v = 0; v <= top + 1e-9; v += yStep) {
    grid.append(
      s('line', { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }),
      s('text', { x: m.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, fmtTick(v)),
    );
  }
  svg.append(grid);

  // The alert's window, behind the bars.
  if (highlight) {
    const from = parseTime(highlight.from);
    const to = parseTime(highlight.to) || from;
    if (from) {
      const start = buckets[0].t;
      const i0 = Math.max(0, Math.floor((from.getTime() - start) / step));
      const i1 = Math.min(buckets.length - 1, Math.floor((to.getTime() - start) / step));
      if (i1 >= 0 && i0 <= buckets.length - 1 && i1 >= i0) {
        svg.append(s('rect', {
          class: 'window',
          x: x(i0),
          y: m.t,
          width: (i1 - i0 + 1) * slot,
          height: ph,
          'data-testid': 'alert-window',
        }, s('title', null, `Alert window ${fmtTime(from)} – ${fmtTime(to)}`)));
      }
    }
  }

  // Bars.
  const bars = s('g', { class: 'bars' });
  const span = step >= DAY ? 'day' : 'hour';
  buckets.forEach((b, i) => {
    const inWindow = highlight && isInWindow(b.t, step, highlight);
    const tip = `${fmtTime(new Date(b.t))} (${span}): ${fmtNum(b.count)} ${unit}` +
      (b.expected !== null ? `, expected ${fmtNum(+b.expected.toFixed(2))}` : '');
    bars.append(s('rect', {
      class: inWindow ? 'bar in-window' : 'bar',
      x: x(i) + (slot - barW) / 2,
      y: y(b.count),
      width: barW,
      height: Math.max(0, m.t + ph - y(b.count)),
      'data-count': b.count,
    }, s('title', null, tip)));
  });
  svg.append(bars);

  // Expected line, broken where unknown.
  if (expected) {
    let d = '';
    let pen = false;
    buckets.forEach((b, i) => {
      if (b.expected === null) {
        pen = false;
        return;
      }
      const px = (x(i) + slot / 2).toFixed(1);
      const py = y(b.expected).toFixed(1);
      d += `${pen ? 'L' : 'M'}${px} ${py} `;
      pen = true;
    });
    if (d) svg.append(s('path', { class: 'expected', d: d.trim(), 'data-testid': 'expected-line' }));
  }

  // X axis labels: at most ~8, on round hours (or days) of UTC.
  const every = labelEvery(buckets.length, step, W);
  const axis = s('g', { class: 'x-axis' });
  axis.append(s('line', { x1: m.l, x2: W - m.r, y1: m.t + ph, y2: m.t + ph }));
  let previous = null;
  buckets.forEach((b, i) => {
    if (Math.round(b.t / step) % every !== 0) return;
    axis.append(s('text', { x: x(i) + slot / 2, y: H - m.b + 16, 'text-anchor': 'middle', class: 'tick' }, bucketLabel(b.t, step, previous)));
    previous = b.t;
  });
  axis.append(s('text', { x: W - m.r, y: H - 4, 'text-anchor': 'end', class: 'axis-note' }, `UTC, per ${span}`));
  svg.append(axis);

  const legend = h('figcaption', { class: 'legend' },
    h('span', { class: 'swatch bar' }), ` ${unit} per ${span}`,
    expected ? [h('span', { class: 'swatch expected' }), ' expected (baseline)'] : null,
    highlight ? [h('span', { class: 'swatch window' }), ' alert window'] : null);
  figure.append(legend);
  return figure;
}

/** Label every Nth bucket, N a round number of hours (1, 2, 3, 6, 12, 24, 48) or days. */
function labelEvery(count, step, width) {
  const most = Math.max(3, Math.floor(width / 100));
  const choices = step >= DAY ? [1, 2, 7, 14, 28, 56, 112] : [1, 2, 3, 6, 12, 24, 48, 72, 168, 336];
  return choices.find((n) => count / n <= most) || choices[choices.length - 1];
}

function isInWindow(t, step, highlight) {
  const from = parseTime(highlight.from);
  const to = parseTime(highlight.to) || from;
  if (!from) return false;
  return t + step > from.getTime() && t <= to.getTime();
}

/**
 * The 7x24 grid of a principal's usual hours: values[0] is Monday 00:00-01:00 UTC, values[167]
 * Sunday 23:00-24:00. Darker = more activity in that hour of the week.
 */
export function hoursGrid(values, { testid = 'hours-grid', label = 'Activity by hour of week (UTC)' } = {}) {
  const v = Array.from({ length: 168 }, (_, i) => {
    const n = Number(Array.isArray(values) ? values[i] : 0);
    return Number.isFinite(n) && n > 0 ? n : 0;
  });
  const max = Math.max(0, ...v);
  const cw = 30;
  const ch = 22;
  const left = 40;
  const topPad = 18;
  const W = left + 24 * cw + 4;
  const H = topPad + 7 * ch + 4;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart heat', role: 'img', 'aria-label': label, 'data-testid': testid });
  svg.append(s('title', null, label));
  for (let hr = 0; hr < 24; hr += 3) {
    svg.append(s('text', { x: left + hr * cw + cw / 2, y: 12, 'text-anchor': 'middle', class: 'tick' }, `${pad(hr)}h`));
  }
  DAYS.forEach((day, d) => {
    svg.append(s('text', { x: left - 6, y: topPad + d * ch + ch / 2 + 4, 'text-anchor': 'end', class: 'tick' }, day));
    for (let hr = 0; hr < 24; hr++) {
      const n = v[d * 24 + hr];
      const cell = s('rect', {
        x: left + hr * cw + 1,
        y: topPad + d * ch + 1,
        width: cw - 2,
        height: ch - 2,
        rx: 3,
        class: n > 0 ? 'cell active' : 'cell',
        'fill-opacity': n > 0 && max > 0 ? (0.18 + 0.82 * (n / max)).toFixed(3) : null,
        'data-value': n,
      }, s('title', null, `${day} ${pad(hr)}:00–${pad(hr + 1)}:00 UTC: ${fmtNum(+n.toFixed(2))}`));
      svg.append(cell);
    }
  });
  return h('figure', { class: 'chart-figure' }, svg,
    h('figcaption', { class: 'legend' },
      h('span', { class: 'swatch cell-empty' }), ' never active ',
      h('span', { class: 'swatch cell-low' }), ' some ',
      h('span', { class: 'swatch cell-high' }), ` most (${fmtNum(+max.toFixed(2))})`));
}

/**
 * Horizontal bars: rows [{label, value, href?, cls?}] with the count at the end of each bar.
 */
export function barList(rows, { testid, label }) {
  const rowH = 26;
  const W = 420;
  const labelW = 110;
  const valueW = 60;
  const H = Math.max(1, rows.length) * rowH + 4;
  const max = Math.max(0, ...rows.map((r) => Number(r.value) || 0));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart bar-list', role: 'img', 'aria-label': label, 'data-testid': testid });
  svg.append(s('title', null, label));
  rows.forEach((r, i) => {
    const value = Number(r.value) || 0;
    const width = max > 0 ? ((W - labelW - valueW) * value) / max : 0;
    const yTop = i * rowH + 2;
    const g = s('g', { class: `bar-row ${r.cls || ''}`.trim() },
      s('text', { x: labelW - 8, y: yTop + rowH / 2 + 4, 'text-anchor': 'end', class: 'label' }, r.label),
      s('rect', { x: labelW, y: yTop + 4, width: Math.max(value > 0 ? 2 : 0, width), height: rowH - 8, rx: 3, class: 'bar' }),
      s('text', { x: labelW + width + 6, y: yTop + rowH / 2 + 4, class: 'value' }, fmtNum(value)),
      s('title', null, `${r.label}: ${fmtNum(value)}`));
    svg.append(r.href ? s('a', { href: r.href }, g) : g);
  });
  return h('figure', { class: 'chart-figure' }, svg);
}

/** Severity rows for barList, in order, coloured. */
export function severityRows(counts, hrefFor) {
  const order = ['critical', 'high', 'medium', 'low', 'info'];
  const rows = order
    .filter((sev) => sev !== 'info' || (counts && counts.info))
    .map((sev) => ({ label: sev, value: (counts && counts[sev]) || 0, cls: severityClass(sev), href: hrefFor ? hrefFor(sev) : null }));
  for (const [sev, n] of Object.entries(counts || {})) {
    if (!order.includes(sev)) rows.push({ label: sev, value: n, cls: severityClass(sev) });
  }
  return rows;
}
