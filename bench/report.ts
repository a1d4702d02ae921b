/**
 * The one reporter every benchmark's rows go through (bench/run.ts): a printed line per row, and
 * with `--json` the rows as JSON (name, value, baseline, ratio, target, pass …) in a file, so a
 * later run can `--compare` against it row by row.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { type BenchRow, fmt } from './harness.js'

export interface JsonRow {
  /** The bench file the row came from, e.g. `webhook.bench.ts`. */
  bench: string
  name: string
  value: number
  baseline: number
  /** value / baseline. */
  ratio: number
  unit: string
  better: 'higher' | 'lower'
  target: string | null
  /** Whether the target holds; null when the row has no target or it is not machine-checkable. */
  pass: boolean | null
  note: string | null
}

export interface BenchResults {
  /** ISO time the run started. */
  date: string
  /** The filter the run was started with, if any. */
  filter: string | null
  /** 1-minute load average at the start (the machine is shared: figures vary with it). */
  load: number
  rows: JsonRow[]
  /** Bench files that threw (their rows are missing). */
  failed: string[]
}

const OPS: Record<string, (a: number, b: number) => boolean> = {
  '≥': (a, b) => a >= b,
  '>=': (a, b) => a >= b,
  '≤': (a, b) => a <= b,
  '<=': (a, b) => a <= b,
  '<': (a, b) => a < b,
  '>': (a, b) => a > b,
  '=': (a, b) => a === b,
}

/**
 * Checks a row's target: `[ratio|value] <op> [α|β =] <number> [unit …]`, e.g. `ratio ≥ 0.7`,
 * `value < 10 ms`, `≥ 50000 msg/s`, `value ≤ α = 5%`, `0` (= 0), or several joined by ` and `
 * (every one must hold). The subject defaults to the value; a row's own `pass` wins. Anything
 * else is null (not machine-checkable).
 */
export function passOf(row: Pick<BenchRow, 'value' | 'baseline' | 'target' | 'pass'>): boolean | null {
  if (typeof row.pass === 'boolean') return row.pass
  if (!row.target) return null
  const clauses = row.target.split(/\s+and\s+/)
  if (clauses.length > 1) {
    const each = clauses.map((target) => passOf({ value: row.value, baseline: row.baseline, target }))
    return each.includes(null) ? null : each.every(Boolean)
  }
  const m = /^\s*(ratio|value)?\s*(≥|>=|≤|<=|<|>|=)?\s*(?:[αβ]\s*=\s*)?(-?\d+(?:\.\d+)?)/.exec(row.target)
  if (!m) return null
  const subject = m[1] === 'ratio' ? row.value / row.baseline : row.value
  const op = OPS[m[2] ?? '='] as (a: number, b: number) => boolean
  if (Number.isNaN(subject)) return false
  return op(subject, Number(m[3]))
}

export function toJsonRow(bench: string, row: BenchRow): JsonRow {
  return {
    bench,
    name: row.name,
    value: row.value,
    baseline: row.baseline,
    ratio: row.value / row.baseline,
    unit: row.unit,
    better: row.better,
    target: row.target ?? null,
    pass: passOf(row),
    note: row.note ?? null,
  }
}

const passMark = (p: boolean | null) => (p === null ? '' : p ? '   PASS' : '   FAIL')

/** The printed line of one row. */
export function formatRow(row: BenchRow): string {
  const { unit } = row
  return `${row.name.padEnd(44)} ${`${fmt(row.value)} ${unit}`.padStart(16)}   baseline ${`${fmt(row.baseline)} ${unit}`.padStart(16)}   ratio ${fmt(row.value / row.baseline).padStart(7)} (${row.better} is better)${row.target ? `   target ${row.target}` : ''}${passMark(passOf(row))}${row.note ? `   ${row.note}` : ''}`
}

const pct = (now: number, then: number) =>
  then === 0
    ? now === 0
      ? '±0%'
      : 'n/a'
    : `${now >= then ? '+' : ''}${(((now - then) / Math.abs(then)) * 100).toFixed(1)}%`

