// A central-read case: the time points' images in the viewer, the engine's proposals to accept,
// the reader's findings (lesion marks with a two-click line tool, RECIST lesions and diameters,
// or a free-form response), the response the server computes from each save, and the
// electronic signature (password again and a meaning). An adjudication shows both reads side by
// side, A and B, to accept one with a reason. Everything shown is what the server sends a blinded
// reader: case and time-point labels, never dates, sites or names.

import { api, enc } from '../api.js'
import { h, fmt, errorBox } from '../dom.js'
import { flash, refresh } from '../app.js'
import { Viewer, PRESETS } from '../viewer.js'

const lps = ras => [-ras[0], -ras[1], ras[2]].map(x => Math.round(x * 100) / 100)
const ras = p => [-p[0], -p[1], p[2]]

export async function readPage (id) {
  const task = await api(`/api/v1/reads/tasks/${enc(id)}`)
  const page = h('section', { class: 'read-page', 'data-task': task.id, 'data-kind': task.kind, 'data-state': task.state },
    h('p', { class: 'crumbs' }, h('a', { href: '#/reads' }, 'Worklist'), ' › ', task.case_label),
    h('h1', {}, `${task.kind === 'adjudication' ? 'Adjudication' : 'Read'} of case ${task.case_label} `,
      h('small', {}, `${task.criteria} · ${task.state}`)))
  const cols = h('div', { class: 'two-col' })
  page.append(cols)
  const viewer = await viewerPanel(task, cols)
  const side = h('div', { class: 'panel read-panel' })
  cols.append(side)
  if (task.kind === 'adjudication') adjudicationPanel(task, side)
  else readPanel(task, side, viewer)
  return page
}

/// The viewer with a time-point chooser; returns { viewer, tp() }.
async function viewerPanel (task, cols) {
  const url = tp => {
    const s = tp.series[0]
    return `/api/v1/trials/${enc(task.trial)}/series/${enc(s.series_instance_uid)}/volume.nii.gz`
  }
  const tps = task.timepoints
  const viewer = new Viewer({ volumeUrl: url(tps[0]), modality: 'MR' })
  const state = { label: tps[0].label, viewer, listeners: [] }
  const tpSel = h('select', { id: 'timepoint', 'aria-label': 'time point', onchange: async e => {
    state.label = e.target.value
    viewer.volumeUrl = url(tps.find(t => t.label === state.label))
    await viewer.load()
    state.listeners.forEach(f => f())
  } }, tps.map(t => h('option', { value: t.label }, `${t.label}${t.label === 'TP0' ? ' (baseline)' : ''} · ${t.series.map(s => s.role).join(', ')}`)))
  const planeSel = h('select', { 'aria-label': 'plane', onchange: e => viewer.setPlane(e.target.value) },
    ['axial', 'coronal', 'sagittal', 'multiplanar'].map(p => h('option', { value: p }, p)))
  const presetSel = h('select', { 'aria-label': 'window preset', onchange: e => viewer.setPreset(e.target.value) },
    Object.keys(PRESETS).map(p => h('option', { value: p, selected: p === viewer.preset }, p)))
  const panel = h('div', { class: 'panel viewer-panel' },
    h('div', { class: 'toolbar' }, h('label', {}, 'Time point ', tpSel), h('label', {}, 'Plane ', planeSel), h('label', {}, 'Window ', presetSel)),
    viewer.el,
    h('p', { class: 'muted keys' }, 'Click the image to place the crosshair. Keys: 1–4 plane, ↑/↓ slice, +/− zoom, W window.'))
  cols.append(panel)
  await viewer.start()
  return state
}

