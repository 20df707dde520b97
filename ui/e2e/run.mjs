// End-to-end test of the web UI in headless Chromium (Debian's, driven by playwright-core),
// against a running `corelab demo --serve`:
//   node e2e/run.mjs BASE_URL LOGINS_JSON SCREENSHOT_DIR
// It logs in as each role of the demo and checks that each sees only what the role may (pages,
// links, rows; the server's answers for what the UI does not offer), that the dashboard shows the
// demo trial, that the viewer draws a slice with an overlay (overlay pixels counted in a
// screenshot), that two readers read a case blinded (every API answer of their sessions scanned
// for dates and site values), that their disagreement is adjudicated and signed, that a QC
// rejection appears in the audit browser, that the waterfall plot has one bar per subject, and
// that no page logs a console error. Screenshots of each page go to
// SCREENSHOT_DIR. Exit status 0 when every check holds; the first failure is printed.

import { chromium } from 'playwright-core'
import { readFileSync, mkdirSync } from 'node:fs'
import assert from 'node:assert/strict'

const [base, loginsFile, shots] = process.argv.slice(2)
if (!base || !loginsFile || !shots) {
  console.error('usage: node e2e/run.mjs BASE_URL LOGINS_JSON SCREENSHOT_DIR')
  process.exit(2)
}
mkdirSync(shots, { recursive: true })
const logins = Object.fromEntries(JSON.parse(readFileSync(loginsFile, 'utf8')).map(l => [l.username, l]))
const MS = 'DEMO-MS-001'
const DLB = 'DEMO-DLB-002'

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
})

const step = (name) => console.log(`- ${name}`)

/// A blinded session's answers: every API and DICOMweb response after the login, to be scanned.
const SITE_WORDS = ['S01', 'S02', 'S03', 'University Hospital A', 'Clinique du Parc B', 'Regional Medical Center C']
const DATE = /(?<![\d.])(19|20)\d\d-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])(?![\d.])/

function assertBlind (username, seen) {
  assert.ok(seen.length >= 2, `${username}: ${seen.length} answers scanned`)
  for (const { url, text } of seen) {
    const date = text.match(DATE)
    assert.equal(date, null, `${username} saw a date (${date && date[0]}) in ${url}`)
    for (const w of SITE_WORDS) assert.ok(!text.includes(w), `${username} saw ${w} in ${url}`)
  }
}

async function as (username, fn, { blind = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  // CI runs this beside other tests on two cores: wait generously, fail on what is wrong.
  context.setDefaultTimeout(120000)
  context.setDefaultNavigationTimeout(120000)
  const page = await context.newPage()
  const errors = []
  page.on('console', m => { if (m.type() === 'error') errors.push(`console: ${m.text()}`) })
  page.on('pageerror', e => errors.push(`page error: ${e.message}`))
  const seen = []
  const reading = []
  if (blind) {
    page.on('response', r => {
      const url = r.url()
      if (!/\/(api\/v1|dicomweb)\//.test(url) || url.endsWith('/api/v1/login')) return
      if (!/json|text/.test(r.headers()['content-type'] || '')) return
      reading.push(r.text().then(text => seen.push({ url, text }), () => {}))
    })
  }
  try {
    await page.goto(`${base}/#/login`)
    await page.fill('#username', username)
    await page.fill('#password', logins[username].password)
    await page.click('button[type=submit]')
    await page.waitForSelector('#who .user')
    await fn(page, context)
    assert.deepEqual(errors, [], `${username}: no console errors`)
    if (blind) {
      await Promise.all(reading)
      assertBlind(username, seen)
      step(`${username}: ${seen.length} answers scanned: no date, no site`)
    }
  } finally {
    await context.close()
  }
}

async function shot (page, name) {
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true })
}

/// The API's status for `path` in this browser session (the session cookie): what the server
/// answers for what the UI does not offer.
async function status (context, path) {
  return (await context.request.get(`${base}${path}`)).status()
}

