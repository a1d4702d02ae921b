import { createHash } from 'node:crypto'
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import type { Config } from '@loopdm/platform/config'
import { writeFileAtomic } from '@loopdm/training-data/fs-atomic'
import { tokenLimitFor, validateFtFile } from '@loopdm/training-data/ft-format'
import { manifestPath } from '@loopdm/training-data/pseudonym'
import { TrainingDataRefusedError } from '../errors.js'

/** What `npm run tune` prints and the tune job returns: the data, before any money is spent. */
export interface DataReport {
  file: string
  bytes: number
  sha256: string
  examples: number
  tokens: number
  /** Tokens of the longest example. */
  longest: number
  /** Per-example limit of the base model. */
  tokenLimit?: number | undefined
  problems: number
  problemsByKind: Record<string, number>
  /** First few problems (line numbers and kinds; never line text). */
  firstProblems: Array<{ line?: number; kind?: string; message?: string }>
  /** Last daily export (YYYY-MM-DD) included in the data, when known. */
  dataThrough: string | null
  /** Where the data came from: `file`, `master` or `since-last`. */
  source: 'file' | 'master' | 'since-last'
}

// The exporter's daily files; `.partN` when EXPORT_OVERSIZE=split, `.gz` after 30 days.
const DAILY = /^fine_tune_(\d{4}-\d{2}-\d{2})(?:\.part(\d+))?\.jsonl(\.gz)?$/
export const MASTER_FILE = 'master_fine_tune.jsonl'

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** Dates of the daily export files in `dir` (gzipped ones included), ascending. */
export function dailyExportDates(
  dir: string,
): Array<{ date: string; part: number; file: string; gz: boolean }> {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .map((f) => ({ f, m: DAILY.exec(f) }))
    .filter((x) => x.m)
    .map((x) => ({
      date: x.m?.[1] as string,
      part: Number(x.m?.[2] ?? 1),
      file: join(dir, x.f),
      gz: Boolean(x.m?.[3]),
    }))
    .sort((a, b) => a.date.localeCompare(b.date) || a.part - b.part)
}

/**
 * Which file to train on. An explicit file wins; else `FT_TRAINING_DATA`: `master` (the whole
 * master file) or `since-last` (the daily exports newer than the last succeeded job's
 * `dataThrough`, concatenated into `EXPORT_DIR/tune/since_<from>_<to>.jsonl`, written atomically
 * and deterministically so the same days give the same sha256 and hence the same job).
 */
export async function pickTrainingData(opts: {
  config: Config
  file?: string | undefined
  lastDataThrough?: string | null | undefined
}): Promise<{ path: string; source: DataReport['source']; dataThrough: string | null }> {
  const dir = resolve(opts.config.export.dir)
  const dailies = dailyExportDates(dir)
  const latest = dailies.at(-1)?.date ?? null
  if (opts.file) {
    const path = resolve(opts.file)
    if (!existsSync(path)) throw new TrainingDataRefusedError(`training file ${opts.file} does not exist`)
    return { path, source: 'file', dataThrough: null }
  }
  if (opts.config.finetune.trainingData === 'since-last' && opts.lastDataThrough) {
    const since = opts.lastDataThrough
    const fresh = dailies.filter((d) => d.date > since)
    if (fresh.length === 0)
      throw new TrainingDataRefusedError(
        `no daily export newer than ${since} (the last tuned model's data) in ${dir}: nothing new to tune on`,
      )
    const gz = fresh.filter((d) => d.gz)
    if (gz.length > 0)
      throw new TrainingDataRefusedError(
        `daily exports ${gz.map((d) => d.date).join(', ')} are already archived (gzipped); pass --file or use FT_TRAINING_DATA=master`,
      )
    const first = fresh[0]?.date as string
    const last = fresh.at(-1)?.date as string
    const outDir = join(dir, 'tune')
    await mkdir(outDir, { recursive: true })
    const path = join(outDir, `since_${first}_${last}.jsonl`)
    const lines = (file: string) => {
      const s = readFileSync(file, 'utf8')
      return s.length === 0 || s.endsWith('\n') ? s : `${s}\n`
    }
    // The manifests are concatenated alongside, so a GDPR erase finds the user's lines here too.
    const missing = fresh.filter((d) => !existsSync(manifestPath(d.file)))
    if (missing.length > 0)
      throw new TrainingDataRefusedError(
        `daily exports ${missing.map((d) => basename(d.file)).join(', ')} have no manifest (${basename(manifestPath(missing[0]?.file ?? ''))}), so a GDPR erase could not find their lines in the training file; re-export them or pass --file`,
      )
    await writeFileAtomic(manifestPath(path), fresh.map((d) => lines(manifestPath(d.file))).join(''))
    await writeFileAtomic(path, fresh.map((d) => lines(d.file)).join(''))
    return { path, source: 'since-last', dataThrough: last }
  }
  const master = join(dir, MASTER_FILE)
  if (!existsSync(master))
    throw new TrainingDataRefusedError(
      `no training data: ${master} does not exist (run npm run export:ft first)`,
    )
  return { path: master, source: 'master', dataThrough: latest }
}

