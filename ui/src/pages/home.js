// The trials the user may see, with links to each one's dashboard and results; a role that sees
// no trial here (a reader, an adjudicator) is told what it does instead.

import { api } from '../api.js'
import { h } from '../dom.js'
import { may } from '../app.js'
import { worklist } from './worklist.js'

export async function homePage (me, { mayAnyTrial }) {
  const page = h('section', { class: 'home' }, h('h1', {}, 'Trials'))
  if (!mayAnyTrial('read_catalogue')) {
    const roles = [...new Set(me.grants.map(g => g.role))]
    const reads = roles.some(r => r === 'reader' || r === 'adjudicator')
    page.append(h('p', { class: 'notice', 'data-role-notice': roles.join(',') },
      `Your role (${roles.join(', ')}) sees no trial catalogue here. `,
      reads
        ? 'Readers and adjudicators read their assigned cases blinded: case and time-point labels only, no dates, sites or other readers\' results.'
        : 'Ask an administrator for a grant.'))
    if (reads) page.append(await worklist())
    return page
  }
  const trials = await api('/api/v1/trials?limit=1000')
  const list = h('ul', { class: 'cards' })
  for (const t of trials.items) {
    list.append(h('li', { class: 'card', 'data-trial': t.id },
      h('h2', {}, h('a', { href: `#/trials/${encodeURIComponent(t.id)}` }, t.id)),
      h('p', {}, [t.protocol, t.phase && `phase ${t.phase}`, t.sponsor].filter(Boolean).join(' · ')),
      h('p', {}, h('a', { href: `#/trials/${encodeURIComponent(t.id)}` }, 'Dashboard'),
        may('read_results', t.id) ? [' · ', h('a', { href: `#/trials/${encodeURIComponent(t.id)}/results` }, 'Results')] : null)))
  }
  page.append(list)
  return page
}
