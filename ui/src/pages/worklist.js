// A reader's or adjudicator's worklist: their cases in the order the read design sets (random
// per reader where it says so), each with its state. Cases are known by their label only.

import { api } from '../api.js'
import { h, badge } from '../dom.js'

export async function worklist () {
  const w = await api('/api/v1/reads/worklist')
  const rows = w.items.map(t => h('tr', { 'data-task': t.id, 'data-case': t.case_label, 'data-kind': t.kind, 'data-state': t.state },
    h('td', {}, h('a', { href: `#/reads/${t.id}` }, t.case_label)),
    h('td', {}, t.kind), h('td', {}, t.trial), h('td', {}, badge(t.state === 'signed' ? 'pass' : t.state === 'in_progress' ? 'review' : 'pending'), ' ', t.state)))
  return h('div', { class: 'worklist' },
    h('h2', {}, `Your worklist (${w.items.filter(t => t.state !== 'signed').length} to do, ${w.items.length} in all)`),
    w.items.length
      ? h('table', { id: 'worklist' }, h('thead', {}, h('tr', {}, ['case', 'task', 'trial', 'state'].map(c => h('th', {}, c)))), h('tbody', {}, rows))
      : h('p', { class: 'muted' }, 'No cases are assigned to you.'))
}

export async function worklistPage () {
  return h('section', { class: 'worklist-page' }, h('h1', {}, 'Central reads'), await worklist())
}
