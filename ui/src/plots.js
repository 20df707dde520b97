// The results plots as plain SVG (so they export as SVG and PNG exactly as shown): waterfall,
// spider, longitudinal lines and a distribution strip with its box. Each takes rows already
// computed by results.js and returns { svg, csv } where csv is the plotted data.

import { h, fmt, download } from './dom.js'

const NS = 'http://www.w3.org/2000/svg'
const W = 640
const H = 320
const M = { l: 64, r: 16, t: 28, b: 56 }
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22']

function s (tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag)
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, v)
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  return el
}

export function colour (i) {
  return PALETTE[i % PALETTE.length]
}

function frame (title, kind) {
  const svg = s('svg', { xmlns: NS, viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': title, 'data-plot': kind, 'font-family': 'sans-serif', 'font-size': 12 })
  svg.append(s('rect', { x: 0, y: 0, width: W, height: H, fill: '#fff' }))
  svg.append(s('text', { x: M.l, y: 18, 'font-weight': 'bold' }, title))
  return svg
}

function nice (lo, hi) {
  if (!(hi > lo)) { lo -= 1; hi += 1 }
  const pad = (hi - lo) * 0.08
  return [lo - pad, hi + pad]
}

function yAxis (svg, lo, hi, label, right = W - M.r) {
  const y = v => M.t + (H - M.t - M.b) * (1 - (v - lo) / (hi - lo))
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / 4)))
  const mult = [1, 2, 5, 10].find(m => (hi - lo) / (step * m) <= 6) || 10
  for (let v = Math.ceil(lo / (step * mult)) * step * mult; v <= hi; v += step * mult) {
    svg.append(s('line', { x1: M.l, x2: right, y1: y(v), y2: y(v), stroke: '#e3e3e3' }))
    svg.append(s('text', { x: M.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt(v, 3)))
  }
  svg.append(s('line', { x1: M.l, x2: M.l, y1: M.t, y2: H - M.b, stroke: '#333' }))
  svg.append(s('text', { x: 14, y: (M.t + H - M.b) / 2, transform: `rotate(-90 14 ${(M.t + H - M.b) / 2})`, 'text-anchor': 'middle' }, label))
  return y
}

/// Dashed reference lines ({ value, label }) across the plot, labelled at the right.
function references (svg, y, refs) {
  for (const r of refs) {
    svg.append(s('line', { x1: M.l, x2: W - M.r, y1: y(r.value), y2: y(r.value), stroke: '#666', 'stroke-dasharray': '4 3' }))
    svg.append(s('text', { x: W - M.r - 2, y: y(r.value) - 3, 'text-anchor': 'end', fill: '#666' }, r.label))
  }
}

/// bars: [{ label, value }] (percent change), sorted here from largest to smallest.
/// lines: reference lines [{ value, label }] (RECIST's +20 % and −30 %).
export function waterfall (title, bars, { unit = '%', lines = [] } = {}) {
  const svg = frame(title, 'waterfall')
  const sorted = [...bars].sort((a, b) => b.value - a.value)
  const [lo, hi] = nice(Math.min(0, ...sorted.map(b => b.value), ...lines.map(l => l.value)), Math.max(0, ...sorted.map(b => b.value), ...lines.map(l => l.value)))
  const y = yAxis(svg, lo, hi, `best change (${unit})`)
  const bw = (W - M.l - M.r) / Math.max(1, sorted.length)
  sorted.forEach((b, i) => {
    const x = M.l + i * bw + bw * 0.15
    const top = Math.min(y(0), y(b.value))
    const rect = s('rect', { x, y: top, width: bw * 0.7, height: Math.max(1, Math.abs(y(b.value) - y(0))), fill: b.value <= 0 ? '#2c7fb8' : '#d95f0e', 'data-bar': b.label })
    rect.append(s('title', {}, `${b.label}: ${fmt(b.value, 3)} ${unit}`))
    svg.append(rect)
    svg.append(s('text', { x: x + bw * 0.35, y: H - M.b + 14, 'text-anchor': 'end', transform: `rotate(-35 ${x + bw * 0.35} ${H - M.b + 14})` }, b.label))
  })
  svg.append(s('line', { x1: M.l, x2: W - M.r, y1: y(0), y2: y(0), stroke: '#333' }))
  references(svg, y, lines)
  const csv = [['subject', `best_change_${unit === '%' ? 'percent' : unit}`], ...sorted.map(b => [b.label, b.value])]
  return { svg, csv }
}