function signForm (task, defaultMeaning, onSigned) {
  const meaning = h('select', { id: 'sign-meaning', 'aria-label': 'meaning of the signature' },
    ['authored', 'reviewed', 'approved'].map(m => h('option', { value: m, selected: m === defaultMeaning }, m)))
  const password = h('input', { id: 'sign-password', type: 'password', autocomplete: 'current-password', required: true, 'aria-label': 'your password' })
  const out = h('div', { class: 'sign-out', 'aria-live': 'polite' })
  const form = h('form', { class: 'sign', id: 'sign-form', onsubmit: async e => {
    e.preventDefault()
    out.replaceChildren()
    try {
      await api(`/api/v1/reads/tasks/${task.id}/sign`, { method: 'POST', body: { meaning: meaning.value, password: password.value } })
      onSigned()
    } catch (err) {
      out.append(errorBox(err))
    }
  } },
  h('h2', {}, 'Sign'),
  h('p', { class: 'muted' }, 'Signing binds your name, the meaning and the time to this record as saved (21 CFR Part 11); it cannot be changed afterwards.'),
  h('label', {}, 'Meaning ', meaning), ' ', h('label', {}, 'Password ', password), ' ',
  h('button', { type: 'submit', id: 'sign-button' }, 'Sign'), out)
  return form
}

function signatures (task) {
  if (!task.signatures?.length) return null
  return h('div', { class: 'signatures' }, h('h2', {}, 'Signed'),
    h('ul', {}, task.signatures.map(s => h('li', { class: 'signature' }, `${s.printed_name} — ${s.meaning} — record ${s.record_sha256.slice(0, 12)}…`))))
}

function outcomeTable (outcome) {
  if (!outcome) return h('p', { class: 'muted', id: 'outcome' }, 'Nothing saved yet.')
  if (!outcome.complete) return h('p', { class: 'notice', id: 'outcome', 'data-complete': 'false' }, `Not complete: ${outcome.problem}`)
  const cols = Object.keys(outcome.timepoints[0] || {}).filter(k => k !== 'label')
  return h('table', { class: 'outcome', id: 'outcome', 'data-complete': 'true' },
    h('thead', {}, h('tr', {}, h('th', {}, 'time point'), cols.map(c => h('th', {}, c.replaceAll('_', ' '))))),
    h('tbody', {}, outcome.timepoints.map(p => h('tr', { 'data-tp': p.label, 'data-response': p.response },
      h('td', {}, p.label), cols.map(c => h('td', {}, fmt(p[c])))))))
}

