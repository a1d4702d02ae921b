import { manifestLine } from '@loopdm/training-data/export-layout'
import { type FtProblemKind, validateFtExample } from '@loopdm/training-data/ft-format'
import { pseudonymousUserKey } from '@loopdm/training-data/pseudonym'
import type { Accepted, Curator } from './curation.js'
import type { DailyWriter } from './daily-writer.js'
import { type CurationReport, countExcluded } from './export-report.js'
import { buildExample, type Candidate, type FtMessage } from './pairing.js'

/** What the curation steps of a run share (a slice of the run's state). */
export interface CurateState {
  date: string
  runId: number | undefined
  system: FtMessage
  curator: Curator
  writer: DailyWriter | undefined
  keys: Map<string, string>
  /** PSEUDONYM_SECRET: the manifest's keys are HMACs of the Instagram id under it. */
  pseudonymSecret: string | undefined
  /** Valid examples of the current page, waiting for the duplicate check. */
  batch: Accepted[]
  report: CurationReport
  examples: number
  bytes: number
  invalid: number
  invalidByKind: Partial<Record<FtProblemKind, number>>
  maxTokens: number
  phaseMs: { dedupe: number }
}

export function keyOf(s: Pick<CurateState, 'keys' | 'pseudonymSecret'>, igUserId: string): string {
  let k = s.keys.get(igUserId)
  if (k === undefined) {
    k = pseudonymousUserKey(igUserId, s.pseudonymSecret)
    s.keys.set(igUserId, k)
  }
  return k
}

/**
 * The policy's verdict, then the fine-tuning format checks (the same as validateFtLine, on the
 * object: JSON.stringify cannot produce bad JSON); a valid example waits in `batch`.
 */
export function consider(s: CurateState, c: Candidate): void {
  const reason = s.curator.decide(c, (id) => keyOf(s, id))
  if (reason) {
    countExcluded(s.report, reason)
    return
  }
  const example = buildExample(s.system, c)
  const v = validateFtExample(example, s.examples + s.invalid + 1, {
    maxTokens: s.maxTokens,
    countTokens: 'when-near-limit',
  })
  if (!v.ok) {
    s.invalid++
    countExcluded(s.report, 'invalid')
    for (const p of v.problems) s.invalidByKind[p.kind] = (s.invalidByKind[p.kind] ?? 0) + 1
    return
  }
  s.batch.push(s.curator.accept(c, JSON.stringify(example)))
}

/** Drops the batch's duplicates and writes the rest, with their manifest lines. */
export async function flushBatch(s: CurateState): Promise<void> {
  if (s.batch.length === 0) return
  const batch = s.batch
  s.batch = []
  const t = performance.now()
  const verdicts = s.curator.dedupe(batch, s.runId)
  s.phaseMs.dedupe += performance.now() - t
  for (let i = 0; i < batch.length; i++) {
    const a = batch[i] as Accepted
    const reason = verdicts[i]
    if (reason) {
      countExcluded(s.report, reason)
      continue
    }
    const lineBytes = Buffer.byteLength(a.line)
    const n = lineBytes + 1
    s.examples++
    s.bytes += n
    s.report.included[a.source]++
    if (a.preferred) s.report.preferred++
    s.report.tokens += Math.ceil(n / 4)
    const io = s.writer?.add(a.line, manifestLine(keyOf(s, a.igUserId), s.date, a.source), lineBytes)
    if (io) await io
  }
}
