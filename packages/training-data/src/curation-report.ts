import { readFileSync } from 'node:fs'

/**
 * A day's curation report as readers see it: `<daily file>.report.json`, written by the exporter
 * (apps/exporter export-report.ts) beside the day's file — examples included by source, excluded
 * by reason, tokens, the most repeated answers (redacted). The console's Data page reads it.
 */
export interface CurationReportView {
  runs: number[]
  included: Record<string, number>
  preferred: number
  excluded: Record<string, number>
  tokens: number
  topRepeated: Array<{ text: string; n: number }>
}

export const reportPath = (dataFile: string) => `${dataFile}.report.json`

/** The report beside `dataFile`, or undefined when there is none (or it is unreadable). */
export function readCurationReport(dataFile: string): CurationReportView | undefined {
  try {
    const r = JSON.parse(readFileSync(reportPath(dataFile), 'utf8')) as Partial<CurationReportView>
    return {
      runs: r.runs ?? [],
      included: r.included ?? {},
      preferred: r.preferred ?? 0,
      excluded: r.excluded ?? {},
      tokens: r.tokens ?? 0,
      topRepeated: r.topRepeated ?? [],
    }
  } catch {
    return undefined
  }
}

/** Human + imported answers as a share of the included examples (what FT_MIN_HUMAN_SHARE checks). */
export function humanShare(r: Pick<CurationReportView, 'included'>): number | undefined {
  const total = Object.values(r.included).reduce((a, n) => a + n, 0)
  return total ? ((r.included.human ?? 0) + (r.included.import ?? 0)) / total : undefined
}
