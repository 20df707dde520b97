// The audit browser: search the hash-chained trail (text, actor, action, object), page through
// it newest first, open an object's whole history, and run the verification of the whole chain.

import { api } from '../api.js'
import { h } from '../dom.js'

const FIELDS = ['text', 'actor', 'action', 'object_type', 'object_id']
const PAGE = 50

export async function auditPage (params) {
  const q = new URLSearchParams()
  for (const f of FIELDS) if (params.get(f)) q.set(f, params.get(f))
  const offset = Number(params.get('offset') || 0)
  const oldest = params.get('order') === 'oldest'
  q.set('newest_first', String(!oldest))
  q.set('limit', String(PAGE))
  q.set('offset', String(offset))
  const events = await api(`/api/v1/audit/events?${q}`)
  const go = changes => {
    const p = new URLSearchParams(params)
    for (const [k, v] of Object.entries(changes)) if (v) p.set(k, v); else p.delete(k)
    location.hash = `#/audit?${p}`
  }
  const inputs = Object.fromEntries(FIELDS.map(f => [f, h('input', { id: `audit-${f}`, name: f, value: params.get(f) || '', placeholder: f.replace('_', ' ') })]))
  const form = h('form', { class: 'filters', onsubmit: e => {
    e.preventDefault()
    go({ ...Object.fromEntries(FIELDS.map(f => [f, inputs[f].value.trim()])), offset: '' })
  } }, FIELDS.map(f => h('label', {}, `${f.replace('_', ' ')} `, inputs[f])),
  h('label', {}, h('input', { type: 'checkbox', id: 'audit-oldest', checked: oldest, onchange: e => go({ order: e.target.checked ? 'oldest' : '' }) }), ' oldest first'),
  h('button', { type: 'submit' }, 'Search'))
  const result = h('div', { class: 'verify-result', role: 'status' })
  const verify = h('button', { type: 'button', id: 'verify', onclick: async () => {
    result.textContent = 'verifying…'
    try {
      const r = await api('/api/v1/audit/verify')
      result.className = `verify-result ${r.ok ? 'ok' : 'bad'}`
      result.dataset.ok = String(r.ok)
      result.textContent = r.ok
        ? `Verified: ${r.events} events, ${r.checkpoints} signed checkpoints, the chain and every signature intact.`
        : `BROKEN: ${JSON.stringify(r)}`
    } catch (e) {
      result.className = 'verify-result bad'
      result.textContent = e.message
    }
  } }, 'Verify the whole trail')
  const history = params.get('object_id') && params.get('object_type')
    ? h('p', { class: 'notice' }, `History of ${params.get('object_type')} ${params.get('object_id')}. `, h('a', { href: '#/audit' }, 'Clear'))
    : null
  const table = h('table', { class: 'audit' },
    h('thead', {}, h('tr', {}, ['#', 'time (UTC)', 'actor', 'action', 'object', 'reason'].map(x => h('th', {}, x)))),
    h('tbody', {}, events.items.map(e => h('tr', { 'data-action': e.action, 'data-seq': e.seq },
      h('td', { class: 'num' }, String(e.seq)), h('td', {}, e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')), h('td', {}, e.actor), h('td', {}, e.action),
      h('td', {}, h('a', { href: `#/audit?object_type=${encodeURIComponent(e.object_type)}&object_id=${encodeURIComponent(e.object_id)}`, title: 'this object\'s history' }, `${e.object_type} ${e.object_id}`)),
      h('td', {}, e.reason || '')))))
  const pager = h('p', { class: 'pager' },
    offset > 0 ? h('button', { type: 'button', onclick: () => go({ offset: String(Math.max(0, offset - PAGE)) }) }, '← newer') : null,
    ` events ${offset + 1}–${offset + events.items.length} `,
    events.items.length === PAGE ? h('button', { type: 'button', onclick: () => go({ offset: String(offset + PAGE) }) }, 'older →') : null)
  return h('section', { class: 'audit-page' }, h('h1', {}, 'Audit trail'), h('div', { class: 'verify' }, verify, result), form, history, table, pager)
}
