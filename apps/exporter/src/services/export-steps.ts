import { join } from 'node:path'
import type { ExportPayload } from '@loopdm/queues/contracts'
import { MASTER_FILE, manifestLine, manifestPath } from '@loopdm/training-data/export-layout'
import { touchDirLock } from '@loopdm/training-data/export-lock'
import { type FtProblemKind, validateFtExample } from '@loopdm/training-data/ft-format'
import { pseudonymousUserKey } from '@loopdm/training-data/pseudonym'
import type { PendingTurn, RunKind, RunPlan } from '../repositories/export-runs.repository.js'
import type { MessagesRepository, Position } from '../repositories/messages.repository.js'
import type { DailyWriter } from './daily-writer.js'
import type { ExportResult, ExportServiceOptions } from './export.service.js'
import { fileSize } from './export-files.js'
import { finishWritten, type Recovered, type RunLedger } from './export-recovery.js'
import { readSource, type SourceBounds } from './export-source.js'
import type { createPairer, Example } from './pairing.js'

/** Everything a run's steps share: the service's deps and settings. */
export interface ExportContext extends RunLedger {
  o: ExportServiceOptions
  messages: MessagesRepository
  now: () => Date
  batch: number
  progressEvery: number
  maxTokens: number
}

/** One run in progress: its bounds, its writer, and what it has counted so far. */
export interface RunState {
  t0: number
  date: string
  kind: RunKind
  runId: number | undefined
  recovered: Recovered
  bounds: SourceBounds
  pairer: ReturnType<typeof createPairer>
  writer: DailyWriter | undefined
  keys: Map<string, string>
  rowsRead: number
  examples: number
  bytes: number
  invalid: number
  invalidByKind: Partial<Record<FtProblemKind, number>>
  pending: PendingTurn[]
  phaseMs: ExportResult['phaseMs']
  watermarkOut: Position | undefined
}

/** Plans the read: after the last committed nightly's watermark (nightly) or the payload's window. */
export async function planBounds(
  c: ExportContext,
  payload: ExportPayload,
  kind: RunKind,
): Promise<SourceBounds> {
  await c.messages.analyze()
  const last = kind === 'nightly' ? await c.runs.lastCommittedNightly() : undefined
  return {
    kind,
    watermark: last?.to,
    prevHighId: last?.toHighId ?? 0,
    highId: await c.messages.maxId(),
    since: payload.since,
    until: payload.until,
  }
}

/** Checks and writes one example; returns a promise only when the writer has I/O to do. */
function take(c: ExportContext, s: RunState, { igUserId, example }: Example): Promise<void> | undefined {
  // The same checks as validateFtLine, on the object (JSON.stringify cannot produce bad JSON).
  const v = validateFtExample(example, s.examples + s.invalid + 1, {
    maxTokens: c.maxTokens,
    countTokens: 'when-near-limit',
  })
  if (!v.ok) {
    s.invalid++
    for (const p of v.problems) s.invalidByKind[p.kind] = (s.invalidByKind[p.kind] ?? 0) + 1
    return undefined
  }
  const line = JSON.stringify(example)
  s.examples++
  s.bytes += Buffer.byteLength(line) + 1
  return s.writer?.add(line, manifestLine(keyOf(c, s, igUserId), s.date))
}

function keyOf(c: ExportContext, s: RunState, igUserId: string): string {
  let k = s.keys.get(igUserId)
  if (k === undefined) {
    k = pseudonymousUserKey(igUserId, c.o.config.privacy.pseudonymSecret)
    s.keys.set(igUserId, k)
  }
  return k
}