function readPanel (task, side, vs) {
  const signed = task.state === 'signed'
  const data = structuredClone(task.data || { lesions: [], timepoints: [] })
  for (const tp of task.timepoints) {
    if (!data.timepoints.find(t => t.label === tp.label)) data.timepoints.push({ label: tp.label, measurements: [], new_lesions: [], marks: [] })
  }
  const tpData = () => data.timepoints.find(t => t.label === vs.label)
  data.locked ||= []
  // Read-only: signed, or (sequential reads) a time point already locked.
  const ro = () => signed || (task.sequential && data.locked.includes(vs.label))
  let crosshair = null
  let measuring = null
  const status = h('p', { class: 'tool-status', id: 'tool-status', 'aria-live': 'polite' })
  const outcomeBox = h('div', { class: 'outcome-box' }, outcomeTable(task.outcome))
  const errors = h('div', {})
  // Saves go one after another, each with the whole read as it is then: the server keeps the
  // last, and the page never has two in flight.
  let queue = Promise.resolve()
  const save = () => (queue = queue.then(saveNow))
  const saveNow = async () => {
    errors.replaceChildren()
    try {
      const t = await api(`/api/v1/reads/tasks/${task.id}`, { method: 'PUT', body: data })
      task.outcome = t.outcome
      outcomeBox.replaceChildren(outcomeTable(t.outcome))
      // The server's copy has the drawn lines' lengths; copy them onto the objects the page's
      // controls hold (replacing the objects would leave a control editing a stale copy).
      for (const st of t.data.timepoints || []) {
        const mine = data.timepoints.find(x => x.label === st.label)
        if (!mine) continue
        for (const sm of st.marks || []) {
          const m = mine.marks.find(x => x.id === sm.id)
          if (m) m.long_axis_mm = sm.long_axis_mm
        }
        for (const sm of st.measurements || []) {
          const m = mine.measurements.find(x => x.lesion === sm.lesion)
          if (m && (m.long_line || m.short_line)) { m.long_axis_mm = sm.long_axis_mm; m.short_axis_mm = sm.short_axis_mm }
        }
      }
      draw()
      side.dataset.saved = String(Number(side.dataset.saved || 0) + 1)
    } catch (e) {
      errors.append(errorBox(e))
    }
  }
  vs.viewer.onPoint(mm => {
    crosshair = mm
    if (!measuring) return
    if (!measuring.first) {
      measuring.first = mm
      status.textContent = 'Now click the other end.'
      return
    }
    const line = [lps(measuring.first), lps(mm)]
    measuring.done(line)
    measuring = null
    status.textContent = 'Measured.'
    save()
  })
  const measure = done => {
    measuring = { first: null, done }
    status.textContent = 'Click one end of the long axis.'
  }
  const findings = h('div', { class: 'findings' })
  const draw = () => {
    findings.replaceChildren()
    if (task.criteria === 'lesion-count') findings.append(lesionCount())
    else if (task.criteria === 'recist11' || task.criteria === 'rano') findings.append(recist())
    else findings.append(freeForm())
  }
  const btn = (label, onclick, attrs = {}) => h('button', { type: 'button', disabled: ro(), onclick, ...attrs }, label)

  const lesionCount = () => {
    const tp = tpData()
    const proposal = (task.proposals || []).find(p => p.label === vs.label)
    const box = h('div', {})
    if (proposal?.marks?.length) {
      box.append(h('h2', {}, `Proposed by the engine (${proposal.marks.length})`),
        h('p', { class: 'muted' }, proposal.source),
        btn('Accept all proposed', () => {
          for (const m of proposal.marks) {
            if (!tp.marks.find(x => x.id === m.id)) tp.marks.push({ id: m.id, status: m.status, at: m.at, source: 'ai' })
          }
          draw(); save()
        }, { id: 'accept-proposals' }))
    } else box.append(h('p', { class: 'muted' }, 'No engine proposals for this time point.'))
    const rows = tp.marks.map((m, i) => h('tr', { 'data-mark': m.id },
      h('td', {}, m.id),
      h('td', {}, h('select', { disabled: ro(), 'aria-label': `status of ${m.id}`, onchange: e => { m.status = e.target.value; save() } },
        ['present', 'new', 'enlarging'].map(s => h('option', { value: s, selected: s === m.status }, s)))),
      h('td', { class: 'num' }, m.long_axis_mm != null ? `${fmt(m.long_axis_mm)} mm` : '–'),
      h('td', {}, m.source || ''),
      h('td', {}, m.at ? btn('Go to', () => vs.viewer.goTo(ras(m.at)), { disabled: false }) : null,
        btn('Measure', () => measure(line => { m.line = line; m.source = 'reader' }), { class: 'measure' }),
        btn('Remove', () => { tp.marks.splice(i, 1); draw(); save() }))))
    box.append(h('h2', {}, `Lesions at ${vs.label} (${tp.marks.length})`),
      h('table', { class: 'marks' }, h('thead', {}, h('tr', {}, ['lesion', 'status', 'long axis', 'source', ''].map(c => h('th', {}, c)))), h('tbody', {}, rows)),
      btn('Add a lesion at the crosshair', () => {
        const n = tp.marks.length + 1
        tp.marks.push({ id: `R${vs.label.slice(2)}-${n}`, status: vs.label === 'TP0' ? 'present' : 'new', at: crosshair ? lps(crosshair) : null, source: 'reader' })
        draw(); save()
      }, { id: 'add-mark' }))
    return box
  }

  const recist = () => {
    const tp = tpData()
    const rano = task.criteria === 'rano'
    const box = h('div', {})
    const roleSel = h('select', { 'aria-label': 'lesion role' }, ['target', 'non-target'].map(r => h('option', { value: r }, r)))
    const organ = h('input', { 'aria-label': 'organ', placeholder: 'organ', size: 10 })
    const nodal = h('input', { type: 'checkbox', 'aria-label': 'lymph node' })
    box.append(...[h('h2', {}, 'Baseline lesions'),
      h('table', { class: 'lesions' }, h('tbody', {}, data.lesions.map(l => h('tr', {}, h('td', {}, l.id), h('td', {}, l.role), h('td', {}, l.organ), h('td', {}, l.nodal ? 'node' : ''))))),
      vs.label === 'TP0' && !ro()
        ? h('p', {}, roleSel, ' ', organ, ' ', h('label', {}, nodal, ' node'), ' ', btn('Add lesion', () => {
          const n = data.lesions.filter(l => l.role === roleSel.value).length + 1
          data.lesions.push({ id: `${roleSel.value === 'target' ? 'T' : 'NT'}${n}`, role: roleSel.value, organ: organ.value.trim() || 'unspecified', nodal: nodal.checked })
          draw(); save()
        }))
        : null].filter(Boolean))
    const rows = data.lesions.map(l => {
      let m = tp.measurements.find(x => x.lesion === l.id)
      if (!m) { m = { lesion: l.id }; tp.measurements.push(m) }
      // RECIST measures one diameter (the short axis of a node); RANO both, perpendicular.
      const axes = rano ? ['long', 'short'] : [l.nodal ? 'short' : 'long']
      const sizeInputs = axes.map(axis => h('input', { type: 'number', step: '0.1', min: 0, size: 6, disabled: ro(), value: m[`${axis}_axis_mm`] ?? '', 'aria-label': `${l.id} ${axis} axis (mm)`, onchange: e => {
        m[`${axis}_axis_mm`] = e.target.value === '' ? null : Number(e.target.value)
        delete m[`${axis}_line`]
        m.source = 'reader'
        save()
      } }))
      const drawButtons = axes.map(axis => btn(rano ? `Draw ${axis}` : 'Measure', () => measure(line => { m[`${axis}_line`] = line; m.source = 'reader' })))
      const state = h('select', { disabled: ro(), 'aria-label': `${l.id} state`, onchange: e => { m.state = e.target.value || null; save() } },
        ['', 'present', 'absent', 'progression', 'not-evaluated'].map(s => h('option', { value: s, selected: s === (m.state || '') }, s || '—')))
      // The engine's measurement of the lesion under the crosshair (onco.lesion-seg), accepted
      // as it is; the reader may then type or draw another.
      const engine = btn('Engine', async () => {
        if (!crosshair) { status.textContent = 'Click the lesion first.'; return }
        status.textContent = 'The engine is measuring…'
        try {
          const p = await api(`/api/v1/reads/tasks/${task.id}/propose`, { method: 'POST', body: { label: vs.label, point: lps(crosshair) } })
          m.long_line = p.long_line
          m.short_line = p.short_line
          delete m.long_axis_mm; delete m.short_axis_mm
          m.source = `ai ${p.algorithm}`
          status.textContent = `${p.algorithm}: ${fmt(p.long_axis_mm)} × ${fmt(p.short_axis_mm)} mm, accepted (adjust by typing or drawing).`
          save()
        } catch (e) {
          status.textContent = e.message
        }
      }, { class: 'engine' })
      const sizes = [m.long_axis_mm, m.short_axis_mm].map(x => x != null ? fmt(x) : '–').join(' × ')
      return h('tr', { 'data-lesion': l.id }, h('td', {}, l.id),
        h('td', {}, l.role === 'target' ? [sizeInputs.flatMap((x, i) => [i ? ' × ' : '', x]), ' mm ', drawButtons, rano ? null : [' ', engine]] : null),
        h('td', { class: 'num' }, l.role === 'target' ? `${sizes} mm` : ''), h('td', {}, m.source || ''), h('td', {}, state))
    })
    // RANO's clinical items at each follow-up.
    const clinical = () => {
      tp.clinical ||= {}
      const c = tp.clinical
      const trend = (key, label) => h('label', {}, `${label} `, h('select', { disabled: ro(), 'aria-label': label, onchange: e => { c[key] = e.target.value || null; save() } },
        ['', 'improved', 'stable', 'worse'].map(t => h('option', { value: t, selected: t === (c[key] || '') }, t || '—'))))
      return h('div', { class: 'clinical' }, h('h2', {}, `Clinical at ${vs.label}`),
        trend('corticosteroids', 'Corticosteroid dose'), ' ',
        h('label', {}, h('input', { type: 'checkbox', disabled: ro(), checked: !!c.on_corticosteroids, onchange: e => { c.on_corticosteroids = e.target.checked; save() } }), ' above replacement'), ' ',
        trend('clinical_status', 'Clinical status'), ' ', trend('non_enhancing', 'Non-enhancing disease'))
    }
    box.append(...[h('h2', {}, `Measurements at ${vs.label}`), h('table', { class: 'measurements' }, h('tbody', {}, rows)),
      rano && vs.label !== 'TP0' ? clinical() : null,
      h('h2', {}, `New lesions at ${vs.label} (${tp.new_lesions.length})`),
      vs.label !== 'TP0' ? btn('Add a new lesion at the crosshair', () => {
        tp.new_lesions.push({ id: `N${tp.new_lesions.length + 1}`, at: crosshair ? lps(crosshair) : null })
        draw(); save()
      }) : null].filter(Boolean))
    return box
  }

  const freeForm = () => {
    const tp = tpData()
    const response = h('input', { id: 'free-response', disabled: ro(), value: tp.response || '', 'aria-label': 'response', onchange: e => { tp.response = e.target.value; save() } })
    const impression = h('textarea', { disabled: ro(), rows: 4, 'aria-label': 'impression', onchange: e => { tp.impression = e.target.value; save() } }, tp.impression || '')
    return h('div', {}, h('h2', {}, vs.label), h('label', {}, 'Response ', response), h('label', { class: 'block' }, 'Impression ', impression))
  }

  // Sequential locked reads: lock the time point to open the next one (the server hides it
  // until then and refuses any change to a locked one).
  const lockBox = h('div', { class: 'lock-box' })
  const drawLock = () => {
    lockBox.replaceChildren()
    if (!task.sequential || signed) return
    if (data.locked.includes(vs.label)) {
      lockBox.append(h('p', { class: 'muted' }, `${vs.label} is locked.`))
      return
    }
    lockBox.append(h('button', { type: 'button', id: 'lock-timepoint', onclick: async () => {
      data.locked.push(vs.label)
      await save()
      flash(`${vs.label} locked.`)
      refresh()
    } }, `Lock ${vs.label}`), ' ', h('span', { class: 'muted' }, 'Its findings then no longer change; the next time point opens.'))
  }
  vs.listeners.push(draw, drawLock)
  draw()
  drawLock()
  side.append(...[status, findings, lockBox, h('h2', {}, 'Response (computed by the engine)'), outcomeBox, errors, signatures(task),
    signed ? null : signForm(task, 'authored', () => { flash('Signed.'); refresh() })].filter(Boolean))
}

