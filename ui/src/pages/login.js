// The login form: POST /api/v1/login sets the session cookie (HTTP-only), then the user's page.

import { api } from '../api.js'
import { h } from '../dom.js'
import { loggedIn } from '../app.js'

export function loginPage () {
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true })
  const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true })
  const msg = h('p', { class: 'error', role: 'alert' })
  const form = h('form', { class: 'login', onsubmit: async e => {
    e.preventDefault()
    msg.textContent = ''
    try {
      await api('/api/v1/login', { method: 'POST', body: { username: user.value, password: pass.value } })
      await loggedIn()
      location.hash = '#/'
    } catch (err) {
      msg.textContent = err.message
    }
  } },
  h('h1', {}, 'Log in to corelab'),
  h('label', { for: 'username' }, 'User name'), user,
  h('label', { for: 'password' }, 'Password'), pass,
  h('button', { type: 'submit' }, 'Log in'), msg)
  setTimeout(() => user.focus(), 0)
  return form
}
