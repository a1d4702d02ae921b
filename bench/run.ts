/**
 * `npm run bench [filter] [--json [file]] [--compare <file>]`: runs every bench/*.bench.ts (or those
 * whose name contains filter) and prints each row through bench/report.ts. `--json` also writes the
 * rows to `file` (default bench-results/<ISO time>.json; the path is printed); `--compare` prints
 * each row's change against a file an earlier `--json` run wrote.
 */
import { readdirSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Bench } from './harness.js'
import { compareResults, parseBenchArgs, Reporter, readResults, writeResults } from './report.js'

const dir = dirname(fileURLToPath(import.meta.url))
const startedAt = new Date()
let args: ReturnType<typeof parseBenchArgs>
try {
  args = parseBenchArgs(process.argv.slice(2), { root: resolve(dir, '..'), now: startedAt })
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`)
  process.exit(2)
}
// Read the comparison file first: a typo fails before minutes of benchmarking.
const previous = args.compare ? readResults(args.compare) : undefined
const { filter } = args
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts') && (!filter || f.includes(filter)))
  .sort()
if (files.length === 0) {
  process.stderr.write(`no benchmark matches ${filter}\n`)
  process.exit(1)
}
const load = loadavg()[0] ?? 0
const reporter = new Reporter()
for (const f of files) {
  reporter.begin(f)
  try {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { default: Bench }
    for (const row of await mod.default()) reporter.row(f, row)
  } catch (err) {
    reporter.fail(f, err)
  }
}
const results = reporter.results({ date: startedAt.toISOString(), filter: filter ?? null, load })
if (args.json) {
  writeResults(args.json, results)
  process.stdout.write(`# rows written to ${args.json}\n`)
}
if (previous) for (const l of compareResults(previous, results)) process.stdout.write(`${l}\n`)
process.exit(reporter.failed.length > 0 ? 1 : 0)
