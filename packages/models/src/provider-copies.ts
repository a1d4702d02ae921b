import { resolve } from 'node:path'
import type { Queryable } from '@loopdm/db/pool'
import type { Logger } from '@loopdm/platform/logger'
import { OpenAI } from '@loopdm/platform/openai'
import { readUploadedMarker, removeUploadedMarker } from '@loopdm/training-data/provider-copies'
import { FINETUNE_TERMINAL_STATUSES } from './finetune-jobs.js'

/**
 * Provider copies of training files, from the tuner's record of every upload (finetune_jobs rows
 * with a `provider_file_id`, one per upload: every weekly tune of the master is another copy).
 * The GDPR erase deletes every copy of every file that held the user's lines; the tuner deletes a
 * job's copy once it ends (FT_DELETE_TRAINING_FILES). Issue 17: the `.uploaded` marker only kept
 * the last upload's id, so seven of eight copies stayed at the provider while the audit said done.
 */
export interface ProviderCopyReport {
  /** Deleted at the provider now. */
  deleted: number
  /** Already gone: deleted earlier (job ended, an earlier erase) or unknown to the provider (404). */
  alreadyGone: number
  /** Still read by a running fine-tune: the tuner deletes them when it ends. */
  deferred: number
  /** Could not be deleted (no access to that provider, an error): see the log; delete by hand. */
  failed: number
  /** Provider file ids, per outcome (for the log and the audit; never file contents). */
  ids: { deleted: string[]; alreadyGone: string[]; deferred: string[]; failed: string[] }
}

interface UploadRow {
  id: number
  provider: string
  fileId: string
  status: string
  deletedAt: Date | null
}

/** Every recorded upload of one of `files`; paths compare resolved (the tuner may record them relative). */
async function uploadsOf(q: Queryable, files: string[]): Promise<UploadRow[]> {
  const wanted = new Set(files.map((f) => resolve(f)))
  const r = await q.query<UploadRow & { filePath: string }>(
    `select id, provider, provider_file_id as "fileId", status, provider_file_deleted_at as "deletedAt",
            file_path as "filePath"
       from finetune_jobs where provider_file_id is not null order by id`,
  )
  return r.rows.filter((row) => wanted.has(resolve(row.filePath)))
}

/** Records that a finetune_jobs row's provider copy is gone (deleted or 404). */
export async function markProviderCopyDeleted(q: Queryable, finetuneJobId: number): Promise<void> {
  await q.query(
    `update finetune_jobs set provider_file_deleted_at = coalesce(provider_file_deleted_at, now()),
            provider_file_delete_when_done = false where id = $1`,
    [finetuneJobId],
  )
}

function isGone(err: unknown): boolean {
  return err instanceof OpenAI.NotFoundError || (err as { status?: number }).status === 404
}

/**
 * Deletes every provider copy of `files` (paths as the tuner recorded them) through `sdk` (the
 * OpenAI-compatible files API of FT_PROVIDER=openai). Copies at another provider count as failed
 * when no deleter is given for it. Never throws for a copy: each outcome is counted and logged.
 */
