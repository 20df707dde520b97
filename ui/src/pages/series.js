// A series: its images in the viewer with the jobs' derived images as overlays and their
// measurements on the image, beside its QC review: the conformance checks and image-quality
// metrics, the decisions and queries, and (for QC staff) approve, reject with a reason, or raise
// a query to the site. Each action is recorded and audited by the server.

import { api, enc } from '../api.js'
import { h, badge, fmt, errorBox, isoDate } from '../dom.js'
import { may, flash, refresh } from '../app.js'
import { Viewer, PRESETS, isLabel } from '../viewer.js'

export async function seriesPage (trial, uid) {
  const base = `/api/v1/trials/${enc(trial)}`
  const d = await api(`${base}/series/${enc(uid)}`)
  const s = d.series
  const page = h('section', { class: 'series-page', 'data-series': uid },
    h('p', { class: 'crumbs' }, h('a', { href: `#/trials/${enc(trial)}` }, trial), ' › ', s.subject, ' › ', d.visit?.visit || 'no visit'),
    h('h1', {}, `${d.qc?.role || s.modality} `, h('small', {}, s.description || ''), ' ', badge(d.qc?.status)))
  const cols = h('div', { class: 'two-col' })
  page.append(cols)
  cols.append(may('read_images', trial) ? await viewerPanel(trial, d) : h('div', { class: 'panel' }, h('p', { class: 'notice' }, 'Your role does not view images.')))
  cols.append(qcPanel(trial, d))
  return page
}

async function viewerPanel (trial, d) {
  const s = d.series
  const url = `/api/v1/trials/${enc(trial)}/series/${enc(s.series_instance_uid)}/volume.nii.gz`
  // PET comes in SUVbw where its header allows (the server says so in X-Corelab-Units).
  const viewer = new Viewer({ volumeUrl: url, modality: s.modality, units: s.modality === 'PT' ? 'SUVbw' : null })
  const overlays = []
  for (const j of d.jobs || []) {
    if (j.state !== 'succeeded') continue
    for (const img of j.images || []) {
      overlays.push({ key: `${j.id}:${img.role}`, job: j, role: img.role, description: img.description, url: `/api/v1/trials/${enc(trial)}/jobs/${j.id}/images/${enc(img.role)}.nii.gz` })
    }
  }
  overlays.sort((a, b) => Number(isLabel(b.role)) - Number(isLabel(a.role)))
  const planeSel = h('select', { id: 'plane', 'aria-label': 'plane', onchange: e => viewer.setPlane(e.target.value) },
    ['axial', 'coronal', 'sagittal', 'multiplanar'].map(p => h('option', { value: p }, p)))
  const presetSel = h('select', { id: 'preset', 'aria-label': 'window preset', onchange: e => viewer.setPreset(e.target.value) },
    Object.keys(PRESETS).map(p => h('option', { value: p, selected: p === viewer.preset }, p)))
  viewer.el.addEventListener('preset', e => { presetSel.value = e.detail })
  const overlaySel = h('select', { id: 'overlay', 'aria-label': 'overlay', onchange: async e => {
    const o = overlays.find(x => x.key === e.target.value) || null
    await viewer.setOverlay(o)
    showMeasurements(o)
  } }, h('option', { value: '' }, 'no overlay'),
  overlays.map(o => h('option', { value: o.key }, `${o.job.algorithm} · ${o.role}`)))
  const opacity = h('input', { id: 'opacity', type: 'range', min: 0, max: 1, step: 0.05, value: 0.5, 'aria-label': 'overlay opacity', oninput: e => viewer.setOpacity(Number(e.target.value)) })
  const showMeasurements = o => {
    if (!o) return viewer.showInfo([])
    viewer.showInfo([o.job.algorithm, ...o.job.measurements.map(m => `${m.name} = ${fmt(m.value)} ${m.unit}`)])
  }
  const tools = h('div', { class: 'toolbar' },
    h('label', {}, 'Plane ', planeSel), h('label', {}, 'Window ', presetSel),
    h('button', { type: 'button', 'aria-label': 'zoom in', onclick: () => viewer.setZoom(viewer.zoom * 1.25) }, '+'),
    h('button', { type: 'button', 'aria-label': 'zoom out', onclick: () => viewer.setZoom(viewer.zoom / 1.25) }, '−'),
    overlays.length ? [h('label', {}, 'Overlay ', overlaySel), h('label', {}, 'Opacity ', opacity)] : null)
  const panel = h('div', { class: 'panel viewer-panel' }, tools, viewer.el,
    h('p', { class: 'muted keys' }, 'Keys (click the image first): 1–4 plane, ↑/↓ slice, +/− zoom, W window, O overlay on/off.'))
  // NiiVue needs the canvas in the document to size it.
  requestAnimationFrame(async () => {
    try {
      await viewer.start()
      const first = overlays.find(o => isLabel(o.role))
      if (first) {
        overlaySel.value = first.key
        await viewer.setOverlay(first)
        showMeasurements(first)
      }
    } catch (e) {
      panel.append(errorBox(e))
    }
  })
  return panel
}

