import { existsSync, readFileSync } from 'node:fs'
import { reportPath } from '@loopdm/training-data/curation-report'
import { writeFileAtomic } from '@loopdm/training-data/fs-atomic'
import { redactPII } from '@loopdm/training-data/redaction'
import type { ExclusionReason } from './curation.js'
import type { AnswerSource } from './pairing.js'

/**
 * What a run chose: `<daily file>.report.json` beside the day's file (a second run the same day
 * adds its counts), the export summary log line and `npm run export:ft` print the same.
 */
export interface CurationReport {
  runs: number[]
  /** Examples written, by where their answer came from. */
  included: Record<AnswerSource, number>
  /** Bot answers a positive reaction marked preferred (counted in included.bot too). */
  preferred: number
  /** Candidates that train nothing, by the first reason that applied. */
  excluded: Partial<Record<ExclusionReason, number>>
  /** Tokens of the examples written, estimated as UTF-8 bytes / 4 (the tuner counts exactly). */
  tokens: number
  /** The 20 most repeated answer texts in the whole history (redacted, ≤ 120 chars). */
  topRepeated: Array<{ text: string; n: number }>
}

export const emptyReport = (): CurationReport => ({
  runs: [],
  included: { human: 0, import: 0, bot: 0 },
  preferred: 0,
  excluded: {},
  tokens: 0,
  topRepeated: [],
})

export { reportPath }

export function countExcluded(r: CurationReport, reason: ExclusionReason): void {
  r.excluded[reason] = (r.excluded[reason] ?? 0) + 1
}

/** The report's view of the history's most repeated answers: redacted, short. */
export function topForReport(top: Array<{ text: string; n: number }>): CurationReport['topRepeated'] {
  return top.map((t) => {
    const text = redactPII(t.text).text
    return { text: text.length > 120 ? `${text.slice(0, 119)}…` : text, n: t.n }
  })
}

/** Writes (or adds this run to) the day's report; returns the merged report. */
export async function writeReport(dataFile: string, run: CurationReport): Promise<CurationReport> {
  const path = reportPath(dataFile)
  let merged = run
  if (existsSync(path)) {
    try {
      const old = JSON.parse(readFileSync(path, 'utf8')) as CurationReport
      merged = {
        runs: [...(old.runs ?? []), ...run.runs],
        included: {
          human: (old.included?.human ?? 0) + run.included.human,
          import: (old.included?.import ?? 0) + run.included.import,
          bot: (old.included?.bot ?? 0) + run.included.bot,
        },
        preferred: (old.preferred ?? 0) + run.preferred,
        excluded: { ...old.excluded },
        tokens: (old.tokens ?? 0) + run.tokens,
        topRepeated: run.topRepeated,
      }
      for (const [k, n] of Object.entries(run.excluded))
        merged.excluded[k as ExclusionReason] = (merged.excluded[k as ExclusionReason] ?? 0) + (n ?? 0)
    } catch {
      merged = run
    }
  }
  await writeFileAtomic(path, `${JSON.stringify(merged, null, 2)}\n`)
  return merged
}

/** The report as summary lines (export:ft, the tuner's data report). */
export function formatReport(r: CurationReport): string[] {
  const inc = r.included
  const total = inc.human + inc.import + inc.bot
  const share = total > 0 ? (inc.human + inc.import) / total : 0
  const ex = Object.entries(r.excluded)
  return [
    `  included:         ${total} — human ${inc.human}, import ${inc.import}, bot ${inc.bot} (preferred ${r.preferred}); human+import share ${(share * 100).toFixed(1)}%`,
    `  excluded:         ${ex.length ? ex.map(([k, n]) => `${k} ${n}`).join(', ') : 'none'}`,
    `  tokens (est.):    ${r.tokens}`,
    ...(r.topRepeated.length
      ? [
          '  most repeated answers:',
          ...r.topRepeated
            .slice(0, 20)
            .map((t) => `    ${String(t.n).padStart(6)}× ${JSON.stringify(t.text)}`),
        ]
      : []),
  ]
}
