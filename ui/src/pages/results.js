// A trial's results: the endpoint table (value, UCUM unit, algorithm@version, provenance) and
// the plots people expect, each exportable as SVG, PNG and CSV:
//   waterfall  best (lowest) percent change from baseline per subject, of a chosen measure
//   spider     percent change from baseline over the visits, one line per subject
//   longitudinal  the measure's values over the visits per subject, with each site's mean
//   distribution  a measure's values per site (e.g. Centiloid at screening)
// All are computed here from the measurements the API returns; nothing is precomputed.

import { api, all, enc } from '../api.js'
import { h, fmt, csv, download } from '../dom.js'
import { waterfall, lines, distribution, figure, colour } from '../plots.js'

function key (m) {
  return `${m.algorithm.split('@')[0]}:${m.name}`
}

export async function resultsPage (trial, params) {
  const base = `/api/v1/trials/${enc(trial)}`
  const [ms, subjects, dash] = await Promise.all([
    all(`${base}/measurements`), all(`${base}/subjects`), api(`${base}/dashboard`)])
  const siteOf = Object.fromEntries(subjects.map(s => [s.subject, s.site]))
  const visits = [...dash.visits]
  for (const m of ms) if (!visits.includes(m.visit)) visits.push(m.visit)
  const measures = new Map()
  for (const m of ms) {
    const k = key(m)
    if (!measures.has(k)) measures.set(k, { key: k, unit: m.unit, rows: [] })
    measures.get(k).rows.push(m)
  }
  const byKey = k => measures.get(k)?.rows || []
  const visitsOf = k => new Set(byKey(k).map(m => m.visit))
  const longitudinal = [...measures.keys()].filter(k => visitsOf(k).size > 1 && visitsOf(k).has(visits[0]))
  const single = [...measures.keys()].filter(k => visitsOf(k).size === 1)
  const prefer = (list, patterns) => {
    for (const p of patterns) { const k = list.find(x => p.test(x)); if (k) return k }
    return list[0]
  }
  const page = h('section', { class: 'results', 'data-trial': trial },
    h('p', { class: 'crumbs' }, h('a', { href: `#/trials/${enc(trial)}` }, trial), ' › results'),
    h('h1', {}, `Results of ${trial}`))
  if (!ms.length) {
    page.append(h('p', { class: 'notice' }, 'No measurements yet: the trial\'s jobs have not run.'))
    return page
  }
  const selector = (id, list, chosen, name) => h('select', { id, 'aria-label': name, onchange: e => {
    const p = new URLSearchParams(params); p.set(id, e.target.value); location.hash = `#/trials/${enc(trial)}/results?${p}`
  } }, list.map(k => h('option', { value: k, selected: k === chosen }, `${k} (${measures.get(k).unit})`)))

  // Per subject, the measure by visit.
  const table = k => {
    const t = {}
    for (const m of byKey(k)) (t[m.subject] ||= {})[m.visit] = m.value
    return t
  }
  const plots = h('div', { class: 'plots' })
  if (longitudinal.length) {
    const wk = params.get('waterfall') || prefer(longitudinal, [/sum|diam|tumou?r/, /lesion-volume/, /brain-volume/])
    const t = table(wk)
    const change = (row, v) => row[visits[0]] ? 100 * (row[v] - row[visits[0]]) / row[visits[0]] : NaN
    const bars = Object.entries(t).map(([subject, row]) => {
      const after = visits.slice(1).filter(v => Number.isFinite(row[v])).map(v => change(row, v)).filter(Number.isFinite)
      return { label: subject, value: after.length ? Math.min(...after) : NaN }
    }).filter(b => Number.isFinite(b.value))
    const recist = /sum|diam/.test(wk)
    plots.append(h('div', { class: 'plot-block' },
      h('h2', {}, 'Waterfall: best change from baseline ', selector('waterfall', longitudinal, wk, 'waterfall measure')),
      figure(`${trial}-waterfall-${wk.replace(':', '-')}`, waterfall(`${wk}: best % change from ${visits[0]}`, bars, { lines: recist ? [{ value: 20, label: '+20 % (PD)' }, { value: -30, label: '−30 % (PR)' }] : [] }), csv)))
    const sk = params.get('spider') || wk
    const st = table(sk)
    const spider = Object.entries(st).map(([subject, row], n) => ({
      label: subject, colour: colour(n),
      points: visits.map((v, i) => ({ x: i, value: change(row, v) })).filter(p => Number.isFinite(p.value)),
    }))
    plots.append(h('div', { class: 'plot-block' },
      h('h2', {}, 'Spider: change over time ', selector('spider', longitudinal, sk, 'spider measure')),
      figure(`${trial}-spider-${sk.replace(':', '-')}`, lines(`${sk}: % change from ${visits[0]}`, spider, visits, { ylabel: '% change', kind: 'spider', zero: true }), csv)))
    const defaults = [prefer(longitudinal, [/brain-volume/, /./]), prefer(longitudinal, [/lesion-volume/, /lesion-count/, /./])]
    const lk = [params.get('long1') || defaults[0], params.get('long2') || defaults[1]]
    lk.forEach((k, i) => {
      const lt = table(k)
      const subjectsOf = Object.keys(lt)
      const series = subjectsOf.map((subject, n) => ({ label: subject, colour: colour(n), points: visits.map((v, x) => ({ x, value: lt[subject][v] })).filter(p => Number.isFinite(p.value)) }))
      const sites = [...new Set(subjectsOf.map(s => siteOf[s]).filter(Boolean))]
      for (const [n, site] of sites.entries()) {
        const members = subjectsOf.filter(s => siteOf[s] === site)
        series.push({ label: `${site} mean`, colour: colour(n + subjectsOf.length), dash: '5 4', width: 1.5,
          points: visits.map((v, x) => {
            const vals = members.map(s => lt[s][v]).filter(Number.isFinite)
            return { x, value: vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : NaN }
          }).filter(p => Number.isFinite(p.value)) })
      }
      plots.append(h('div', { class: 'plot-block' },
        h('h2', {}, 'Longitudinal ', selector(`long${i + 1}`, longitudinal, k, 'longitudinal measure')),
        figure(`${trial}-longitudinal-${k.replace(':', '-')}`, lines(`${k} (${measures.get(k).unit}) per subject and site mean`, series, visits, { ylabel: measures.get(k).unit, kind: 'longitudinal' }), csv)))
    })
  }
  const distributed = single.length ? single : [...measures.keys()]
  const dk = params.get('dist') || prefer(distributed, [/centiloid/, /suvr/, /./])
  const groups = {}
  for (const m of byKey(dk)) (groups[siteOf[m.subject] || 'unknown site'] ||= []).push({ subject: m.subject, value: m.value })
  plots.append(h('div', { class: 'plot-block' },
    h('h2', {}, 'Distribution ', selector('dist', distributed, dk, 'distribution measure')),
    figure(`${trial}-distribution-${dk.replace(':', '-')}`, distribution(`${dk} (${measures.get(dk).unit}) by site`, Object.entries(groups).sort().map(([label, values]) => ({ label, values })), { ylabel: measures.get(dk).unit }), csv)))
  page.append(plots)

  // The endpoint table, with provenance links and its own CSV export.
  const rows = [...ms].sort((a, b) => key(a).localeCompare(key(b)) || a.subject.localeCompare(b.subject) || visits.indexOf(a.visit) - visits.indexOf(b.visit))
  const header = ['subject', 'site', 'visit', 'algorithm', 'measure', 'value', 'unit', 'job', 'provenance']
  const data = rows.map(m => [m.subject, siteOf[m.subject] || '', m.visit, m.algorithm, m.name, m.value, m.unit, m.job_id, m.provenance])
  page.append(h('h2', {}, 'Endpoints ', h('button', { type: 'button', id: 'export-endpoints', onclick: () => download(`${trial}-endpoints.csv`, new Blob([csv([header, ...data])], { type: 'text/csv' })) }, 'CSV')),
    h('table', { class: 'endpoints' },
      h('thead', {}, h('tr', {}, header.slice(0, 7).map(x => h('th', {}, x)), h('th', {}, 'provenance'))),
      h('tbody', {}, rows.map(m => h('tr', {},
        h('td', {}, m.subject), h('td', {}, siteOf[m.subject] || ''), h('td', {}, m.visit), h('td', {}, m.algorithm), h('td', {}, m.name),
        h('td', { class: 'num' }, fmt(m.value)), h('td', {}, m.unit),
        h('td', {}, h('a', { href: `${base}/jobs/${m.job_id}/provenance`, target: '_blank', rel: 'noopener' }, `job ${m.job_id}`)))))))
  page.append(await readsSection(trial))
  return page
}

