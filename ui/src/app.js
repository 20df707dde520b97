// corelab's web UI: a single page with hash routes, over the HTTP API only.
//   #/login                      log in
//   #/                           the trials the user may see (or what their role does here)
//   #/trials/T                   the trial's dashboard
//   #/trials/T/series/UID        a series: viewer and QC review
//   #/trials/T/results           endpoint tables and plots
//   #/audit?…                    the audit browser
//   #/reads                      a reader's or adjudicator's worklist
//   #/reads/ID                   one read or adjudication task
// What a page shows follows what the server says the user may do (`/api/v1/me`): a page never
// asks for what the user may not see, and the server refuses it anyway.

import { api } from './api.js'
import { h, errorBox } from './dom.js'
import { loginPage } from './pages/login.js'
import { homePage } from './pages/home.js'
import { dashboardPage } from './pages/dashboard.js'
import { seriesPage } from './pages/series.js'
import { resultsPage } from './pages/results.js'
import { auditPage } from './pages/audit.js'
import { worklistPage } from './pages/worklist.js'
import { readPage } from './pages/read.js'

const state = { me: null, flash: null }

/// A message shown once at the top of the next page drawn ("Rejected.", "Query raised.").
export function flash (text) {
  state.flash = text
}

/// Draws the current page again (after a change the page shows).
export function refresh () {
  return route()
}

export function may (action, trial) {
  if (!state.me) return false
  if (trial) return (state.me.trials[trial] || []).includes(action)
  return state.me.may.includes(action)
}

function mayAnyTrial (action) {
  return state.me && Object.values(state.me.trials).some(a => a.includes(action))
}

function header () {
  const nav = document.getElementById('nav')
  const who = document.getElementById('who')
  nav.replaceChildren()
  who.replaceChildren()
  if (!state.me) return
  nav.append(h('a', { href: '#/' }, 'Trials'))
  if (mayAnyTrial('read_cases') && state.me.grants.some(g => g.role === 'reader' || g.role === 'adjudicator')) nav.append(h('a', { href: '#/reads' }, 'Worklist'))
  if (may('read_audit')) nav.append(h('a', { href: '#/audit' }, 'Audit'))
  const roles = [...new Set(state.me.grants.map(g => g.role))].join(', ')
  who.append(
    h('span', { class: 'user', title: roles }, `${state.me.display_name} (${roles})`),
    h('button', { type: 'button', class: 'link', onclick: logout }, 'Log out'))
}

async function logout () {
  try { await api('/api/v1/logout', { method: 'POST' }) } catch (_) { /* already out */ }
  state.me = null
  location.hash = '#/login'
}

export async function loggedIn () {
  state.me = await api('/api/v1/me')
  header()
}

async function route () {
  const main = document.getElementById('main')
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?')
  const params = new URLSearchParams(query)
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent)
  main.replaceChildren()
  try {
    if (parts[0] === 'login') {
      state.me = null
      header()
      main.append(loginPage())
      return
    }
    if (!state.me) await loggedIn()
    let page
    if (parts.length === 0) page = homePage(state.me, { mayAnyTrial })
    else if (parts[0] === 'trials' && parts.length === 2) page = dashboardPage(parts[1], params)
    else if (parts[0] === 'trials' && parts[2] === 'series' && parts[3]) page = seriesPage(parts[1], parts[3])
    else if (parts[0] === 'trials' && parts[2] === 'results') page = resultsPage(parts[1], params)
    else if (parts[0] === 'audit') page = auditPage(params)
    else if (parts[0] === 'reads' && parts.length === 1) page = worklistPage()
    else if (parts[0] === 'reads' && parts[1]) page = readPage(parts[1])
    else page = h('p', {}, 'No such page. ', h('a', { href: '#/' }, 'Back to the trials'))
    const drawn = await page
    if (state.flash) {
      main.append(h('p', { class: 'flash', role: 'status' }, state.flash))
      state.flash = null
    }
    main.append(drawn)
    main.focus({ preventScroll: true })
  } catch (e) {
    if (e.status !== 401) main.append(errorBox(e))
  }
}

window.addEventListener('hashchange', route)
route()
