import { existsSync, promises as fsp } from 'node:fs'
import { dirname } from 'node:path'
import type { Logger } from '@loopdm/platform/logger'
import { fsyncDir } from './fs-atomic.js'

/**
 * Settles an export run left in flight (`started` or `written`) before a GDPR erase rewrites the
 * export files. Without it the erase shortens the master under the run's recorded offset (the
 * exporter then stops: "shorter than recorded offset") and the run's temp files, still holding the
 * erased user's lines, bring them back when the next export renames them (issue 17).
 *
 * Called with the export directory lock held: the exporter holds that lock for its whole file
 * phase, so a run still in flight while the eraser has the lock belongs to a dead process. The run
 * is rolled back — temp files removed, renamed files and the master truncated to the sizes the
 * plan recorded before the run — and marked failed. Its watermark never moved, so the next export
 * reads the same rows again (without the erased user's, gone from the database by then).
 */
export interface SettleDb {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>
}

interface FilePlan {
  final: string
  temp: string
  manifestFinal: string
  manifestTemp: string
  baseBytes: number
  baseManifestBytes: number
}

interface InFlightRow {
  id: number | string
  status: 'started' | 'written'
  owner: string
  plan: {
    files?: FilePlan[]
    master?: { path: string; manifestPath: string; offset: number; manifestOffset: number }
  } | null
}

export interface SettledRun {
  runId: number
  status: 'started' | 'written'
}

async function truncateTo(path: string, size: number): Promise<void> {
  const st = await fsp.stat(path).catch(() => undefined)
  if (st && st.size > size) await fsp.truncate(path, size)
}

async function rollBackFile(f: FilePlan): Promise<void> {
  await fsp.rm(f.temp, { force: true })
  await fsp.rm(f.manifestTemp, { force: true })
  if (f.baseBytes === 0 && f.baseManifestBytes === 0) {
    // The file did not exist before the run: a renamed one goes entirely.
    await fsp.rm(f.final, { force: true })
    await fsp.rm(f.manifestFinal, { force: true })
  } else {
    await truncateTo(f.final, f.baseBytes)
    await truncateTo(f.manifestFinal, f.baseManifestBytes)
  }
  if (existsSync(dirname(f.final))) await fsyncDir(dirname(f.final))
}

/** Rolls back the in-flight run, if any; returns it (or undefined when none was in flight). */
export async function settleInFlightExport(
  db: SettleDb,
  logger?: Logger | undefined,
): Promise<SettledRun | undefined> {
  const r = await db.query(
    `select id, status, owner, plan from export_runs where status in ('started', 'written') limit 1`,
  )
  const run = r.rows[0] as InFlightRow | undefined
  if (!run) return undefined
  const runId = Number(run.id)
  for (const f of run.plan?.files ?? []) await rollBackFile(f)
  const m = run.plan?.master
  if (m) {
    await truncateTo(m.path, m.offset)
    await truncateTo(m.manifestPath, m.manifestOffset)
    if (existsSync(dirname(m.path))) await fsyncDir(dirname(m.path))
  }
  // Its lines are gone from the files: the run that redoes them must not find them "duplicate"
  // (curation's line hashes). Before the status change, so a crash here leaves the run to settle again.
  await db.query('delete from export_line_hashes where run_id = $1', [runId])
  await db.query(
    `update export_runs set status = 'failed', error = $2 where id = $1 and status in ('started', 'written')`,
    [runId, 'rolled back by a GDPR erase (the process running it had died); its rows are read again'],
  )
  logger?.warn(
    { runId, status: run.status, owner: run.owner },
    'gdpr: rolled back an export run left in flight by a dead exporter before erasing',
  )
  return { runId, status: run.status }
}