/// Pixels of a PNG (the viewer's screenshot) that are the red of a label overlay over grey.
async function redPixels (page, png) {
  return page.evaluate(async (b64) => {
    const img = new Image()
    await new Promise((resolve, reject) => { img.onload = resolve; img.onerror = reject; img.src = `data:image/png;base64,${b64}` })
    const c = document.createElement('canvas')
    c.width = img.width
    c.height = img.height
    const g = c.getContext('2d')
    g.drawImage(img, 0, 0)
    const d = g.getImageData(0, 0, c.width, c.height).data
    let red = 0
    for (let i = 0; i < d.length; i += 4) if (d[i] > 120 && d[i] > 1.6 * d[i + 1] && d[i] > 1.6 * d[i + 2]) red++
    return red
  }, png.toString('base64'))
}

let rejected
const why = `e2e ${Date.now()}: motion artefacts on every slice`
const question = `e2e ${Date.now()}: please resend the FLAIR without motion`

await as('admin', async (page, context) => {
  step('admin: both demo trials, the audit link')
  await page.waitForSelector(`.card[data-trial="${MS}"]`)
  assert.equal(await page.locator('.card').count(), 2)
  assert.equal(await page.locator('#nav a[href="#/audit"]').count(), 1)
  await shot(page, 'home-admin')
  step('admin: the MS dashboard: three sites, three subjects, two visits')
  await page.click(`.card[data-trial="${MS}"] h2 a`)
  await page.waitForSelector('table.matrix tbody tr')
  assert.equal(await page.locator('table.matrix tbody tr').count(), 3)
  assert.deepEqual(await page.locator('table.matrix thead th').allTextContents(), ['Site', 'Subject', 'baseline', 'M12', 'Queries'])
  assert.equal(await page.locator('#site-filter option').count(), 4)
  await shot(page, 'dashboard')
  step('admin: the site filter')
  await page.selectOption('#site-filter', 'S02')
  await page.waitForFunction(() => document.querySelectorAll('table.matrix tbody tr').length === 1)
  assert.equal(await page.locator('table.matrix tbody tr').getAttribute('data-site'), 'S02')
  step('admin: a T1w series in the viewer with the brain mask as overlay')
  await page.selectOption('#site-filter', '')
  await page.waitForFunction(() => document.querySelectorAll('table.matrix tbody tr').length === 3)
  await page.locator('table.matrix tbody tr').first().locator('.series-links a', { hasText: 'T1w' }).first().click()
  await page.waitForSelector('.viewer[data-loaded^="overlay:"]')
  const chosen = await page.locator('#overlay option:checked').textContent()
  assert.match(chosen, /mask/, 'a label overlay is shown first')
  const canvas = page.locator('canvas.nv')
  // The canvas is drawn asynchronously (WebGL in software): read it until it settles.
  const settle = async (ok) => {
    let n = 0
    for (let i = 0; i < 60; i++) {
      n = await redPixels(page, await canvas.screenshot())
      if (ok(n)) break
      await page.waitForTimeout(500)
    }
    return n
  }
  const withOverlay = await settle(n => n > 500)
  await shot(page, 'viewer')
  step(`admin: ${withOverlay} overlay pixels with ${chosen}; none without`)
  assert.ok(withOverlay > 500, `overlay pixels: ${withOverlay}`)
  await page.fill('#opacity', '0')
  await page.dispatchEvent('#opacity', 'input')
  const without = await settle(n => n < withOverlay / 20)
  assert.ok(without < withOverlay / 20, `overlay pixels at opacity 0: ${without}`)
  step('admin: keyboard: coronal plane, scroll, zoom, window preset')
  await canvas.click()
  for (const k of ['2', 'ArrowUp', 'ArrowUp', '+', 'w']) await page.keyboard.press(k)
  await page.waitForTimeout(300)
  assert.equal(await page.locator('#preset').inputValue(), 'brain')
  await shot(page, 'viewer-coronal-keyboard')
  const measured = await page.locator('.viewer-info').textContent()
  assert.match(measured, /=/, 'the overlay job\'s measurements are shown on the image')
})


