import { existsSync, promises as fsp } from 'node:fs'
import { hostname } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import type { ExportPayload } from '@loopdm/queues/contracts'
import { backfillName, MASTER_FILE, manifestLine, manifestPath } from '@loopdm/training-data/export-layout'
import { acquireDirLock, touchDirLock } from '@loopdm/training-data/export-lock'
import { fsyncDir } from '@loopdm/training-data/fs-atomic'
import { type FtProblemKind, tokenLimitFor, validateFtExample } from '@loopdm/training-data/ft-format'
import { pseudonymousUserKey } from '@loopdm/training-data/pseudonym'
import type { PiiCounts } from '@loopdm/training-data/redaction'
import { ExportBusyError } from '../errors.js'
import {
  createExportRunsRepository,
  type ExportRun,
  type PendingTurn,
  type RunKind,
  type RunPlan,
} from '../repositories/export-runs.repository.js'
import {
  createMessagesRepository,
  type MessageRow,
  type Position,
} from '../repositories/messages.repository.js'
import { DailyWriter } from './daily-writer.js'
import { appendRange, fileSize } from './export-files.js'
import { createPairer, type Example } from './pairing.js'

/** Where a test can stop a run to kill its process (crash-and-rerun tests). */
export type ExportPausePoint = 'mid-write' | 'before-rename' | 'after-rename' | 'mid-append' | 'before-commit'

export interface ExportServiceOptions {
  db: Pool
  config: Config
  logger: Logger
  /** Export directory; default config.export.dir (resolved against the cwd). */
  exportDir?: string
  /** Enqueues `tune` after a nightly run that added ≥ FT_MIN_EXAMPLES (when auto-tune is on). */
  enqueueTune?: (date: string) => Promise<boolean>
  /** Rows per keyset page; default 10,000. */
  batchSize?: number
  /** A progress line (and a lease heartbeat) every this many rows; default 100,000. */
  progressEvery?: number
  /** A run whose heartbeat is older than this is presumed dead; default 10 min. */
  leaseMs?: number
  /** Carried-over unanswered user turns older than this are dropped; default 30 days. */
  pendingMaxAgeMs?: number
  now?: () => Date
  /** Test hook: at this point `onPause` is awaited (the test kills the process there). */
  pauseAt?: ExportPausePoint
  onPause?: (point: ExportPausePoint) => Promise<void>
}

export interface ExportResult {
  status: 'committed' | 'dry-run'
  kind: RunKind
  runId: number | undefined
  date: string
  files: string[]
  rowsRead: number
  examples: number
  /** Examples dropped because they failed the fine-tuning format checks. */
  invalid: number
  invalidByKind: Partial<Record<FtProblemKind, number>>
  bytes: number
  pii: PiiCounts
  pendingUsers: number
  durationMs: number
  /** Where the time went: reading + pairing + redacting + writing temp files, fsync, rename + master append + commit. */
  phaseMs: { read: number; fsync: number; finish: number }
  watermark: Position | undefined
  tuneEnqueued: boolean
  /** A crashed run this call finished before starting its own. */
  recovered: { runId: number; examples: number } | undefined
}

/** Today's date (YYYY-MM-DD) in `tz` (default the process's zone). */
export function exportDate(now: Date, tz?: string): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: tz,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(now)
}

const OWNER = `${hostname()}:${process.pid}`

/** A run recorded as written whose files no longer exist (removed by hand). */
class FilesMissingError extends Error {}

/**
 * The export: everything after the watermark (plus late rows and carried-over turns) → redacted
 * pairs → a daily JSONL file written to a temp file and fsynced → recorded as `written` →
 * renamed → appended to the master from a recorded offset → watermark committed. A crash before
 * `written` leaves nothing visible (the run is marked failed and redone); a crash after it is
 * finished by the next run from the plan (rename again if needed, truncate the master to the
 * recorded offset, append, commit), so no line is lost or duplicated.
 */
