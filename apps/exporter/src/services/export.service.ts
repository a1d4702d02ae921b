import { join, resolve } from 'node:path'
import { processOwnerId } from '@loopdm/platform/owner-id'
import type { ExportPayload } from '@loopdm/queues/contracts'
import { backfillName, dailyName } from '@loopdm/training-data/export-layout'
import { acquireDirLock } from '@loopdm/training-data/export-lock'
import { tokenLimitFor } from '@loopdm/training-data/ft-format'
import { createCurationRepository } from '../repositories/curation.repository.js'
import { createExportRunsRepository, type RunKind } from '../repositories/export-runs.repository.js'
import { createMessagesRepository } from '../repositories/messages.repository.js'
import { createCurator } from './curation.js'
import { DailyWriter } from './daily-writer.js'
import { acquireLease, type ExportPausePoint } from './export-recovery.js'
import { emptyReport } from './export-report.js'
import {
  type ExportContext,
  planBounds,
  type RunState,
  streamAndPair,
  summarize,
  writeAndCommit,
} from './export-steps.js'
import type { ExportResult, ExportServiceOptions } from './export-types.js'
import { createPairer } from './pairing.js'

export type { ExportPausePoint } from './export-recovery.js'
export type { ExportResult, ExportServiceOptions } from './export-types.js'

/** Today's date (YYYY-MM-DD) in `tz` (default the process's zone). */
export function exportDate(now: Date, tz?: string): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: tz,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(now)
}

/** host:pid:bootId (a restarted container reusing PID 1 does not see its dead run as alive). */
const OWNER = processOwnerId()

/**
 * The export: everything after the watermark (plus late rows and carried-over turns) → redacted
 * pairs → a daily JSONL file written to a temp file and fsynced → recorded as `written` →
 * renamed → appended to the master from a recorded offset → watermark committed. A crash before
 * `written` leaves nothing visible (the run is marked failed and redone); a crash after it is
 * finished by the next run from the plan (rename again if needed, truncate the master to the
 * recorded offset, append, commit), so no line is lost or duplicated.
 *
 * Steps: take the dir lock and the lease (recovering a crashed run) → plan the bounds →
 * stream, pair and write (export-steps.ts) → fsync, mark written, rename, append, commit, chain tune.
 */
export function createExportService(o: ExportServiceOptions) {
  let active = false
  const c: ExportContext = {
    o,
    runs: createExportRunsRepository(o.db),
    messages: createMessagesRepository(o.db),
    log: o.logger,
    now: o.now ?? (() => new Date()),
    dir: resolve(o.exportDir ?? o.config.export.dir),
    batch: o.batchSize ?? 2_000,
    progressEvery: o.progressEvery ?? 100_000,
    leaseMs: o.leaseMs ?? 10 * 60_000,
    maxTokens: tokenLimitFor(o.config.models.ftBase),
    isActive: () => active,
    pause: async (p: ExportPausePoint) => {
      if (o.pauseAt === p) await o.onPause?.(p)
    },
    maybeTune: async (date: string, examples: number) => {
      if (!o.config.export.autoTune || !o.enqueueTune || examples < o.config.finetune.minExamples)
        return false
      return o.enqueueTune(date)
    },
  }

  async function run(payload: ExportPayload): Promise<ExportResult> {
    const t0 = performance.now()
    const date = payload.date ?? exportDate(c.now(), o.config.schedules.tz)
    const kind: RunKind = payload.since || payload.until ? 'backfill' : 'nightly'
    let releaseDir: (() => Promise<void>) | undefined
    active = true
    try {
      let lease: Awaited<ReturnType<typeof acquireLease>> | undefined
      if (!payload.dryRun) {
        releaseDir = await acquireDirLock(c.dir, { what: 'export' })
        lease = await acquireLease(c, {
          runDate: date,
          kind,
          trigger: payload.trigger,
          owner: OWNER,
          since: payload.since,
          until: payload.until,
        })
      }
      const s = newRunState(c, payload, {
        t0,
        date,
        kind,
        runId: lease?.id,
        recovered: lease?.recovered,
        bounds: await planBounds(c, payload, kind),
      })
      return await runSteps(c, s)
    } finally {
      active = false
      await releaseDir?.()
    }
  }

  /**
   * The nightly maintenance after a committed nightly run: VACUUM (ANALYZE) of
   * conversation_messages. The embedded Postgres has no autovacuum, so without it the visibility
   * map is never set — memory recall's "index-only" quantised pass then fetches every code's heap
   * row too (bench/recall.bench.ts: ~2× its p50 for a 10,000-turn user) — and the dead row each
   * turn's embedding update leaves is never reclaimed. On a real Postgres it only does early what
   * autovacuum would. After the first night it visits only the pages changed since.
   */
  async function maintain(): Promise<{ vacuumMs: number }> {
    const t = performance.now()
    await c.messages.vacuumAnalyze()
    const vacuumMs = Math.round(performance.now() - t)
    o.logger.info({ vacuumMs }, 'export: conversation_messages vacuumed')
    return { vacuumMs }
  }

  return { run, maintain, exportDir: c.dir }
}