/// An e-signature on a QC decision: the password again and a meaning (21 CFR Part 11).
function signDecision (trial, decision) {
  const meaning = h('select', { 'aria-label': 'meaning of the signature' }, ['authored', 'reviewed', 'approved'].map(m => h('option', { value: m }, m)))
  const password = h('input', { type: 'password', autocomplete: 'current-password', 'aria-label': 'your password', placeholder: 'password', size: 12 })
  const msg = h('span', { class: 'msg', role: 'status' })
  return h('form', { class: 'sign-decision', onsubmit: async e => {
    e.preventDefault()
    try {
      await api(`/api/v1/trials/${enc(trial)}/signatures`, { method: 'POST', body: { record_type: 'qc_decision', record_id: decision.id, meaning: meaning.value, password: password.value } })
      flash('Decision signed.')
      await refresh()
    } catch (err) {
      msg.textContent = err.message
      msg.className = 'msg error'
    }
  } }, 'Sign: ', meaning, ' ', password, ' ', h('button', { type: 'submit' }, 'Sign'), ' ', msg)
}

function qcPanel (trial, d) {
  const base = `/api/v1/trials/${enc(trial)}`
  const target = `series:${d.series.series_instance_uid}`
  const panel = h('div', { class: 'panel qc-panel' })
  const qc = d.qc || {}
  panel.append(h('h2', {}, 'QC review'),
    h('dl', { class: 'summary' },
      h('dt', {}, 'Subject'), h('dd', {}, d.series.subject),
      h('dt', {}, 'Site'), h('dd', {}, d.series.site),
      h('dt', {}, 'Visit'), h('dd', {}, d.visit ? `${d.visit.visit} ${isoDate(d.visit.date) || ''}` : '–'),
      h('dt', {}, 'Instances'), h('dd', {}, String(d.series.instances.length)),
      h('dt', {}, 'Status'), h('dd', { 'data-qc-status': qc.status || '' }, badge(qc.status), qc.computed_status && qc.computed_status !== qc.status ? ` (computed ${qc.computed_status})` : '')))
  panel.append(h('h3', {}, 'Conformance to the protocol'),
    h('table', { class: 'checks' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Item'), h('th', {}, 'Measured'), h('th', {}, 'Required'), h('th', {}, 'Status'))),
      h('tbody', {}, (qc.checks || []).map(c => h('tr', {}, h('td', {}, c.item), h('td', {}, c.measured ?? '–'), h('td', {}, c.required), h('td', {}, badge(c.status), c.note ? h('div', { class: 'note' }, c.note) : null))))))
  const quality = Object.entries(qc.quality || {})
  panel.append(h('h3', {}, 'Image quality'),
    quality.length
      ? h('table', { class: 'quality' }, h('tbody', {}, quality.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, fmt(v))))))
      : h('p', { class: 'muted' }, 'no metrics'))
  panel.append(h('h3', {}, 'Decisions'),
    d.decisions.length
      ? h('ul', { class: 'decisions' }, d.decisions.map(x => h('li', { 'data-decision': x.id }, badge(x.status), ` ${x.reason} — ${x.actor}, ${x.created_at || x.at || ''}`,
        (x.signatures || []).map(s => h('div', { class: 'signature' }, `signed: ${s.printed_name} — ${s.meaning} — ${s.signed_at}`)),
        d.may_decide ? signDecision(trial, x) : null)))
      : h('p', { class: 'muted' }, 'none'))
  panel.append(h('h3', {}, 'Queries to the site'),
    d.queries.length
      ? h('ul', { class: 'queries' }, d.queries.map(q => queryItem(trial, q)))
      : h('p', { class: 'muted' }, 'none'))
  if (d.may_decide) {
    const reason = h('textarea', { id: 'reason', rows: 2, placeholder: 'reason (required)', 'aria-label': 'reason' })
    const question = h('textarea', { id: 'question', rows: 2, placeholder: 'question to the site', 'aria-label': 'question to the site' })
    const msg = h('p', { class: 'msg', role: 'status' })
    const act = async (fn, done) => {
      msg.textContent = ''
      msg.className = 'msg'
      try {
        await fn()
        flash(done)
        await refresh()
      } catch (e) {
        msg.textContent = e.message
        msg.className = 'msg error'
      }
    }
    const decide = status => act(() => {
      if (!reason.value.trim()) throw new Error('a QC decision needs a reason')
      return api(`${base}/qc/decisions`, { method: 'POST', body: { target, status, reason: reason.value } })
    }, status === 'pass' ? 'Approved.' : 'Rejected.')
    panel.append(h('form', { class: 'decide', onsubmit: e => e.preventDefault() },
      h('h3', {}, 'Decide'), reason,
      h('div', { class: 'buttons' },
        h('button', { type: 'button', id: 'approve', onclick: () => decide('pass') }, 'Approve'),
        h('button', { type: 'button', id: 'reject', class: 'danger', onclick: () => decide('fail') }, 'Reject')),
      question,
      h('button', { type: 'button', id: 'raise-query', onclick: () => act(() => {
        if (!question.value.trim()) throw new Error('the query needs a question')
        return api(`${base}/queries`, { method: 'POST', body: { target, question: question.value } })
      }, 'Query raised.') }, 'Raise a query'),
      msg))
  }
  if (d.jobs && d.jobs.length) {
    panel.append(h('h3', {}, 'Jobs on this series'),
      h('ul', { class: 'jobs' }, d.jobs.map(j => h('li', {}, `${j.algorithm} `, badge(j.state), ' ',
        h('a', { href: `/api/v1/trials/${enc(trial)}/jobs/${j.id}/provenance`, target: '_blank', rel: 'noopener' }, 'provenance')))))
  }
  return panel
}