/// The trial's central reads (when it has a read design): each task with its reader, state and
/// responses, the accepted read per subject, and the readers' statistics.
async function readsSection (trial) {
  const base = `/api/v1/trials/${enc(trial)}`
  const reads = await api(`${base}/reads`)
  if (!reads.design) return h('p', { class: 'muted', id: 'no-reads' }, 'This trial has no central reads.')
  const stats = await api(`${base}/reads/stats`)
  const responses = t => (t.outcome?.timepoints || []).map(p => `${p.label} ${p.response}${p.count !== undefined ? ` (${p.count})` : ''}${p.sum_mm !== undefined ? ` (${fmt(p.sum_mm)} mm)` : ''}`).join(' · ')
  const header = ['subject', 'case', 'task', 'reader', 'state', 'responses', 'accepted']
  const rows = reads.items.map(t => [t.subject, t.case_label, t.kind, t.reader, t.state, t.kind === 'adjudication' ? `read ${t.data?.accepted || '–'}: ${t.data?.reason || t.reason || ''}` : responses(t), t.accepted ? 'Y' : ''])
  const pct = x => (x === null || x === undefined) ? '–' : `${fmt(100 * x, 3)} %`
  return h('div', { class: 'reads', id: 'reads' },
    h('h2', {}, `Central reads (${reads.design.criteria}, ${reads.design.paradigm}) `,
      h('button', { type: 'button', onclick: () => download(`${trial}-reads.csv`, new Blob([csv([header, ...rows])], { type: 'text/csv' })) }, 'CSV')),
    h('table', { class: 'read-tasks' }, h('thead', {}, h('tr', {}, header.map(x => h('th', {}, x)))),
      h('tbody', {}, rows.map((r, i) => h('tr', { 'data-task': reads.items[i].id, 'data-accepted': String(reads.items[i].accepted) }, r.map(c => h('td', {}, c)))))),
    h('h2', {}, 'Reader statistics'),
    h('p', {}, `${stats.signed} of ${stats.reads} reads signed; ${stats.subjects_double_read} subjects read twice; ${stats.adjudications} adjudications (rate ${pct(stats.adjudication_rate)}).`),
    h('table', { class: 'reader-stats', id: 'reader-stats' },
      h('thead', {}, h('tr', {}, ['reader', 'signed', 'min per read', 'adjudicated', 'adjudication rate', 'accepted there'].map(x => h('th', {}, x)))),
      h('tbody', {}, stats.readers.map(r => h('tr', { 'data-reader': r.reader }, h('td', {}, r.reader), h('td', {}, `${r.signed} / ${r.assigned}`), h('td', {}, fmt(r.mean_minutes_per_read, 3)), h('td', {}, `${r.adjudicated} / ${r.double_read_subjects}`), h('td', {}, pct(r.adjudication_rate)), h('td', {}, r.accepted_in_adjudication))))),
    h('table', { class: 'pair-stats' },
      h('thead', {}, h('tr', {}, ['readers', 'subjects', 'time points', 'agreement', "Cohen's κ", 'ICC(2,1) of size'].map(x => h('th', {}, x)))),
      h('tbody', {}, stats.pairs.map(p => h('tr', {}, h('td', {}, p.readers.join(' + ')), h('td', {}, p.subjects), h('td', {}, p.timepoints), h('td', {}, pct(p.response_agreement)), h('td', {}, fmt(p.kappa, 3)), h('td', {}, fmt(p.icc2_1, 3)))))))
}