// Central reads on the MS trial (two readers count FLAIR lesions; an adjudicator settles).
let caseLabel
async function openCase (page, label) {
  await page.waitForSelector('#worklist tbody tr')
  const row = label ? page.locator(`#worklist tbody tr[data-case="${label}"][data-kind="read"]`) : page.locator('#worklist tbody tr[data-kind="read"]').first()
  const chosen = await row.getAttribute('data-case')
  await row.locator('a').click()
  await page.waitForSelector('.read-page .viewer[data-loaded="image"]')
  return chosen
}

async function acceptProposals (page) {
  const accept = page.locator('#accept-proposals')
  if (await accept.count()) {
    const before = Number(await page.locator('.read-panel').getAttribute('data-saved') || 0)
    await accept.click()
    await page.waitForFunction(n => Number(document.querySelector('.read-panel').dataset.saved || 0) > n, before)
  }
}

async function toTimePoint (page, label) {
  await page.selectOption('#timepoint', label)
  await page.waitForFunction(l => document.querySelector('.findings h2:last-of-type')?.textContent.includes(l), label)
  await page.waitForSelector('.read-page .viewer[data-loaded="image"]')
}

async function sign (page, username, meaning) {
  await page.selectOption('#sign-meaning', meaning)
  await page.fill('#sign-password', logins[username].password)
  await page.click('#sign-button')
  await page.waitForSelector('.read-page[data-state="signed"]')
  await page.waitForSelector('.signatures li.signature')
}

await as('reader', async (page, context) => {
  step('reader: the worklist: three cases, no catalogue')
  await page.waitForSelector('[data-role-notice]')
  await page.waitForSelector('#worklist tbody tr')
  assert.equal(await page.locator('#worklist tbody tr').count(), 3)
  assert.equal(await page.locator('.card').count(), 0)
  await shot(page, 'worklist-reader')
  caseLabel = await openCase(page)
  step(`reader: case ${caseLabel}: the engine's baseline lesions accepted`)
  await acceptProposals(page)
  const tp0 = await page.locator('table.marks tbody tr').count()
  assert.ok(tp0 > 0, 'baseline lesions marked')
  step('reader: TP1: a new lesion at a clicked point, its long axis drawn with the line tool')
  await toTimePoint(page, 'TP1')
  await acceptProposals(page)
  const canvas = page.locator('.read-page canvas.nv')
  const box = await canvas.boundingBox()
  await canvas.click({ position: { x: box.width * 0.5, y: box.height * 0.5 } })
  await page.click('#add-mark')
  const mark = page.locator('table.marks tbody tr[data-mark^="R1-"]').last()
  await mark.waitFor()
  await mark.locator('button.measure').click()
  await canvas.click({ position: { x: box.width * 0.45, y: box.height * 0.5 } })
  await canvas.click({ position: { x: box.width * 0.55, y: box.height * 0.55 } })
  await page.waitForSelector('#tool-status:text("Measured.")')
  await page.waitForFunction(() => /mm/.test([...document.querySelectorAll('table.marks tbody tr[data-mark^="R1-"] td.num')].pop()?.textContent || ''))
  await page.waitForSelector('#outcome[data-complete="true"] tr[data-tp="TP1"][data-response="active"]')
  await shot(page, 'read')
  step('reader: signed with the password again (authored)')
  await sign(page, 'reader', 'authored')
  assert.match(await page.locator('.signatures li').first().textContent(), /Central Reader — authored/)
  await shot(page, 'read-signed')
  assert.equal(await status(context, `/api/v1/trials/${MS}/reads`), 403, 'a reader sees no other reads')
}, { blind: true })

await as('reader2', async (page, context) => {
  step(`reader2: the same case ${caseLabel}: baseline accepted, no new lesion at TP1`)
  await openCase(page, caseLabel)
  await acceptProposals(page)
  await toTimePoint(page, 'TP1')
  // One lesion marked as present (not new) at TP1: the follow-up is inactive.
  await page.click('#add-mark')
  const mark = page.locator('table.marks tbody tr[data-mark^="R1-"]').last()
  await mark.waitFor()
  await mark.locator('select').selectOption('present')
  await page.waitForSelector('#outcome[data-complete="true"] tr[data-tp="TP1"][data-response="inactive"]')
  await sign(page, 'reader2', 'authored')
}, { blind: true })

