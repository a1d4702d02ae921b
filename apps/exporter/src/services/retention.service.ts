import { createReadStream, createWriteStream, existsSync, promises as fsp } from 'node:fs'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'
import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import {
  ARCHIVE_DIR,
  archiveName,
  listDailyFiles,
  MASTER_FILE,
  manifestPath,
} from '@loopdm/training-data/export-layout'
import { acquireDirLock } from '@loopdm/training-data/export-lock'
import { fsyncDir } from '@loopdm/training-data/fs-atomic'
import { ExportBusyError } from '../errors.js'
import { createExportRunsRepository } from '../repositories/export-runs.repository.js'
import { createMessagesRepository } from '../repositories/messages.repository.js'

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

export interface RetentionAction {
  action: 'gzip' | 'archive' | 'trim-master' | 'delete-messages' | 'vacuum'
  target: string
  count: number
}

export interface RetentionResult {
  dryRun: boolean
  actions: RetentionAction[]
  gzipped: number
  archivedFiles: number
  archivedLines: number
  masterLinesRemoved: number
  messagesDeleted: number
  vacuumed: boolean
}

const dayString = (d: Date) => d.toISOString().slice(0, 10)
function monthsBefore(d: Date, months: number): Date {
  const x = new Date(d)
  x.setUTCMonth(x.getUTCMonth() - months)
  return x
}

async function syncAndRename(tmp: string, final: string): Promise<void> {
  const fh = await fsp.open(tmp, 'r')
  await fh.sync()
  await fh.close()
  await fsp.rename(tmp, final)
}

async function* lines(path: string): AsyncGenerator<string> {
  const input = path.endsWith('.gz') ? createReadStream(path).pipe(createGunzip()) : createReadStream(path)
  for await (const l of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) yield l
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
  const act = (a: RetentionAction) => {
    result.actions.push(a)
    log.info({ ...a, dryRun }, dryRun ? `retention would ${a.action}` : `retention ${a.action}`)
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
    const daily = listDailyFiles(dir)
    // 1. gzip (files that step 2 archives anyway are skipped)
    for (const f of daily.filter((f) => !f.gz && f.date < gzipBefore && f.date >= archiveBefore)) {
      const src = join(dir, f.name)
      const count = await countLinesOf(src)
      act({ action: 'gzip', target: f.name, count })
      if (dryRun) continue
      const gzPath = `${src}.gz`
      const tmp = join(dir, `.${f.name}.gz.tmp-retention`)
      await pipeline(createReadStream(src), createGzip(), createWriteStream(tmp))
      await syncAndRename(tmp, gzPath)
      if (existsSync(manifestPath(src))) await fsp.rename(manifestPath(src), manifestPath(gzPath))
      await fsyncDir(dir)
      await fsp.rm(src, { force: true })
      result.gzipped++
    }

    // 2. archive per month
    const old = listDailyFiles(dir).filter((f) => f.date < archiveBefore)
    const byMonth = new Map<string, typeof old>()
    for (const f of old) {
      const m = f.date.slice(0, 7)
      byMonth.set(m, [...(byMonth.get(m) ?? []), f])
    }
    for (const [month, files] of byMonth) {
      const name = archiveName(month)
      const archivePath = join(dir, ARCHIVE_DIR, name)
      let count = 0
      for (const f of files) count += await countLinesOf(join(dir, f.name))
      act({
        action: 'archive',
        target: `${ARCHIVE_DIR}/${name} ← ${files.map((f) => f.name).join(', ')}`,
        count,
      })
      if (dryRun) continue
      await fsp.mkdir(join(dir, ARCHIVE_DIR), { recursive: true })
      const sources = [
        ...(existsSync(archivePath) ? [archivePath] : []),
        ...files.map((f) => join(dir, f.name)),
      ]
      const tmp = join(dir, ARCHIVE_DIR, `.${name}.tmp-retention`)
      const mTmp = join(dir, ARCHIVE_DIR, `.${name}.manifest.tmp-retention`)
      await pipeline(
        async function* () {
          for (const s of sources) for await (const l of lines(s)) yield `${l}\n`
        },
        createGzip(),
        createWriteStream(tmp),
      )
      await pipeline(async function* () {
        for (const s of sources)
          if (existsSync(manifestPath(s))) for await (const l of lines(manifestPath(s))) yield `${l}\n`
      }, createWriteStream(mTmp))
      await syncAndRename(tmp, archivePath)
      await syncAndRename(mTmp, manifestPath(archivePath))
      await fsyncDir(join(dir, ARCHIVE_DIR))
      for (const f of files) {
        await fsp.rm(join(dir, f.name), { force: true })
        await fsp.rm(manifestPath(join(dir, f.name)), { force: true })
      }
      result.archivedFiles += files.length
      result.archivedLines += count
    }

    // 2b. the master's old lines (by the manifest's date column)
    const master = join(dir, MASTER_FILE)
    if (existsSync(master) && existsSync(manifestPath(master))) {
      const mLines = (await fsp.readFile(manifestPath(master), 'utf8')).split('\n')
      if (mLines[mLines.length - 1] === '') mLines.pop()
      const drop = mLines.map((l) => (l.split('\t')[1] ?? '9999') < archiveBefore)
      const n = drop.filter(Boolean).length
      if (n > 0) {
        act({ action: 'trim-master', target: MASTER_FILE, count: n })
        if (!dryRun) {
          const tmp = join(dir, `.${MASTER_FILE}.tmp-retention`)
          let i = 0
          await pipeline(async function* () {
            for await (const l of lines(master)) if (!drop[i++]) yield `${l}\n`
          }, createWriteStream(tmp))
          await fsp.writeFile(
            `${tmp}.manifest`,
            mLines
              .filter((_, j) => !drop[j])
              .map((l) => `${l}\n`)
              .join(''),
          )
          await syncAndRename(tmp, master)
          await syncAndRename(`${tmp}.manifest`, manifestPath(master))
          await fsyncDir(dir)
          result.masterLinesRemoved = n
        }
      }
    }
  } finally {
    await release?.()
  }

  // 3. conversation_messages, never past the watermark
  const wm = (await runs.lastCommittedNightly())?.to
  let cutoff = archiveCutoff.toISOString()
  if (wm && new Date(wm.createdAt).getTime() < archiveCutoff.getTime()) cutoff = wm.createdAt
  const toDelete = await messages.countOlderThan(cutoff)
  if (toDelete > 0) {
    act({
      action: 'delete-messages',
      target: `conversation_messages created before ${cutoff}`,
      count: toDelete,
    })
    if (!dryRun) {
      const batch = o.deleteBatch ?? 10_000
      let batches = 0
      for (;;) {
        const n = await messages.deleteOlderThanBatch(cutoff, batch)
        result.messagesDeleted += n
        batches++
        if (n < batch) break
      }
      log.info({ rows: result.messagesDeleted, batches }, 'retention deleted old conversation_messages')
    }
    act({ action: 'vacuum', target: 'conversation_messages', count: 1 })
    if (!dryRun) {
      await messages.vacuumAnalyze()
      result.vacuumed = true
    }
  }
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

async function countLinesOf(path: string): Promise<number> {
  let n = 0
  for await (const _ of lines(path)) n++
  return n
}
