import { createHash } from 'node:crypto'
import { createReadStream, statSync } from 'node:fs'
import { basename } from 'node:path'
import type { Config } from '@loopdm/platform/config'
import { tokenLimitFor, validateFtFile } from '@loopdm/training-data/ft-format'
import type { TrainingDataSource } from '@loopdm/training-data/training-file'
import type { TrainingWindow } from '@loopdm/training-data/training-window'
import { curationOf, type DataCuration, formatCuration, shareRefusal } from './data-curation.js'

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
  source: TrainingDataSource
  /** Where its answers came from, the window it is of, the last export's exclusions. */
  curation?: DataCuration | undefined
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
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
  /** The provider's limits for the base (per-example tokens, its own minimum of examples). */
  limits?: { tokenLimit: number; minExamples: number }
  /** The window of a larger file this is (training-window.ts), when one was cut. */
  window?: TrainingWindow | null
  /** Train even below FT_MIN_HUMAN_SHARE. */
  force?: boolean
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
  const tokenLimit = opts.limits?.tokenLimit ?? tokenLimitFor(config.models.ftBase)
  const minExamples = Math.max(config.finetune.minExamples, opts.limits?.minExamples ?? 0)
  const v = await validateFtFile(path, { model: config.models.ftBase, maxTokens: tokenLimit })
  const report: DataReport = {
    file: path,
    bytes,
    sha256,
    examples: v.examples,
    tokens: v.tokens,
    longest: v.longest,
    tokenLimit,
    problems: Object.values(v.byKind).reduce((s: number, n) => s + (n ?? 0), 0),
    problemsByKind: { ...(v.byKind as Record<string, number>) },
    // Problem messages name the line and the rule, never the line's text.
    firstProblems: v.problems.slice(0, 5).map((p) => ({ line: p.line, kind: p.kind, message: p.message })),
    dataThrough: opts.dataThrough,
    source: opts.source,
    curation: await curationOf(path, config.export.dir, opts.window ?? null),
  }
  let refusal: string | null = null
  if (report.problems > 0) {
    const kinds = Object.entries(report.problemsByKind)
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ')
    const first = report.firstProblems[0]
    const where = first ? `; first: line ${first.line ?? '?'}: ${first.message ?? first.kind ?? ''}` : ''
    refusal = `${basename(path)} has ${report.problems} invalid line(s) (${kinds})${where}; fix the export before tuning`
  } else if (report.examples < minExamples) {
    refusal =
      minExamples > config.finetune.minExamples
        ? `${basename(path)} has ${report.examples} example(s), fewer than the provider's minimum (${minExamples})`
        : `${basename(path)} has ${report.examples} example(s), fewer than FT_MIN_EXAMPLES (${config.finetune.minExamples})`
  } else if (report.curation) {
    refusal = shareRefusal(report.curation, config.finetune.minHumanShare, opts.force === true)
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
    ...(r.curation ? formatCuration(r.curation) : []),
  ]
}