await as('adjudicator', async (page, context) => {
  step(`adjudicator: case ${caseLabel}: both reads side by side, A accepted with a reason, signed`)
  await page.waitForSelector('#worklist tbody tr[data-kind="adjudication"]')
  const row = page.locator('#worklist tbody tr[data-kind="adjudication"]')
  assert.equal(await row.getAttribute('data-case'), caseLabel)
  await row.locator('a').click()
  await page.waitForSelector('#trigger')
  assert.match(await page.locator('#trigger').textContent(), /TP1: response (active vs inactive|inactive vs active)/)
  assert.equal(await page.locator('.read-col').count(), 2)
  await page.check('input[name=accepted][value=A]')
  await page.fill('#adjudication-reason', 'the new lesion at TP1 is visible on two slices')
  await page.click('#adjudication-save')
  await page.waitForSelector('#accepted:text("Accepted: read A")')
  await sign(page, 'adjudicator', 'approved')
  await shot(page, 'adjudication')
}, { blind: true })

await as('analyst', async (page, context) => {
  step('analyst (qc): no audit link; reject a FLAIR series with a reason')
  assert.equal(await page.locator('#nav a[href="#/audit"]').count(), 0)
  await page.goto(`${base}/#/trials/${MS}`)
  await page.waitForSelector('table.matrix tbody tr')
  const link = page.locator('table.matrix tbody tr[data-site="S01"]').locator('.series-links a', { hasText: 'FLAIR' }).first()
  rejected = decodeURIComponent((await link.getAttribute('href')).split('/series/')[1])
  await link.click()
  await page.waitForSelector('.qc-panel table.checks tbody tr')
  assert.ok(await page.locator('.qc-panel table.quality tr').count() > 0, 'image-quality metrics shown')
  await page.fill('#reason', why)
  await page.click('#reject')
  await page.waitForSelector('.flash:text("Rejected.")')
  await page.waitForSelector(`.qc-panel .decisions li:has-text("${why}")`)
  await page.waitForSelector('.qc-panel [data-qc-status="fail"]')
  step('analyst: the rejection signed (password again, authored)')
  const decision = page.locator(`.qc-panel .decisions li:has-text("${why}")`)
  await decision.locator('select').selectOption('authored')
  await decision.locator('input[type=password]').fill(logins.analyst.password)
  await decision.locator('button').click()
  await page.waitForSelector('.flash:text("Decision signed.")')
  await page.waitForSelector(`.qc-panel .decisions li:has-text("${why}") .signature:has-text("Core-lab Analyst — authored")`)
  await page.fill('#question', question)
  await page.click('#raise-query')
  await page.waitForSelector('.flash:text("Query raised.")')
  await page.waitForSelector(`.qc-panel .queries li:has-text("${question}")`)
  await shot(page, 'qc-review')
  assert.equal(await status(context, '/api/v1/audit/events'), 403)
})

await as('auditor', async (page, context) => {
  step('auditor: the rejection in the audit browser, the object history, verification')
  await page.click('#nav a[href="#/audit"]')
  await page.waitForSelector('table.audit tbody tr')
  await page.fill('#audit-action', 'qc.decide')
  await page.click('.audit-page form button[type=submit]')
  await page.waitForFunction(() => { const rows = [...document.querySelectorAll('table.audit tbody tr')]; return rows.length > 0 && rows.every(r => r.dataset.action === 'qc.decide') })
  const row = page.locator('table.audit tbody tr', { hasText: why })
  assert.equal(await row.count(), 1, 'the rejection is in the trail')
  assert.match(await row.textContent(), new RegExp(rejected.replaceAll('.', '\\.')))
  assert.match(await row.textContent(), /http:analyst/)
  await row.locator('a').click()
  await page.waitForSelector('.audit-page .notice')
  await page.click('#verify')
  await page.waitForSelector('.verify-result[data-ok="true"]', { timeout: 120000 })
  await shot(page, 'audit')
  assert.equal(await status(context, '/api/v1/users'), 403)
})