function newRunState(
  c: ExportContext,
  payload: ExportPayload,
  base: Pick<RunState, 't0' | 'date' | 'kind' | 'runId' | 'recovered' | 'bounds'>,
): RunState {
  const fileName = base.kind === 'backfill' ? backfillName(payload.since, payload.until) : undefined
  const writer = payload.dryRun
    ? undefined
    : new DailyWriter({
        dir: c.dir,
        date: base.date,
        runId: base.runId as number,
        maxBytes: c.o.config.export.maxBytes,
        oversize: c.o.config.export.oversize,
        fileName,
      })
  const cfg = c.o.config
  const curator = createCurator({
    repo: createCurationRepository(c.o.db),
    config: cfg.export.curate,
    scope: c.dir,
    mode: payload.dryRun ? 'dry-run' : base.kind === 'backfill' ? 'backfill' : 'master',
  })
  const mem = cfg.memory
  return {
    ...base,
    system: { role: 'system', content: cfg.models.systemPrompt },
    curator,
    pairer: createPairer({
      contextTurns: mem.enabled && mem.maxTokens > 0 ? mem.recentTurns : 0,
      takeoverWindowMs: cfg.export.curate.takeoverWindowMs,
      isGeneric: curator.isGeneric,
    }),
    writer,
    reportFile: join(c.dir, fileName ?? dailyName(base.date, 1)),
    batch: [],
    report: { ...emptyReport(), runs: base.runId === undefined ? [] : [base.runId] },
    maxTokens: c.maxTokens,
    keys: new Map(),
    pseudonymSecret: cfg.privacy.pseudonymSecret,
    rowsRead: 0,
    examples: 0,
    bytes: 0,
    invalid: 0,
    invalidByKind: {},
    pending: [],
    phaseMs: { read: 0, fsync: 0, finish: 0, curateInit: 0, dedupe: 0 },
    watermarkOut: undefined,
  }
}

/** Reads and writes, then commits (or reports a dry run); fails the run if it never reached `written`. */
async function runSteps(c: ExportContext, s: RunState): Promise<ExportResult> {
  try {
    await streamAndPair(c, s)
    if (!s.writer || s.runId === undefined) {
      const result = summarize(s, 'dry-run', [])
      c.log.info(logFields(result), 'export dry run (nothing written)')
      return result
    }
    const result = await writeAndCommit(c, s, s.writer, s.runId)
    c.log.info(logFields(result), 'export committed')
    return result
  } catch (err) {
    // Before `written` nothing is visible: discard the temps and fail the run (redone next time).
    // After it, the run stays `written` and the next attempt finishes it.
    const current = s.runId === undefined ? undefined : await c.runs.get(s.runId).catch(() => undefined)
    if (current?.status === 'started') {
      await s.curator.flush().catch(() => {})
      await s.writer?.abort().catch(() => {})
      await c.runs.markFailed(current.id, (err as Error).message).catch(() => {})
    }
    throw err
  }
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
    included: r.curation.included,
    preferred: r.curation.preferred,
    excluded: r.curation.excluded,
    tokens: r.curation.tokens,
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