function adjudicationPanel (task, side) {
  const signed = task.state === 'signed'
  const chosen = task.data?.accepted
  const read = r => {
    const o = r.outcome
    return h('div', { class: 'read-col', 'data-read': r.label },
      h('h2', {}, `Read ${r.label}`), outcomeTable(o))
  }
  const choice = ['A', 'B'].map(l => h('label', {}, h('input', { type: 'radio', name: 'accepted', value: l, disabled: signed, checked: chosen === l }), ` accept read ${l}`))
  const reason = h('textarea', { id: 'adjudication-reason', rows: 3, disabled: signed, 'aria-label': 'reason' }, task.data?.reason || '')
  const out = h('div', {})
  const form = h('form', { id: 'adjudication-form', onsubmit: async e => {
    e.preventDefault()
    out.replaceChildren()
    const accepted = side.querySelector('input[name=accepted]:checked')?.value
    try {
      await api(`/api/v1/reads/tasks/${task.id}`, { method: 'PUT', body: { accepted, reason: reason.value } })
      flash(`Read ${accepted} chosen; sign to complete the adjudication.`)
      refresh()
    } catch (err) {
      out.append(errorBox(err))
    }
  } }, h('h2', {}, 'Decision'), h('p', {}, choice), h('label', { class: 'block' }, 'Reason ', reason),
  signed ? null : h('button', { type: 'submit', id: 'adjudication-save' }, 'Save the choice'), out)
  side.append(...[
    h('p', { class: 'notice', id: 'trigger' }, `Sent to adjudication: ${task.trigger}`),
    h('div', { class: 'reads-side-by-side' }, (task.reads || []).map(read)),
    form,
    task.data?.accepted ? h('p', { id: 'accepted' }, `Accepted: read ${task.data.accepted}`) : null,
    signatures(task),
    !signed && task.data?.accepted ? signForm(task, 'approved', () => { flash('Adjudication signed.'); refresh() }) : null].filter(Boolean))
}
