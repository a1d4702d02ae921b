import { resolve } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import { acquireDirLock } from '@loopdm/training-data/export-lock'
import { ExportBusyError } from '../errors.js'
import {
  createExportRunsRepository,
  type ExportRunsRepository,
} from '../repositories/export-runs.repository.js'
import { createMessagesRepository, type MessagesRepository } from '../repositories/messages.repository.js'
import {
  archiveOldMonths,
  gzipOldDailies,
  type RetentionAction,
  type RetentionPass,
  type RetentionResult,
  trimMaster,
} from './retention-files.js'

export const GZIP_AFTER_DAYS = 30
export const ARCHIVE_AFTER_MONTHS = 6

export interface RetentionOptions {
  db: Pool
  config: Config
  logger: Logger
  /** List what would happen; change nothing. */
  dryRun?: boolean
  now?: Date
  /** Default config.export.dir. */
  exportDir?: string
  /** Rows per delete statement; default 10,000. */
  deleteBatch?: number
}

export type { RetentionAction, RetentionResult }

const dayString = (d: Date) => d.toISOString().slice(0, 10)
function monthsBefore(d: Date, months: number): Date {
  const x = new Date(d)
  x.setUTCMonth(x.getUTCMonth() - months)
  return x
}

/**
 * Monthly data retention (the `retention` job of the `cleanup` queue):
 * 1. gzip daily files older than 30 days (`fine_tune_D.jsonl` → `.jsonl.gz`; the manifest follows
 *    to `fine_tune_D.jsonl.gz.manifest`, still plain text and aligned line for line);
 * 2. archive training data older than 6 months: the month's daily files are concatenated into
 *    `archive/fine_tune_archive_YYYY-MM.jsonl.gz` (+ manifest, so a GDPR erase still reaches it),
 *    then deleted; the master file's lines of those dates (manifest date column) are removed;
 * 3. delete `conversation_messages` older than 6 months in batches — never past the export
 *    watermark, so nothing is deleted before it was exported — then `VACUUM ANALYZE`.
 * Every action is logged with counts; `dryRun` only lists them.
 */
export async function runRetention(o: RetentionOptions): Promise<RetentionResult> {
  const now = o.now ?? new Date()
  const dryRun = o.dryRun ?? false
  const dir = resolve(o.exportDir ?? o.config.export.dir)
  const log = o.logger
  const runs = createExportRunsRepository(o.db)
  const messages = createMessagesRepository(o.db)
  const result: RetentionResult = {
    dryRun,
    actions: [],
    gzipped: 0,
    archivedFiles: 0,
    archivedLines: 0,
    masterLinesRemoved: 0,
    messagesDeleted: 0,
    vacuumed: false,
  }
  const pass: RetentionPass = {
    dir,
    dryRun,
    result,
    act: (a) => {
      result.actions.push(a)
      log.info({ ...a, dryRun }, dryRun ? `retention would ${a.action}` : `retention ${a.action}`)
    },
  }
  const gzipBefore = dayString(new Date(now.getTime() - GZIP_AFTER_DAYS * 24 * 3600_000))
  const archiveCutoff = monthsBefore(now, ARCHIVE_AFTER_MONTHS)
  const archiveBefore = dayString(archiveCutoff)

  const inFlight = await runs.inFlight()
  if (inFlight && !dryRun) {
    // Rewriting the master under a run that recorded its offsets would corrupt the append.
    throw new ExportBusyError(`export run ${inFlight.id} is in flight; retention retries later`)
  }

  const release = dryRun ? undefined : await acquireDirLock(dir, { what: 'retention' })
  try {
    await gzipOldDailies(pass, gzipBefore, archiveBefore)
    await archiveOldMonths(pass, archiveBefore)
    await trimMaster(pass, archiveBefore)
  } finally {
    await release?.()
  }

  await deleteOldMessages(pass, { runs, messages, log, archiveCutoff, deleteBatch: o.deleteBatch ?? 10_000 })
  log.info(
    {
      dryRun,
      gzipped: result.gzipped,
      archivedFiles: result.archivedFiles,
      archivedLines: result.archivedLines,
      masterLinesRemoved: result.masterLinesRemoved,
      messagesDeleted: result.messagesDeleted,
      actions: result.actions.length,
    },
    'retention done',
  )
  return result
}

/** 3. deletes conversation_messages older than the cutoff in batches, never past the watermark, then vacuums. */
async function deleteOldMessages(
  p: RetentionPass,
  q: {
    runs: ExportRunsRepository
    messages: MessagesRepository
    log: Logger
    archiveCutoff: Date
    deleteBatch: number
  },
): Promise<void> {
  const { messages } = q
  const { result } = p
  const wm = (await q.runs.lastCommittedNightly())?.to
  let cutoff = q.archiveCutoff.toISOString()
  if (wm && new Date(wm.createdAt).getTime() < q.archiveCutoff.getTime()) cutoff = wm.createdAt
  const toDelete = await messages.countOlderThan(cutoff)
  if (toDelete <= 0) return
  p.act({
    action: 'delete-messages',
    target: `conversation_messages created before ${cutoff}`,
    count: toDelete,
  })
  if (!p.dryRun) {
    const batch = q.deleteBatch
    let batches = 0
    for (;;) {
      const n = await messages.deleteOlderThanBatch(cutoff, batch)
      result.messagesDeleted += n
      batches++
      if (n < batch) break
    }
    q.log.info({ rows: result.messagesDeleted, batches }, 'retention deleted old conversation_messages')
  }
  p.act({ action: 'vacuum', target: 'conversation_messages', count: 1 })
  if (!p.dryRun) {
    await messages.vacuumAnalyze()
    result.vacuumed = true
  }
}