/**
 * Validates every line with the shared fine-tuning checks (the same ones the exporter runs),
 * counts tokens with the real tokenizer, and refuses data OpenAI would reject or we must not send:
 * over EXPORT_MAX_BYTES, fewer than FT_MIN_EXAMPLES examples, or any invalid line.
 * Returns the report either way when `refuse` is false (dry runs print it).
 */
export async function inspectTrainingData(opts: {
  config: Config
  path: string
  source: DataReport['source']
  dataThrough: string | null
}): Promise<{ report: DataReport; refusal: string | null }> {
  const { config, path } = opts
  const bytes = statSync(path).size
  const sha256 = await sha256File(path)
  if (bytes > config.export.maxBytes) {
    const report: DataReport = {
      file: path,
      bytes,
      sha256,
      examples: 0,
      tokens: 0,
      longest: 0,
      problems: 0,
      problemsByKind: {},
      firstProblems: [],
      dataThrough: opts.dataThrough,
      source: opts.source,
    }
    return {
      report,
      refusal: `${basename(path)} is ${bytes} bytes, over EXPORT_MAX_BYTES (${config.export.maxBytes}); split it or raise the limit`,
    }
  }
  const v = await validateFtFile(path, { model: config.models.ftBase })
  const report: DataReport = {
    file: path,
    bytes,
    sha256,
    examples: v.examples,
    tokens: v.tokens,
    longest: v.longest,
    tokenLimit: tokenLimitFor(config.models.ftBase),
    problems: Object.values(v.byKind).reduce((s: number, n) => s + (n ?? 0), 0),
    problemsByKind: { ...(v.byKind as Record<string, number>) },
    // Problem messages name the line and the rule, never the line's text.
    firstProblems: v.problems.slice(0, 5).map((p) => ({ line: p.line, kind: p.kind, message: p.message })),
    dataThrough: opts.dataThrough,
    source: opts.source,
  }
  let refusal: string | null = null
  if (report.problems > 0) {
    const kinds = Object.entries(report.problemsByKind)
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ')
    refusal = `${basename(path)} has ${report.problems} invalid line(s) (${kinds}); fix the export before tuning`
  } else if (report.examples < config.finetune.minExamples) {
    refusal = `${basename(path)} has ${report.examples} example(s), fewer than FT_MIN_EXAMPLES (${config.finetune.minExamples})`
  }
  return { report, refusal }
}

/** The data report as the lines `npm run tune` prints. */
export function formatDataReport(r: DataReport): string[] {
  const kinds = Object.entries(r.problemsByKind)
  return [
    `training data  ${r.file} (${r.source}${r.dataThrough ? `, through ${r.dataThrough}` : ''})`,
    `  bytes        ${r.bytes}`,
    `  sha256       ${r.sha256}`,
    `  examples     ${r.examples}`,
    `  tokens       ${r.tokens}`,
    `  longest      ${r.longest} tokens${r.tokenLimit ? ` (limit ${r.tokenLimit})` : ''}`,
    `  problems     ${r.problems}${kinds.length ? ` — ${kinds.map(([k, n]) => `${k}: ${n}`).join(', ')}` : ''}`,
    ...r.firstProblems.map((p) => `    line ${p.line ?? '?'}: ${p.kind ?? ''} ${p.message ?? ''}`.trimEnd()),
  ]
}