export function createExportService(o: ExportServiceOptions) {
  const runs = createExportRunsRepository(o.db)
  const messages = createMessagesRepository(o.db)
  const log = o.logger
  const now = o.now ?? (() => new Date())
  const dir = resolve(o.exportDir ?? o.config.export.dir)
  const batch = o.batchSize ?? 10_000
  const progressEvery = o.progressEvery ?? 100_000
  const leaseMs = o.leaseMs ?? 10 * 60_000
  const maxTokens = tokenLimitFor(o.config.models.ftBase)
  let active = false

  const pause = async (p: ExportPausePoint) => {
    if (o.pauseAt === p) await o.onPause?.(p)
  }

  function ownerDead(run: ExportRun): boolean {
    if (Date.now() - run.heartbeatAt.getTime() > leaseMs) return true
    const [host, pidText] = run.owner.split(':')
    const pid = Number(pidText)
    if (host !== hostname() || !Number.isInteger(pid)) return false
    if (pid === process.pid) return !active
    try {
      process.kill(pid, 0)
      return false
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH'
    }
  }

  /** Renames, appends to the master exactly once, and commits a run recorded as `written`. */
  async function finishWritten(runId: number, kind: RunKind, plan: RunPlan): Promise<void> {
    await pause('before-rename')
    for (const f of plan.files) {
      if (existsSync(f.temp)) await fsp.rename(f.temp, f.final)
      else if (!existsSync(f.final)) {
        throw new FilesMissingError(`export run ${runId}: neither ${f.temp} nor ${f.final} exists`)
      }
      if (existsSync(f.manifestTemp)) await fsp.rename(f.manifestTemp, f.manifestFinal)
      await fsyncDir(dirname(f.final))
    }
    await pause('after-rename')
    if (plan.master) {
      let offset = plan.master.offset
      let mOffset = plan.master.manifestOffset
      for (const [i, f] of plan.files.entries()) {
        await appendRange(
          f.final,
          f.baseBytes,
          plan.master.path,
          offset,
          i === 0 ? () => pause('mid-append') : undefined,
        )
        await appendRange(f.manifestFinal, f.baseManifestBytes, plan.master.manifestPath, mOffset)
        offset += f.bytes - f.baseBytes
        mOffset += f.manifestBytes - f.baseManifestBytes
      }
      await fsyncDir(dirname(plan.master.path))
    }
    await pause('before-commit')
    await runs.commit(runId, kind, plan.pending)
  }

  /** Takes the lease, first finishing or failing a dead run that still holds it. */
  async function acquire(q: Parameters<typeof runs.start>[0]) {
    let recovered: ExportResult['recovered']
    for (let attempt = 0; attempt < 3; attempt++) {
      const id = await runs.start(q)
      if (id !== undefined) return { id, recovered }
      const other = await runs.inFlight()
      if (!other) continue
      if (!ownerDead(other)) {
        throw new ExportBusyError(
          `export run ${other.id} (${other.owner}) is still in progress; try again later`,
        )
      }
      if (other.status === 'written' && other.plan) {
        log.warn(
          { runId: other.id, owner: other.owner },
          'finishing an export run that crashed after writing',
        )
        try {
          await finishWritten(other.id, other.kind, other.plan)
          recovered = { runId: other.id, examples: other.examples }
          if (other.kind === 'nightly') await maybeTune(other.runDate, other.examples)
        } catch (err) {
          if (!(err instanceof FilesMissingError)) throw err
          // Its files were removed by hand: undo any partial master append and fail the run. The
          // watermark never moved, so this run reads the same rows again: nothing is lost.
          const m = other.plan.master
          if (m && (await fileSize(m.path)) > m.offset) await fsp.truncate(m.path, m.offset)
          if (m && (await fileSize(m.manifestPath)) > m.manifestOffset) {
            await fsp.truncate(m.manifestPath, m.manifestOffset)
          }
          log.error(
            { runId: other.id, err: err.message },
            'export run files are gone; run failed, its rows are read again',
          )
          await runs.markFailed(other.id, err.message)
        }
      } else {
        log.warn(
          { runId: other.id, owner: other.owner },
          'discarding an export run that crashed while writing',
        )
        await runs.markFailed(other.id, 'process died while writing (temp files discarded)')
        await removeTemps(other.id)
      }
    }
    throw new ExportBusyError('could not take the export lease')
  }

  async function removeTemps(runId: number): Promise<void> {
    if (!existsSync(dir)) return
    for (const name of await fsp.readdir(dir)) {
      if (name.startsWith('.') && name.endsWith(`.tmp-run${runId}`))
        await fsp.rm(join(dir, name), { force: true })
    }
  }

  async function maybeTune(date: string, examples: number): Promise<boolean> {
    if (!o.config.export.autoTune || !o.enqueueTune || examples < o.config.finetune.minExamples) return false
    return o.enqueueTune(date)
  }

  /** Yields every row the run reads, page by page, tracking the last main-window position. */
  async function* source(q: {
    kind: RunKind
    watermark: Position | undefined
    prevHighId: number
    highId: number
    since?: string | undefined
    until?: string | undefined
    last: { pos: Position | undefined }
  }): AsyncGenerator<MessageRow[]> {
    const wm = q.watermark
    if (q.kind === 'nightly' && wm) {
      yield* keyset(undefined, (after) =>
        messages.pagePreWindow({
          watermark: wm,
          prevHighId: q.prevHighId,
          highId: q.highId,
          after,
          limit: batch,
        }),
      )
    }
    const pages = keyset(q.kind === 'nightly' ? wm : undefined, (after) =>
      messages.pageAfter({ after, highId: q.highId, since: q.since, until: q.until, limit: batch }),
    )
    for await (const rows of pages) {
      const l = rows[rows.length - 1] as MessageRow
      q.last.pos = { createdAt: l.createdAt, id: l.id }
      yield rows
    }
  }

  /**
   * Keyset pages, each its own short statement. The next page is requested before the current
   * one is handed out, so the database reads page n+1 while this process works on page n.
   */
  async function* keyset(
    start: Position | undefined,
    fetch: (after: Position | undefined) => Promise<MessageRow[]>,
  ): AsyncGenerator<MessageRow[]> {
    let next: Promise<MessageRow[]> | undefined = fetch(start)
    while (next) {
      const rows: MessageRow[] = await next
      if (rows.length === 0) return
      const l = rows[rows.length - 1] as MessageRow
      next = rows.length < batch ? undefined : fetch({ createdAt: l.createdAt, id: l.id })
      // A rejected prefetch must not go unhandled if the consumer stops early.
      next?.catch(() => {})
      yield rows
    }
  }

  async function run(payload: ExportPayload): Promise<ExportResult> {
    const t0 = performance.now()
    const date = payload.date ?? exportDate(now(), o.config.schedules.tz)
    const kind: RunKind = payload.since || payload.until ? 'backfill' : 'nightly'
    const dryRun = payload.dryRun
    let runId: number | undefined
    let recovered: ExportResult['recovered']
    let releaseDir: (() => Promise<void>) | undefined
    active = true
    try {
      if (!dryRun) {
        releaseDir = await acquireDirLock(dir, { what: 'export' })
        const lease = await acquire({
          runDate: date,
          kind,
          trigger: payload.trigger,
          owner: OWNER,
          since: payload.since,
          until: payload.until,
        })
        runId = lease.id
        recovered = lease.recovered
      }
      await messages.analyze()
      const last = kind === 'nightly' ? await runs.lastCommittedNightly() : undefined
      const watermark = last?.to
      const prevHighId = last?.toHighId ?? 0
      const highId = await messages.maxId()
      const pairer = createPairer({ systemPrompt: o.config.models.systemPrompt })
      const keys = new Map<string, string>()
      const keyOf = (u: string) => {
        let k = keys.get(u)
        if (k === undefined) {
          k = pseudonymousUserKey(u)
          keys.set(u, k)
        }
        return k
      }
      const fileName = kind === 'backfill' ? backfillName(payload.since, payload.until) : undefined
      const writer = dryRun
        ? undefined
        : new DailyWriter({
            dir,
            date,
            runId: runId as number,
            maxBytes: o.config.export.maxBytes,
            oversize: o.config.export.oversize,
            fileName,
          })
      let rowsRead = 0
      let examples = 0
      let bytes = 0
      let invalid = 0
      const invalidByKind: Partial<Record<FtProblemKind, number>> = {}
      let nextProgress = progressEvery
      const lastPos: { pos: Position | undefined } = { pos: undefined }
      let pending: PendingTurn[] = []
      const phaseMs = { read: 0, fsync: 0, finish: 0 }
      let watermarkOut: Position | undefined
      const summary = (status: ExportResult['status'], paths: string[], tune = false): ExportResult => ({
        status,
        kind,
        runId,
        date,
        files: paths,
        rowsRead,
        examples,
        invalid,
        invalidByKind,
        bytes,
        pii: pairer.pii,
        pendingUsers: pending.length,
        durationMs: Math.round(performance.now() - t0),
        phaseMs,
        watermark: watermarkOut,
        tuneEnqueued: tune,
        recovered,
      })

      /** Checks and writes one example; returns a promise only when the writer has I/O to do. */
      const take = ({ igUserId, example }: Example): Promise<void> | undefined => {
        // The same checks as validateFtLine, on the object (JSON.stringify cannot produce bad JSON).
        const v = validateFtExample(example, examples + invalid + 1, {
          maxTokens,
          countTokens: 'when-near-limit',
        })
        if (!v.ok) {
          invalid++
          for (const p of v.problems) invalidByKind[p.kind] = (invalidByKind[p.kind] ?? 0) + 1
          return undefined
        }
        const line = JSON.stringify(example)
        examples++
        bytes += Buffer.byteLength(line) + 1
        return writer?.add(line, manifestLine(keyOf(igUserId), date))
      }

      try {
        await writer?.start()
        for await (const rows of source({
          kind,
          watermark,
          prevHighId,
          highId,
          since: payload.since,
          until: payload.until,
          last: lastPos,
        })) {
          for (const row of rows) {
            const ex = pairer.push(row)
            if (ex) {
              const io = take(ex)
              if (io) await io
            }
          }
          rowsRead += rows.length
          if (rowsRead >= nextProgress) {
            nextProgress += progressEvery
            const secs = (performance.now() - t0) / 1000
            log.info(
              { runId, rowsRead, examples, rowsPerSec: Math.round(rowsRead / secs) },
              'export progress',
            )
            if (runId !== undefined) {
              await runs.heartbeat(runId, rowsRead)
              await touchDirLock(dir)
            }
          }
          if (o.pauseAt === 'mid-write' && writer) {
            await writer.flush()
            await pause('mid-write')
          }
        }
        const end = pairer.finish()
        phaseMs.read = Math.round(performance.now() - t0)
        for (const ex of end.examples) await take(ex)
        const cutoff = now().getTime() - (o.pendingMaxAgeMs ?? 30 * 24 * 3600_000)
        pending =
          kind === 'nightly' ? end.pending.filter((p) => new Date(p.fromCreatedAt).getTime() >= cutoff) : []
        watermarkOut = kind === 'nightly' ? (lastPos.pos ?? watermark) : undefined

        if (dryRun || !writer || runId === undefined) {
          const result = summary('dry-run', [])
          log.info(logFields(result), 'export dry run (nothing written)')
          return result
        }
        const tClose = performance.now()
        const files = examples > 0 ? await writer.close() : []
        phaseMs.fsync = Math.round(performance.now() - tClose)
        if (examples === 0) await writer.abort()
        const master =
          kind === 'nightly' && files.length > 0
            ? {
                path: join(dir, MASTER_FILE),
                manifestPath: manifestPath(join(dir, MASTER_FILE)),
                offset: await fileSize(join(dir, MASTER_FILE)),
                manifestOffset: await fileSize(manifestPath(join(dir, MASTER_FILE))),
              }
            : undefined
        const plan: RunPlan = { files, pending, ...(master ? { master } : {}) }
        await runs.markWritten(runId, {
          plan,
          from: watermark,
          fromHighId: kind === 'nightly' ? prevHighId : undefined,
          to: watermarkOut,
          toHighId: kind === 'nightly' ? highId : undefined,
          rowsRead,
          examples,
          bytes,
          pii: pairer.pii,
        })
        const tFinish = performance.now()
        await finishWritten(runId, kind, plan)
        phaseMs.finish = Math.round(performance.now() - tFinish)
        const tuneEnqueued = kind === 'nightly' ? await maybeTune(date, examples) : false
        const result = summary(
          'committed',
          files.map((f) => f.final),
          tuneEnqueued,
        )
        log.info(logFields(result), 'export committed')
        return result
      } catch (err) {
        // Before `written` nothing is visible: discard the temps and fail the run (redone next time).
        // After it, the run stays `written` and the next attempt finishes it.
        const current = runId === undefined ? undefined : await runs.get(runId).catch(() => undefined)
        if (current?.status === 'started') {
          await writer?.abort().catch(() => {})
          await runs.markFailed(current.id, (err as Error).message).catch(() => {})
        }
        throw err
      }
    } finally {
      active = false
      await releaseDir?.()
    }
  }

  return { run, exportDir: dir }
}

function logFields(r: ExportResult) {
  return {
    runId: r.runId,
    kind: r.kind,
    date: r.date,
    rowsRead: r.rowsRead,
    examples: r.examples,
    invalid: r.invalid,
    pii: r.pii,
    bytes: r.bytes,
    durationMs: r.durationMs,
    phaseMs: r.phaseMs,
    files: r.files.length,
    pendingUsers: r.pendingUsers,
    tuneEnqueued: r.tuneEnqueued,
    recovered: r.recovered?.runId,
  }
}

export type ExportService = ReturnType<typeof createExportService>
