// A trial's dashboard: sites × subjects × visits, each cell the visit's QC status in colour with
// its series (links to the series page), completeness, open queries and jobs by state; filters
// by site and status. A site user's server answer holds only their sites.

import { api, enc } from '../api.js'
import { h, badge, isoDate } from '../dom.js'
import { may } from '../app.js'

export async function dashboardPage (trial, params) {
  const d = await api(`/api/v1/trials/${enc(trial)}/dashboard`)
  const site = params.get('site') || ''
  const status = params.get('status') || ''
  const go = (k, v) => {
    const p = new URLSearchParams(params)
    if (v) p.set(k, v); else p.delete(k)
    location.hash = `#/trials/${enc(trial)}?${p}`
  }
  const siteSel = h('select', { id: 'site-filter', onchange: e => go('site', e.target.value) },
    h('option', { value: '' }, 'all sites'),
    d.sites.map(s => h('option', { value: s.id, selected: s.id === site }, `${s.id} ${s.name || ''}`)))
  const statusSel = h('select', { id: 'status-filter', onchange: e => go('status', e.target.value) },
    ['', 'pass', 'review', 'fail', 'pending', 'missing'].map(s => h('option', { value: s, selected: s === status }, s || 'any status')))
  const c = d.completeness
  const pct = c.expected_visits ? Math.round(100 * c.complete_visits / c.expected_visits) : 0
  const jobs = d.jobs ? Object.entries(d.jobs).map(([k, v]) => `${v} ${k}`).join(', ') || 'none' : null
  const summary = h('dl', { class: 'summary' },
    h('dt', {}, 'Lock'), h('dd', {}, d.locked ? `locked, version ${d.lock_version}` : 'not locked'),
    h('dt', {}, 'Subjects'), h('dd', { 'data-count': 'subjects' }, String(d.subjects.length)),
    h('dt', {}, 'Completeness'), h('dd', {}, h('meter', { min: 0, max: 100, value: pct }), ` ${c.complete_visits} of ${c.expected_visits} visits complete (${pct} %)`),
    h('dt', {}, 'Open queries'), h('dd', {}, String(d.open_queries)),
    jobs !== null ? [h('dt', {}, 'Jobs'), h('dd', { 'data-jobs': '' }, jobs)] : null)
  // Per site: subjects, visits by status, open queries.
  const perSite = d.sites.map(st => {
    const mine = d.subjects.filter(x => x.site === st.id)
    const count = status => mine.reduce((n, x) => n + d.visits.filter(v => x.visits[v]?.status === status).length, 0)
    return h('tr', { 'data-site-row': st.id },
      h('th', { scope: 'row' }, `${st.id} ${st.name || ''}`), h('td', { class: 'num' }, String(mine.length)),
      ['pass', 'review', 'fail', 'pending'].map(x => h('td', { class: `num st-${x}` }, String(count(x)))),
      h('td', { class: 'num' }, String(mine.reduce((n, x) => n + x.open_queries, 0))))
  })
  const sitesTable = h('table', { class: 'sites', 'aria-label': 'sites' },
    h('thead', {}, h('tr', {}, ['Site', 'Subjects', 'Visits pass', 'review', 'fail', 'pending', 'Open queries'].map(x => h('th', {}, x)))),
    h('tbody', {}, perSite))
  const rows = d.subjects.filter(s => !site || s.site === site).filter(s => {
    if (!status) return true
    return d.visits.some(v => status === 'missing' ? !s.visits[v] : s.visits[v]?.status === status)
  })
  const table = h('table', { class: 'matrix', 'aria-label': 'subjects by visit' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Site'), h('th', {}, 'Subject'), d.visits.map(v => h('th', {}, v)), h('th', {}, 'Queries'))),
    h('tbody', {}, rows.map(s => h('tr', { 'data-subject': s.subject, 'data-site': s.site },
      h('td', {}, s.site), h('th', { scope: 'row' }, s.subject),
      d.visits.map(v => {
        const cell = s.visits[v]
        if (!cell) return h('td', { class: 'cell st-missing' }, badge('missing'))
        return h('td', { class: `cell st-${cell.status}` },
          badge(cell.status),
          cell.date ? h('span', { class: 'date' }, isoDate(cell.date)) : null,
          cell.missing?.length ? h('span', { class: 'missing' }, `missing ${cell.missing.join(', ')}`) : null,
          h('ul', { class: 'series-links' }, cell.series.map(x => h('li', {},
            h('a', { href: `#/trials/${enc(trial)}/series/${enc(x.series_instance_uid)}`, class: `st-${x.status}`, title: x.description || '' },
              x.role || x.modality, ' ', badge(x.status))))))
      }),
      h('td', {}, s.open_queries ? h('span', { class: 'queries' }, String(s.open_queries)) : '0')))))
  // The open queries the user may see (a site's own only), each linked to what it is about.
  const queries = (await api(`/api/v1/trials/${enc(trial)}/queries?limit=1000`)).items
  const subjectOf = Object.fromEntries(d.subjects.flatMap(x => d.visits.flatMap(v => (x.visits[v]?.series || []).map(se => [se.series_instance_uid, x.subject]))))
  const about = q => {
    const uid = q.target.startsWith('series:') ? q.target.slice(7) : null
    return uid
      ? h('a', { href: `#/trials/${enc(trial)}/series/${enc(uid)}` }, `series of ${subjectOf[uid] || '?'}`)
      : q.target.replace(/^visit:/, 'visit ')
  }
  const queryTable = queries.length
    ? h('table', { class: 'open-queries', 'aria-label': 'open queries' },
      h('thead', {}, h('tr', {}, ['#', 'About', 'Question', 'State', 'Raised'].map(x => h('th', {}, x)))),
      h('tbody', {}, queries.map(q => h('tr', { 'data-query': q.id },
        h('td', { class: 'num' }, String(q.id)), h('td', {}, about(q)), h('td', {}, q.question), h('td', {}, badge(q.state)), h('td', {}, `${q.raised_by}, ${q.raised_at}`)))))
    : h('p', { class: 'muted' }, 'No open queries.')
  return h('section', { class: 'dashboard', 'data-trial': trial },
    h('h1', {}, trial, ' ', h('small', {}, [d.trial.protocol, d.trial.phase && `phase ${d.trial.phase}`, d.trial.sponsor].filter(Boolean).join(' · '))),
    may('read_results', trial) ? h('p', {}, h('a', { href: `#/trials/${enc(trial)}/results` }, 'Results and plots →')) : null,
    summary,
    sitesTable,
    d.evaluated ? null : h('p', { class: 'notice' }, 'QC has not been evaluated for this trial yet.'),
    h('div', { class: 'filters' }, h('label', {}, 'Site ', siteSel), h('label', {}, 'Status ', statusSel)),
    table,
    h('p', { class: 'muted' }, `${rows.length} of ${d.subjects.length} subjects shown`),
    h('h2', {}, 'Open queries'), queryTable)
}
