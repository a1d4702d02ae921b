/** `npm run bench [filter]`: runs every bench/*.bench.ts (or those whose name contains filter). */
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { type Bench, type BenchRow, fmt } from './harness.js'

const dir = dirname(fileURLToPath(import.meta.url))
const filter = process.argv[2]
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts') && (!filter || f.includes(filter)))
  .sort()
if (files.length === 0) {
  process.stderr.write(`no benchmark matches ${filter}\n`)
  process.exit(1)
}
const line = (r: BenchRow) =>
  `${r.name.padEnd(44)} ${`${fmt(r.value)} ${r.unit}`.padStart(16)}   baseline ${`${fmt(r.baseline)} ${r.unit}`.padStart(16)}   ratio ${fmt(r.value / r.baseline).padStart(7)} (${r.better} is better)${r.target ? `   target ${r.target}` : ''}${r.note ? `   ${r.note}` : ''}`
let failed = false
for (const f of files) {
  process.stdout.write(`# ${f}\n`)
  try {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { default: Bench }
    for (const row of await mod.default()) process.stdout.write(`${line(row)}\n`)
  } catch (err) {
    failed = true
    process.stdout.write(`! ${f} failed: ${(err as Error).stack}\n`)
  }
}
process.exit(failed ? 1 : 0)
