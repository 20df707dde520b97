// Small DOM helpers: elements built with text content (never innerHTML from data), status
// badges, and file downloads.

export function h (tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
    else if (k === 'class') el.className = v
    else if (k === 'dataset') Object.assign(el.dataset, v)
    else el.setAttribute(k, v === true ? '' : v)
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue
    el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  }
  return el
}

export function badge (status) {
  const s = status || 'none'
  return h('span', { class: `badge st-${s}` }, s)
}

export function fmt (v, digits = 4) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return v ?? '–'
  if (Number.isInteger(v)) return String(v)
  return Number(v.toPrecision(digits)).toString()
}

export function download (name, blob) {
  const url = URL.createObjectURL(blob)
  const a = h('a', { href: url, download: name })
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}

export function csv (rows) {
  const cell = v => {
    const s = v === null || v === undefined ? '' : String(v)
    return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
  }
  return rows.map(r => r.map(cell).join(',')).join('\n') + '\n'
}

export function errorBox (e) {
  return h('p', { class: 'error', role: 'alert' }, e.message || String(e))
}

/// A DICOM date (YYYYMMDD) as YYYY-MM-DD.
export function isoDate (d) {
  return /^\d{8}$/.test(d || '') ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}` : d
}