/// series: [{ label, points: [{ x (visit index), value }] }]; xs: visit names.
export function lines (title, series, xs, { ylabel = '', kind = 'lines', zero = false } = {}) {
  const svg = frame(title, kind)
  const values = series.flatMap(se => se.points.map(p => p.value)).filter(Number.isFinite)
  const [lo, hi] = nice(Math.min(zero ? 0 : Infinity, ...values), Math.max(zero ? 0 : -Infinity, ...values))
  // The legend takes the right-hand 150 px, outside the plotting area.
  const right = W - M.r - 150
  const y = yAxis(svg, lo, hi, ylabel, right)
  const x = i => M.l + 30 + (right - M.l - 60) * (xs.length > 1 ? i / (xs.length - 1) : 0.5)
  xs.forEach((name, i) => svg.append(s('text', { x: x(i), y: H - M.b + 18, 'text-anchor': 'middle' }, name)))
  if (zero) svg.append(s('line', { x1: M.l, x2: right, y1: y(0), y2: y(0), stroke: '#333' }))
  series.forEach((se, n) => {
    const pts = se.points.filter(p => Number.isFinite(p.value))
    const c = se.colour || colour(n)
    svg.append(s('polyline', { points: pts.map(p => `${x(p.x)},${y(p.value)}`).join(' '), fill: 'none', stroke: c, 'stroke-width': se.width || 2, 'stroke-dasharray': se.dash, 'data-series': se.label }))
    for (const p of pts) {
      const dot = s('circle', { cx: x(p.x), cy: y(p.value), r: 3.5, fill: c })
      dot.append(s('title', {}, `${se.label} ${xs[p.x]}: ${fmt(p.value)}`))
      svg.append(dot)
    }
  })
  // Legend, right-aligned rows.
  series.forEach((se, n) => {
    const ly = M.t + 4 + n * 14
    svg.append(s('line', { x1: right + 10, x2: right + 26, y1: ly, y2: ly, stroke: se.colour || colour(n), 'stroke-width': 2, 'stroke-dasharray': se.dash }))
    svg.append(s('text', { x: right + 30, y: ly + 4, 'font-size': 11 }, se.label.length > 20 ? `${se.label.slice(0, 19)}…` : se.label))
  })
  const csv = [['series', ...xs], ...series.map(se => [se.label, ...xs.map((_, i) => se.points.find(p => p.x === i)?.value ?? '')])]
  return { svg, csv }
}

/// groups: [{ label, values: [{ subject, value }] }]: one strip with its box (quartiles) per group.
export function distribution (title, groups, { ylabel = '', lines: refs = [] } = {}) {
  const svg = frame(title, 'distribution')
  const values = groups.flatMap(g => g.values.map(v => v.value))
  const [lo, hi] = nice(Math.min(...values, ...refs.map(r => r.value)), Math.max(...values, ...refs.map(r => r.value)))
  const y = yAxis(svg, lo, hi, ylabel)
  const gw = (W - M.l - M.r) / Math.max(1, groups.length)
  groups.forEach((g, i) => {
    const cx = M.l + gw * (i + 0.5)
    const v = g.values.map(x => x.value).sort((a, b) => a - b)
    const q = p => v.length ? v[Math.min(v.length - 1, Math.max(0, Math.round(p * (v.length - 1))))] : 0
    if (v.length) {
      svg.append(s('rect', { x: cx - 22, y: y(q(0.75)), width: 44, height: Math.max(1, y(q(0.25)) - y(q(0.75))), fill: 'none', stroke: '#555' }))
      svg.append(s('line', { x1: cx - 22, x2: cx + 22, y1: y(q(0.5)), y2: y(q(0.5)), stroke: '#555', 'stroke-width': 2 }))
    }
    g.values.forEach((p, k) => {
      const dot = s('circle', { cx: cx + ((k % 5) - 2) * 6, cy: y(p.value), r: 4, fill: colour(i), 'fill-opacity': 0.8 })
      dot.append(s('title', {}, `${p.subject}: ${fmt(p.value)}`))
      svg.append(dot)
    })
    svg.append(s('text', { x: cx, y: H - M.b + 18, 'text-anchor': 'middle' }, `${g.label} (n=${g.values.length})`))
  })
  references(svg, y, refs)
  const csv = [['group', 'subject', 'value'], ...groups.flatMap(g => g.values.map(v => [g.label, v.subject, v.value]))]
  return { svg, csv }
}

function svgText (svg) {
  return new XMLSerializer().serializeToString(svg)
}

async function png (svg) {
  const url = URL.createObjectURL(new Blob([svgText(svg)], { type: 'image/svg+xml' }))
  try {
    const img = new Image()
    await new Promise((resolve, reject) => { img.onload = resolve; img.onerror = reject; img.src = url })
    const c = document.createElement('canvas')
    c.width = W * 2
    c.height = H * 2
    const g = c.getContext('2d')
    g.scale(2, 2)
    g.drawImage(img, 0, 0)
    return await new Promise(resolve => c.toBlob(resolve, 'image/png'))
  } finally {
    URL.revokeObjectURL(url)
  }
}

/// A figure: the plot with its export buttons (SVG, PNG, CSV).
export function figure (name, { svg, csv }, csvText) {
  const bar = h('div', { class: 'exports' },
    h('button', { type: 'button', onclick: () => download(`${name}.svg`, new Blob([svgText(svg)], { type: 'image/svg+xml' })) }, 'SVG'),
    h('button', { type: 'button', onclick: async () => download(`${name}.png`, await png(svg)) }, 'PNG'),
    h('button', { type: 'button', onclick: () => download(`${name}.csv`, new Blob([csvText(csv)], { type: 'text/csv' })) }, 'CSV'))
  return h('figure', { class: 'plot', 'data-figure': name }, svg, bar)
}
