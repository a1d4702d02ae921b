import { existsSync, promises as fsp } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Logger } from '@loopdm/platform/logger'
import { ownerLiveness } from '@loopdm/platform/owner-id'
import { fsyncDir } from '@loopdm/training-data/fs-atomic'
import { ExportBusyError } from '../errors.js'
import type {
  ExportRun,
  ExportRunsRepository,
  RunKind,
  RunPlan,
} from '../repositories/export-runs.repository.js'
import { appendRange, fileSize } from './export-files.js'

/** Where a test can stop a run to kill its process (crash-and-rerun tests). */
export type ExportPausePoint = 'mid-write' | 'before-rename' | 'after-rename' | 'mid-append' | 'before-commit'

/** What the lease and recovery steps need from the export service. */
export interface RunLedger {
  runs: ExportRunsRepository
  log: Logger
  dir: string
  leaseMs: number
  /** Whether this process is running an export right now. */
  isActive: () => boolean
  pause: (p: ExportPausePoint) => Promise<void>
  maybeTune: (date: string, examples: number) => Promise<boolean>
}

/** A crashed run the lease step finished before starting its own. */
export type Recovered = { runId: number; examples: number } | undefined

/** A run recorded as written whose files no longer exist (removed by hand). */
class FilesMissingError extends Error {}

function ownerDead(l: RunLedger, run: ExportRun): boolean {
  if (Date.now() - run.heartbeatAt.getTime() > l.leaseMs) return true
  // host:pid:bootId — the same pid with another boot id is a restarted container's dead run.
  const live = ownerLiveness(run.owner)
  if (live === 'self') return !l.isActive()
  return live === 'dead'
}

/** Renames, appends to the master exactly once, and commits a run recorded as `written`. */
export async function finishWritten(
  l: RunLedger,
  runId: number,
  kind: RunKind,
  plan: RunPlan,
): Promise<void> {
  await l.pause('before-rename')
  for (const f of plan.files) {
    if (existsSync(f.temp)) await fsp.rename(f.temp, f.final)
    else if (!existsSync(f.final)) {
      throw new FilesMissingError(`export run ${runId}: neither ${f.temp} nor ${f.final} exists`)
    }
    if (existsSync(f.manifestTemp)) await fsp.rename(f.manifestTemp, f.manifestFinal)
    await fsyncDir(dirname(f.final))
  }
  await l.pause('after-rename')
  if (plan.master) await appendToMaster(l, plan, plan.master)
  await l.pause('before-commit')
  await l.runs.commit(runId, kind, plan.pending)
}

/** Appends each file's new lines (and manifest lines) to the master from the recorded offsets. */
async function appendToMaster(l: RunLedger, plan: RunPlan, master: NonNullable<RunPlan['master']>) {
  let offset = master.offset
  let mOffset = master.manifestOffset
  for (const [i, f] of plan.files.entries()) {
    await appendRange(
      f.final,
      f.baseBytes,
      master.path,
      offset,
      i === 0 ? () => l.pause('mid-append') : undefined,
    )
    await appendRange(f.manifestFinal, f.baseManifestBytes, master.manifestPath, mOffset)
    offset += f.bytes - f.baseBytes
    mOffset += f.manifestBytes - f.baseManifestBytes
  }
  await fsyncDir(dirname(master.path))
}

/** Takes the lease, first finishing or failing a dead run that still holds it. */
export async function acquireLease(
  l: RunLedger,
  q: Parameters<ExportRunsRepository['start']>[0],
): Promise<{ id: number; recovered: Recovered }> {
  let recovered: Recovered
  for (let attempt = 0; attempt < 3; attempt++) {
    const id = await l.runs.start(q)
    if (id !== undefined) return { id, recovered }
    const other = await l.runs.inFlight()
    if (!other) continue
    if (!ownerDead(l, other)) {
      throw new ExportBusyError(
        `export run ${other.id} (${other.owner}) is still in progress; try again later`,
      )
    }
    if (other.status === 'written' && other.plan)
      recovered = (await recoverWritten(l, other, other.plan)) ?? recovered
    else await discardStarted(l, other)
  }
  throw new ExportBusyError('could not take the export lease')
}

/** Finishes a dead run that got as far as `written`; fails it if its files were removed. */
async function recoverWritten(l: RunLedger, other: ExportRun, plan: RunPlan): Promise<Recovered> {
  l.log.warn({ runId: other.id, owner: other.owner }, 'finishing an export run that crashed after writing')
  try {
    await finishWritten(l, other.id, other.kind, plan)
    const recovered = { runId: other.id, examples: other.examples }
    if (other.kind === 'nightly') await l.maybeTune(other.runDate, other.examples)
    return recovered
  } catch (err) {
    if (!(err instanceof FilesMissingError)) throw err
    // Its files were removed by hand: undo any partial master append and fail the run. The
    // watermark never moved, so this run reads the same rows again: nothing is lost.
    const m = plan.master
    if (m && (await fileSize(m.path)) > m.offset) await fsp.truncate(m.path, m.offset)
    if (m && (await fileSize(m.manifestPath)) > m.manifestOffset) {
      await fsp.truncate(m.manifestPath, m.manifestOffset)
    }
    l.log.error(
      { runId: other.id, err: err.message },
      'export run files are gone; run failed, its rows are read again',
    )
    await l.runs.markFailed(other.id, err.message)
    return undefined
  }
}

/** Fails a dead run that never reached `written` and removes its temp files. */
async function discardStarted(l: RunLedger, other: ExportRun): Promise<void> {
  l.log.warn({ runId: other.id, owner: other.owner }, 'discarding an export run that crashed while writing')
  await l.runs.markFailed(other.id, 'process died while writing (temp files discarded)')
  await removeTemps(l.dir, other.id)
}

async function removeTemps(dir: string, runId: number): Promise<void> {
  if (!existsSync(dir)) return
  for (const name of await fsp.readdir(dir)) {
    if (name.startsWith('.') && name.endsWith(`.tmp-run${runId}`))
      await fsp.rm(join(dir, name), { force: true })
  }
}