/// One query with its answer and resolution; the site answers an open one, QC staff close an
/// answered one (each step audited by the server).
function queryItem (trial, q) {
  const li = h('li', { 'data-query': q.id, 'data-state': q.state }, badge(q.state), ` ${q.question}`,
    h('div', { class: 'note' }, `raised by ${q.raised_by}, ${q.raised_at}`),
    q.answer ? h('div', { class: 'note' }, `answer: ${q.answer} — ${q.answered_by}`) : null,
    q.resolution ? h('div', { class: 'note' }, `closed: ${q.resolution} — ${q.closed_by}`) : null)
  const step = (kind, label, placeholder) => {
    const text = h('input', { class: `query-${kind}-text`, 'aria-label': placeholder, placeholder })
    const msg = h('span', { class: 'msg', role: 'status' })
    li.append(h('form', { class: `query-step query-${kind}`, onsubmit: async e => {
      e.preventDefault()
      try {
        if (!text.value.trim()) throw new Error(`${placeholder} is required`)
        await api(`/api/v1/trials/${enc(trial)}/queries/${q.id}/${kind}`, { method: 'POST', body: { text: text.value } })
        flash(kind === 'answer' ? 'Answered.' : 'Closed.')
        await refresh()
      } catch (err) {
        msg.textContent = err.message
        msg.className = 'msg error'
      }
    } }, text, h('button', { type: 'submit' }, label), msg))
  }
  if (q.state === 'open' && may('answer_query', trial)) step('answer', 'Answer', 'the answer')
  if (q.state !== 'closed' && may('decide_qc', trial)) step('close', 'Close', 'how it was resolved')
  return li
}