/**
 * One line per row of `current`, matched by bench and name against `previous`: value then → now,
 * its change, the ratio then → now, and whether that is better or worse (by the row's `better`).
 * Rows only in one run are listed as new / gone.
 */
export function compareResults(previous: BenchResults, current: BenchResults): string[] {
  const key = (r: JsonRow) => `${r.bench}\u0000${r.name}`
  const before = new Map(previous.rows.map((r) => [key(r), r]))
  const out = [
    `# compared with the run of ${previous.date} (load ${previous.load.toFixed(2)} then, ${current.load.toFixed(2)} now)`,
  ]
  for (const r of current.rows) {
    const p = before.get(key(r))
    before.delete(key(r))
    if (!p) {
      out.push(`${r.name.padEnd(44)} new: ${fmt(r.value)} ${r.unit}`)
      continue
    }
    const moved =
      r.value === p.value ? 'same' : r.value > p.value === (r.better === 'higher') ? 'better' : 'worse'
    const passNote = p.pass !== r.pass ? `   pass ${p.pass} → ${r.pass}` : ''
    out.push(
      `${r.name.padEnd(44)} ${fmt(p.value)} → ${fmt(r.value)} ${r.unit} (${pct(r.value, p.value)}, ${moved})   ratio ${fmt(p.ratio)} → ${fmt(r.ratio)} (${pct(r.ratio, p.ratio)})${passNote}`,
    )
  }
  for (const p of before.values()) out.push(`${p.name.padEnd(44)} gone (was ${fmt(p.value)} ${p.unit})`)
  return out
}

export function readResults(file: string): BenchResults {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`--compare ${file}: cannot read bench results (${(err as Error).message})`)
  }
  const r = parsed as Partial<BenchResults>
  if (!r || typeof r.date !== 'string' || !Array.isArray(r.rows))
    throw new Error(
      `--compare ${file}: not a bench results file (expected { date, rows[] } as --json writes)`,
    )
  return { filter: null, load: 0, failed: [], ...r } as BenchResults
}

export function writeResults(file: string, results: BenchResults): void {
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
}

/** Collects and prints rows as each bench returns them. */
export class Reporter {
  readonly rows: JsonRow[] = []
  readonly failed: string[] = []

  constructor(private readonly write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {}

  begin(bench: string): void {
    this.write(`# ${bench}`)
  }

  row(bench: string, row: BenchRow): void {
    this.rows.push(toJsonRow(bench, row))
    this.write(formatRow(row))
  }

  fail(bench: string, err: unknown): void {
    this.failed.push(bench)
    this.write(`! ${bench} failed: ${(err as Error)?.stack ?? String(err)}`)
  }

  results(meta: { date: string; filter: string | null; load: number }): BenchResults {
    return { ...meta, rows: this.rows, failed: this.failed }
  }
}

/** `[filter] [--json [file]] [--compare <file>]` (`--json=file` too). */
export function parseBenchArgs(
  argv: string[],
  opts: { root: string; now: Date },
): { filter: string | undefined; json: string | undefined; compare: string | undefined } {
  let filter: string | undefined
  let json: string | undefined
  let compare: string | undefined
  const defaultJson = join(opts.root, 'bench-results', `${opts.now.toISOString().replace(/[:.]/g, '-')}.json`)
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (a === '--json') {
      const next = argv[i + 1]
      json = next?.endsWith('.json') ? resolve(next) : defaultJson
      if (next?.endsWith('.json')) i++
    } else if (a.startsWith('--json=')) json = resolve(a.slice(7))
    else if (a === '--compare' || a.startsWith('--compare=')) {
      const v = a === '--compare' ? argv[++i] : a.slice(10)
      if (!v)
        throw new Error('--compare needs a results file (one an earlier `npm run bench -- --json` wrote)')
      compare = resolve(v)
    } else if (a.startsWith('--'))
      throw new Error(`unknown option ${a} (known: --json [file], --compare <file>)`)
    else if (filter === undefined) filter = a
    else throw new Error(`one filter only (got ${filter} and ${a})`)
  }
  return { filter, json, compare }
}