export async function eraseProviderCopies(o: {
  db: Queryable
  files: string[]
  sdk?: Pick<OpenAI, 'files'> | undefined
  /** Deleters per provider name; `openai` defaults to `sdk.files.delete`. */
  deleters?: Record<string, (fileId: string) => Promise<void>>
  logger?: Logger | undefined
}): Promise<ProviderCopyReport> {
  const out: ProviderCopyReport = {
    deleted: 0,
    alreadyGone: 0,
    deferred: 0,
    failed: 0,
    ids: { deleted: [], alreadyGone: [], deferred: [], failed: [] },
  }
  const add = (k: 'deleted' | 'alreadyGone' | 'deferred' | 'failed', id: string) => {
    out[k]++
    out.ids[k].push(id)
  }
  const deleters: Record<string, (id: string) => Promise<void>> = { ...o.deleters }
  if (!deleters.openai && o.sdk) {
    const sdk = o.sdk
    deleters.openai = async (id) => {
      await sdk.files.delete(id)
    }
  }
  const rows = o.files.length ? await uploadsOf(o.db, o.files) : []
  const seen = new Set<string>()
  for (const row of rows) {
    if (seen.has(`${row.provider}:${row.fileId}`)) continue
    seen.add(`${row.provider}:${row.fileId}`)
    if (row.deletedAt) {
      add('alreadyGone', row.fileId)
      continue
    }
    if (!(FINETUNE_TERMINAL_STATUSES as readonly string[]).includes(row.status)) {
      await o.db.query('update finetune_jobs set provider_file_delete_when_done = true where id = $1', [
        row.id,
      ])
      add('deferred', row.fileId)
      continue
    }
    const del = deleters[row.provider]
    if (!del) {
      add('failed', row.fileId)
      o.logger?.warn(
        { fileId: row.fileId, provider: row.provider },
        'gdpr: no access to this provider; delete the training file there by hand',
      )
      continue
    }
    try {
      await del(row.fileId)
      add('deleted', row.fileId)
    } catch (err) {
      if (!isGone(err)) {
        add('failed', row.fileId)
        o.logger?.warn(
          { fileId: row.fileId, err: (err as Error).message },
          'gdpr: could not delete the provider copy; delete it by hand',
        )
        continue
      }
      add('alreadyGone', row.fileId)
    }
    await markProviderCopyDeleted(o.db, row.id)
  }
  await eraseMarkerOnlyCopies(o, rows, deleters, add)
  return out
}

/**
 * Uploads known only from a `<file>.uploaded` marker (written before the tuner's rows recorded
 * every copy, or by hand): the marker's id is deleted too, when no row names it.
 */
async function eraseMarkerOnlyCopies(
  o: { files: string[]; logger?: Logger | undefined },
  rows: UploadRow[],
  deleters: Record<string, (id: string) => Promise<void>>,
  add: (k: 'deleted' | 'alreadyGone' | 'failed', id: string) => void,
): Promise<void> {
  const known = new Set(rows.map((r) => r.fileId))
  for (const file of o.files) {
    const m = readUploadedMarker(file)
    if (!m) continue
    if (known.has(m.fileId)) continue
    const del = deleters.openai
    if (!del) {
      add('failed', m.fileId)
      continue
    }
    try {
      await del(m.fileId)
      add('deleted', m.fileId)
      removeUploadedMarker(file)
    } catch (err) {
      if (isGone(err)) {
        add('alreadyGone', m.fileId)
        removeUploadedMarker(file)
      } else add('failed', m.fileId)
    }
  }
}

/**
 * Called by the tuner when a fine-tune ends: deletes its training file at the provider when
 * FT_DELETE_TRAINING_FILES is on (`always`), or when a GDPR erase asked for it while the job still
 * read it. Records the deletion on the finetune_jobs row. Never throws (logged instead).
 */
export async function deleteEndedJobCopy(o: {
  db: Queryable
  finetuneJobId: number
  fileId: string | null
  always: boolean
  deleter: (fileId: string) => Promise<void>
  logger: Logger
}): Promise<'deleted' | 'kept' | 'failed'> {
  if (!o.fileId) return 'kept'
  const r = await o.db.query<{ when: boolean; gone: Date | null }>(
    `select provider_file_delete_when_done as "when", provider_file_deleted_at as gone
       from finetune_jobs where id = $1`,
    [o.finetuneJobId],
  )
  const row = r.rows[0]
  if (!row || row.gone || !(o.always || row.when)) return 'kept'
  try {
    await o.deleter(o.fileId).catch((err) => {
      if (!isGone(err)) throw err
    })
    await markProviderCopyDeleted(o.db, o.finetuneJobId)
    o.logger.info(
      { fileId: o.fileId, reason: row.when ? 'gdpr' : 'FT_DELETE_TRAINING_FILES' },
      'deleted the training file at the provider (its fine-tune ended)',
    )
    return 'deleted'
  } catch (err) {
    o.logger.warn(
      { fileId: o.fileId, err: (err as Error).message },
      'could not delete the training file at the provider; the GDPR erase or a person must',
    )
    return 'failed'
  }
}