await as('sponsor', async (page, context) => {
  step('sponsor: results of the MS trial: the waterfall has one bar per subject')
  await page.goto(`${base}/#/trials/${MS}/results`)
  await page.waitForSelector('svg[data-plot="waterfall"]')
  assert.equal(await page.locator('svg[data-plot="waterfall"] rect[data-bar]').count(), 3)
  assert.equal(await page.locator('svg[data-plot="spider"] polyline').count(), 3)
  assert.ok(await page.locator('svg[data-plot="longitudinal"]').count() >= 2)
  assert.ok(await page.locator('table.endpoints tbody tr').count() > 50)
  step('sponsor: the central reads: the accepted read flagged, reader statistics')
  await page.waitForSelector('#reads table.read-tasks tbody tr')
  assert.equal(await page.locator('#reads table.read-tasks tbody tr').count(), 7)
  assert.equal(await page.locator('#reads tr[data-accepted="true"]').count(), 1)
  assert.equal(await page.locator('#reader-stats tbody tr').count(), 2)
  await shot(page, 'results-ms')
  step('sponsor: a plot exported as CSV')
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('figure[data-figure*="waterfall"] button', { hasText: 'CSV' }).click()])
  assert.match(download.suggestedFilename(), /waterfall.*\.csv$/)
  step('sponsor: the DLB trial: the Centiloid distribution')
  await page.goto(`${base}/#/trials/${DLB}/results`)
  await page.waitForSelector('svg[data-plot="distribution"]')
  assert.match(await page.locator('#dist option:checked').textContent(), /centiloid/)
  assert.equal(await page.locator('svg[data-plot="distribution"] circle').count(), 3)
  await shot(page, 'results-dlb')
  assert.equal(await status(context, `/api/v1/trials/${MS}/series/${encodeURIComponent(rejected)}/volume.nii.gz`), 403, 'a sponsor does not read images')
})

await as('site-s01', async (page, context) => {
  step('site-s01: only site S01 in the dashboard, no results, no audit')
  assert.equal(await page.locator('#nav a[href="#/audit"]').count(), 0)
  await page.waitForSelector('.card')
  assert.equal(await page.locator('.card a', { hasText: 'Results' }).count(), 0)
  await page.goto(`${base}/#/trials/${MS}`)
  await page.waitForSelector('table.matrix tbody tr')
  const sites = await page.locator('table.matrix tbody tr').evaluateAll(rows => rows.map(r => r.dataset.site))
  assert.deepEqual(sites, ['S01'])
  assert.equal(await page.locator('#site-filter option').count(), 2)
  assert.equal(await page.locator('[data-jobs]').count(), 0, 'no job counts for a site')
  await shot(page, 'dashboard-site')
  step('site-s01: answers the query about its series')
  const q = page.locator('table.open-queries tbody tr', { hasText: question })
  assert.equal(await q.count(), 1, 'the query is in the site\'s list')
  await q.locator('a').click()
  const item = page.locator(`.qc-panel .queries li:has-text("${question}")`)
  await item.locator('input.query-answer-text').fill('rescanned on 2026-12-03; resent')
  await item.locator('form.query-answer button').click()
  await page.waitForSelector(`.qc-panel .queries li[data-state="answered"]:has-text("${question}")`)
  assert.equal(await page.locator('#reject').count(), 0, 'a site does not decide QC')
  await shot(page, 'query-answered-by-site')
  assert.equal(await status(context, `/api/v1/trials/${MS}/measurements`), 403)
  const rows = (await (await context.request.get(`${base}/api/v1/trials/${MS}/series?limit=1000`)).json()).items
  assert.ok(rows.length > 0 && rows.every(s => s.site === 'S01'), 'the API gives a site its own series only')
})

for (const role of ['reader', 'adjudicator']) {
  await as(role, async (page, context) => {
    step(`${role}: no trial catalogue, told what the role does`)
    await page.waitForSelector('[data-role-notice]')
    assert.equal(await page.locator('.card').count(), 0)
    assert.equal(await page.locator('#nav a[href="#/audit"]').count(), 0)
    await shot(page, `home-${role}`)
    assert.equal(await status(context, `/api/v1/trials/${MS}/dashboard`), 403)
    assert.equal(await status(context, `/api/v1/trials/${MS}/measurements`), 403)
  }, { blind: true })
}

await browser.close()
console.log('ui e2e: every check holds')
