import { join } from 'node:path'
import type { ExportPayload } from '@loopdm/queues/contracts'
import { MASTER_FILE, manifestPath } from '@loopdm/training-data/export-layout'
import { touchDirLock } from '@loopdm/training-data/export-lock'
import type { PendingTurn, RunKind, RunPlan } from '../repositories/export-runs.repository.js'
import type { MessagesRepository, Position } from '../repositories/messages.repository.js'
import { type CurateState, consider, flushBatch } from './curate-steps.js'
import type { DailyWriter } from './daily-writer.js'
import { fileSize } from './export-files.js'
import { finishWritten, type Recovered, type RunLedger } from './export-recovery.js'
import { topForReport, writeReport } from './export-report.js'
import { readSource, type SourceBounds } from './export-source.js'
import type { ExportResult, ExportServiceOptions } from './export-types.js'
import type { createPairer } from './pairing.js'

/** Everything a run's steps share: the service's deps and settings. */
export interface ExportContext extends RunLedger {
  o: ExportServiceOptions
  messages: MessagesRepository
  now: () => Date
  batch: number
  progressEvery: number
  maxTokens: number
}

/** One run in progress: its bounds, its writer, its curation, and what it has counted so far. */
export interface RunState extends CurateState {
  t0: number
  kind: RunKind
  recovered: Recovered
  bounds: SourceBounds
  pairer: ReturnType<typeof createPairer>
  /** The day's file (its report is `<file>.report.json`). */
  reportFile: string
  rowsRead: number
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

/** Streams every row, pairs turns into examples and writes them; then settles pending turns and the watermark. */
export async function streamAndPair(c: ExportContext, s: RunState): Promise<void> {
  let nextProgress = c.progressEvery
  const lastPos: { pos: Position | undefined } = { pos: undefined }
  await s.writer?.start()
  const tInit = performance.now()
  await s.curator.init()
  s.phaseMs.curateInit = Math.round(performance.now() - tInit)
  for await (const rows of readSource(c.messages, c.batch, { ...s.bounds, last: lastPos })) {
    const signals = await s.curator.pageSignals(rows)
    for (const row of rows) {
      const done = s.pairer.push(row, row.igMessageId ? signals.get(row.igMessageId) : undefined)
      if (done) for (const cand of done) consider(s, cand)
    }
    await flushBatch(s)
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
  for (let i = 0; i < end.candidates.length; i += c.batch) {
    for (const cand of end.candidates.slice(i, i + c.batch)) consider(s, cand)
    await flushBatch(s)
  }
  s.report.topRepeated = topForReport(s.curator.topRepeated)
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
  // The run's example hashes are recorded before it is: a `written` run is finished, not redone.
  await s.curator.flush()
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
  await writeReport(s.reportFile, s.report)
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
    curation: s.report,
    pendingUsers: s.pending.length,
    durationMs: Math.round(performance.now() - s.t0),
    phaseMs: { ...s.phaseMs, dedupe: Math.round(s.phaseMs.dedupe) },
    watermark: s.watermarkOut,
    tuneEnqueued: tune,
    recovered: s.recovered,
  }
}
