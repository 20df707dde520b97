// Builds the UI into dist/: the app and NiiVue bundled by esbuild into one script (no CDN, no
// network at run time), with the page and the style sheet beside it.
import { build } from 'esbuild'
import { copyFileSync, mkdirSync, rmSync } from 'node:fs'

const out = new URL('./dist/', import.meta.url).pathname
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
await build({
  entryPoints: ['src/app.js'],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  outfile: `${out}app.js`,
  logLevel: 'warning',
})
copyFileSync('index.html', `${out}index.html`)
copyFileSync('src/app.css', `${out}app.css`)
console.log(`built ${out}`)