/** Streams every row, pairs turns into examples and writes them; then settles pending turns and the watermark. */
export async function streamAndPair(c: ExportContext, s: RunState): Promise<void> {
  let nextProgress = c.progressEvery
  const lastPos: { pos: Position | undefined } = { pos: undefined }
  await s.writer?.start()
  for await (const rows of readSource(c.messages, c.batch, { ...s.bounds, last: lastPos })) {
    for (const row of rows) {
      const ex = s.pairer.push(row)
      if (ex) {
        const io = take(c, s, ex)
        if (io) await io
      }
    }
    s.rowsRead += rows.length
    if (s.rowsRead >= nextProgress) {
      nextProgress += c.progressEvery
      await reportProgress(c, s)
    }
    if (c.o.pauseAt === 'mid-write' && s.writer) {
      await s.writer.flush()
      await c.pause('mid-write')
    }
  }
  const end = s.pairer.finish()
  s.phaseMs.read = Math.round(performance.now() - s.t0)
  for (const ex of end.examples) await take(c, s, ex)
  const cutoff = c.now().getTime() - (c.o.pendingMaxAgeMs ?? 30 * 24 * 3600_000)
  s.pending =
    s.kind === 'nightly' ? end.pending.filter((p) => new Date(p.fromCreatedAt).getTime() >= cutoff) : []
  s.watermarkOut = s.kind === 'nightly' ? (lastPos.pos ?? s.bounds.watermark) : undefined
}

/** A progress line, and a heartbeat on the lease and the directory lock. */
async function reportProgress(c: ExportContext, s: RunState): Promise<void> {
  const secs = (performance.now() - s.t0) / 1000
  c.log.info(
    { runId: s.runId, rowsRead: s.rowsRead, examples: s.examples, rowsPerSec: Math.round(s.rowsRead / secs) },
    'export progress',
  )
  if (s.runId !== undefined) {
    await c.runs.heartbeat(s.runId, s.rowsRead)
    await touchDirLock(c.dir)
  }
}

/** fsyncs the temp files, records the plan as `written`, then renames, appends to master and commits. */
export async function writeAndCommit(
  c: ExportContext,
  s: RunState,
  writer: DailyWriter,
  runId: number,
): Promise<ExportResult> {
  const tClose = performance.now()
  const files = s.examples > 0 ? await writer.close() : []
  s.phaseMs.fsync = Math.round(performance.now() - tClose)
  if (s.examples === 0) await writer.abort()
  const master = s.kind === 'nightly' && files.length > 0 ? await masterOffsets(c.dir) : undefined
  const plan: RunPlan = { files, pending: s.pending, ...(master ? { master } : {}) }
  const nightly = s.kind === 'nightly'
  await c.runs.markWritten(runId, {
    plan,
    from: s.bounds.watermark,
    fromHighId: nightly ? s.bounds.prevHighId : undefined,
    to: s.watermarkOut,
    toHighId: nightly ? s.bounds.highId : undefined,
    rowsRead: s.rowsRead,
    examples: s.examples,
    bytes: s.bytes,
    pii: s.pairer.pii,
  })
  const tFinish = performance.now()
  await finishWritten(c, runId, s.kind, plan)
  s.phaseMs.finish = Math.round(performance.now() - tFinish)
  const tuneEnqueued = nightly ? await c.maybeTune(s.date, s.examples) : false
  return summarize(
    s,
    'committed',
    files.map((f) => f.final),
    tuneEnqueued,
  )
}

/** Where the master (and its manifest) end now: the offsets this run appends from. */
async function masterOffsets(dir: string): Promise<NonNullable<RunPlan['master']>> {
  const path = join(dir, MASTER_FILE)
  return {
    path,
    manifestPath: manifestPath(path),
    offset: await fileSize(path),
    manifestOffset: await fileSize(manifestPath(path)),
  }
}

export function summarize(
  s: RunState,
  status: ExportResult['status'],
  paths: string[],
  tune = false,
): ExportResult {
  return {
    status,
    kind: s.kind,
    runId: s.runId,
    date: s.date,
    files: paths,
    rowsRead: s.rowsRead,
    examples: s.examples,
    invalid: s.invalid,
    invalidByKind: s.invalidByKind,
    bytes: s.bytes,
    pii: s.pairer.pii,
    pendingUsers: s.pending.length,
    durationMs: Math.round(performance.now() - s.t0),
    phaseMs: s.phaseMs,
    watermark: s.watermarkOut,
    tuneEnqueued: tune,
    recovered: s.recovered,
  }
}
