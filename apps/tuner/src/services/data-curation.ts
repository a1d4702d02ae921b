import { createReadStream, existsSync, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { listDailyFiles, manifestPath, manifestSource } from '@loopdm/training-data/export-layout'
import type { TrainingWindow } from '@loopdm/training-data/training-window'

/** Where the training file's answers came from (its manifest), and the export's last report. */
export interface DataCuration {
  sources: { human: number; import: number; bot: number; unknown: number }
  /** (human + import) / examples with a known source; null when no line records one. */
  humanShare: number | null
  /** The newest daily export's curation report (`<file>.report.json`), when there is one. */
  lastExport: { file: string; excluded: Record<string, number>; included: Record<string, number> } | null
  window: TrainingWindow | null
}

/** Counts the sources in `file`'s manifest (lines written before curation count as unknown). */
export async function curationOf(
  file: string,
  exportDir: string,
  window: TrainingWindow | null,
): Promise<DataCuration> {
  const sources = { human: 0, import: 0, bot: 0, unknown: 0 }
  const m = manifestPath(file)
  if (existsSync(m)) {
    const rl = createInterface({ input: createReadStream(m), crlfDelay: Number.POSITIVE_INFINITY })
    for await (const line of rl) if (line !== '') sources[manifestSource(line) ?? 'unknown']++
  }
  const known = sources.human + sources.import + sources.bot
  const last = listDailyFiles(exportDir)
    .filter((d) => !d.gz && existsSync(`${d.file}.report.json`))
    .at(-1)
  let lastExport: DataCuration['lastExport'] = null
  if (last) {
    try {
      const r = JSON.parse(readFileSync(`${last.file}.report.json`, 'utf8'))
      lastExport = { file: last.name, excluded: r.excluded ?? {}, included: r.included ?? {} }
    } catch {
      lastExport = null
    }
  }
  return {
    sources,
    humanShare: known > 0 ? (sources.human + sources.import) / known : null,
    lastExport,
    window,
  }
}

/** The refusal when too little of the data was written by people (unless forced). */
export function shareRefusal(c: DataCuration, minShare: number, force: boolean): string | null {
  if (force || c.humanShare === null || c.humanShare >= minShare) return null
  const s = c.sources
  const known = s.human + s.import + s.bot
  return `human + import answers are ${(c.humanShare * 100).toFixed(1)}% of the data (human ${s.human} + import ${s.import} of ${known} examples; bot ${s.bot}), below FT_MIN_HUMAN_SHARE ${minShare}: a model trained mostly on its own answers cannot get better. Pass --force (tune job payload "force": true) to train anyway`
}

export function formatCuration(c: DataCuration): string[] {
  const s = c.sources
  const w = c.window
  return [
    `  sources      human ${s.human}, import ${s.import}, bot ${s.bot}${s.unknown ? `, unknown ${s.unknown} (exported before curation)` : ''}; human+import share ${c.humanShare === null ? 'n/a' : `${(c.humanShare * 100).toFixed(1)}%`}`,
    ...(w && w.leftOut > 0
      ? [
          `  window       newest ${w.examples} of ${w.total} examples; left out the ${w.leftOut} oldest (bounded by ${w.limitedBy === 'file size' ? `the file-size limit, ${w.maxBytes} bytes` : 'FT_MAX_EXAMPLES'})`,
        ]
      : []),
    ...(c.lastExport
      ? [
          `  last export  ${c.lastExport.file}: excluded ${
            Object.entries(c.lastExport.excluded)
              .map(([k, n]) => `${k} ${n}`)
              .join(', ') || 'none'
          }`,
        ]
      : []),
  ]
}
