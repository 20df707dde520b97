// The API client: JSON over fetch with the session cookie (same origin), errors as the server's
// problem+json detail. A 401 sends the user to the login page.

export class ApiError extends Error {
  constructor (status, detail) {
    super(detail)
    this.status = status
  }
}

export async function api (path, { method = 'GET', body, raw = false } = {}) {
  const init = { method, headers: {}, credentials: 'same-origin' }
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json'
    init.body = JSON.stringify(body)
  }
  const r = await fetch(path, init)
  if (r.status === 401 && !path.endsWith('/login')) {
    location.hash = '#/login'
    throw new ApiError(401, 'please log in')
  }
  if (!r.ok) {
    let detail = `${r.status} ${r.statusText}`
    try {
      const p = await r.json()
      detail = p.detail || p.title || detail
    } catch (_) { /* not JSON */ }
    throw new ApiError(r.status, detail)
  }
  if (raw) return r
  if (r.status === 204) return null
  const type = r.headers.get('content-type') || ''
  return type.includes('json') ? r.json() : r.text()
}

/// Every item of a paged list.
export async function all (path) {
  const items = []
  const sep = path.includes('?') ? '&' : '?'
  for (let offset = 0; ; offset += 1000) {
    const page = await api(`${path}${sep}limit=1000&offset=${offset}`)
    items.push(...page.items)
    if (page.items.length < 1000) return items
  }
}

export const enc = encodeURIComponent
