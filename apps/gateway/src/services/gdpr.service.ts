import { basename } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { createExemplarRepository, type ExemplarRepository } from '@loopdm/models/exemplar-sets'
import { providerFileInUse } from '@loopdm/models/finetune-jobs'
import type { Config } from '@loopdm/platform/config'
import { LockTimeoutError, UnavailableError } from '@loopdm/platform/errors'
import type { Logger } from '@loopdm/platform/logger'
import type { OpenAI } from '@loopdm/platform/openai'
import {
  deleteProviderFile,
  readUploadedMarker,
  removeUploadedMarker,
  writeUploadedMarker,
} from '@loopdm/training-data/provider-copies'
import { pseudonymousUserKey } from '@loopdm/training-data/pseudonym'
import type { DmJobsRepository } from '../repositories/dm-jobs.repository.js'
import { createGdprRepository, type GdprRepository } from '../repositories/gdpr.repository.js'
import { defaultExportEraser, type ExportEraser } from './export-eraser.js'

/**
 * GDPR erase ("right to be forgotten"): removes everything that holds a user's id or words —
 * their rows in every table with an `ig_user_id` column, the payloads of their `dm` jobs in Redis,
 * their lines in export files and the provider's copies of the files already uploaded — and writes
 * one audit row that holds only a pseudonymous key, the actor, the time and the counts.
 * Idempotent: a second erase of the same user removes nothing and reports zeros (and is audited
 * too).
 *
 * It runs under the user's reply lock, so a reply being written when the erase starts is finished
 * first and erased with the rest; a DM of the user that arrived before the erase ended but is
 * answered after it is dropped by the reply worker (it checks the audit row), never stored.
 */

export interface ErasureCounts {
  /** Rows deleted, per table (every table with an `ig_user_id` column is listed). */
  tables: Record<string, number>
  rows: number
  /** Finished `dm` jobs whose payload was replaced by `{ erased: true }`. */
  jobs: number
  exportFiles: number
  exportLines: number
  /** Export files that held the user's lines but were already uploaded to the provider. */
  exportUploadedFiles: number
  /** Provider copies of those files deleted now. */
  providerFilesDeleted: number
  /** Provider copies a running fine-tune still reads: the tuner deletes them when it ends. */
  providerFilesDeferred: number
  /** Provider copies that could not be deleted (no provider access, unknown id, error): see the log. */
  providerFilesKept: number
  /** Turns dropped from this process's embedding queue. */
  pendingEmbeddings: number
  /**
   * The user's demonstrations deleted from every exemplar set, the active one included: the next
   * reply can no longer use them ("erasure that reaches the model").
   */
  exemplars: number
}

export interface ErasureResult {
  erasureId: number
  userKey: string
  actor: string
  at: Date
  counts: ErasureCounts
  /** Nothing was found: the user was already erased (or never wrote). */
  empty: boolean
}

export interface GdprOptions {
  db: Pool
  config: Config
  dmJobs: DmJobsRepository
  logger?: Logger | undefined
  exportEraser?: ExportEraser
  /** The local memory, so queued embeddings and cached vectors of the user go too. */
  memory?: { forget(igUserId: string): number } | undefined
  /** The provider's files API (the OpenAI SDK), to delete uploaded copies; without it they are kept. */
  sdk?: Pick<OpenAI, 'files'> | undefined
  repository?: GdprRepository
  exemplars?: Pick<ExemplarRepository, 'eraseUser'>
}

export function createGdprService(opts: GdprOptions) {
  const repo = opts.repository ?? createGdprRepository(opts.db)
  const exportEraser = opts.exportEraser ?? defaultExportEraser
  const exemplarRepo = opts.exemplars ?? createExemplarRepository(opts.db)
  return {
    async eraseUser({ igUserId, actor }: { igUserId: string; actor: string }): Promise<ErasureResult> {
      let began = false
      try {
        return await opts.dmJobs.withUserLock(igUserId, () => {
          began = true
          return erase(igUserId, actor)
        })
      } catch (err) {
        if (began) throw err
        // Nothing is deleted before the lock is held: the caller can simply retry.
        if (err instanceof LockTimeoutError)
          throw new UnavailableError('GDPR erase: a reply to this user is still being written; retry', err)
        throw new UnavailableError(
          `GDPR erase: Redis unavailable, nothing erased yet (${(err as Error).message})`,
          err as Error,
        )
      }
    },
  }

  async function erase(igUserId: string, actor: string): Promise<ErasureResult> {
    const userKey = pseudonymousUserKey(igUserId)
    const started = performance.now()
    // Redis first: if it is unreachable nothing is deleted yet and the caller can simply retry.
    const jobs = await opts.dmJobs.scrubUser(igUserId).catch((err: Error) => {
      throw new UnavailableError(`GDPR erase: Redis unavailable, nothing erased yet (${err.message})`, err)
    })
    const pendingEmbeddings = Number(opts.memory?.forget(igUserId) ?? 0)
    const tables = await repo.deleteUserRows(igUserId)
    // One statement over every set: no reply after this line can retrieve the user's exemplars.
    const exemplars = await exemplarRepo.eraseUser(userKey)
    const exported = await exportEraser({
      exportDir: opts.config.export.dir,
      igUserId,
      logger: opts.logger,
    })
    const provider = await eraseProviderCopies(opts, exported.uploaded ?? [])
    const rows = Object.values(tables).reduce((a, b) => a + b, 0)
    const counts: ErasureCounts = {
      tables,
      rows,
      jobs,
      exportFiles: exported.files,
      exportLines: exported.lines,
      exportUploadedFiles: exported.uploadedFiles,
      providerFilesDeleted: provider.deleted,
      providerFilesDeferred: provider.deferred,
      providerFilesKept: provider.kept,
      pendingEmbeddings,
      exemplars,
    }
    const audit = await repo.insertAudit({ userKey, actor, counts })
    const empty = rows === 0 && jobs === 0 && exported.lines === 0 && exemplars === 0
    opts.logger?.info(
      {
        userKey,
        actor,
        erasureId: audit.id,
        rows,
        tables,
        jobs,
        exportLines: exported.lines,
        exemplars,
        empty,
        ms: Math.round(performance.now() - started),
      },
      'gdpr: user erased',
    )
    return { erasureId: audit.id, userKey, actor, at: audit.createdAt, counts, empty }
  }
}

/**
 * The provider's copies of export files that held the user's lines (the local files are clean by
 * now): deleted at once, or — while a fine-tune still reads one — marked so the tuner deletes it
 * when that job ends. A fine-tuned model already trained on them cannot be un-trained: the README
 * says what to do about that.
 */
async function eraseProviderCopies(
  opts: Pick<GdprOptions, 'db' | 'sdk' | 'logger'>,
  uploaded: string[],
): Promise<{ deleted: number; deferred: number; kept: number }> {
  const out = { deleted: 0, deferred: 0, kept: 0 }
  for (const file of uploaded) {
    const marker = readUploadedMarker(file)
    if (!marker || !opts.sdk) {
      out.kept++
      opts.logger?.warn(
        { file: basename(file), fileId: marker?.fileId ?? null },
        opts.sdk
          ? 'gdpr: uploaded file has no provider id; delete its copy by hand'
          : 'gdpr: no provider access; delete the uploaded copy by hand',
      )
      continue
    }
    const { fileId } = marker
    try {
      if (await providerFileInUse(opts.db, fileId)) {
        writeUploadedMarker(file, { ...marker, deleteWhenDone: true })
        out.deferred++
        opts.logger?.info(
          { fileId },
          'gdpr: provider copy is still read by a fine-tune; deleted when it ends',
        )
        continue
      }
      await deleteProviderFile(opts.sdk, fileId)
      removeUploadedMarker(file)
      out.deleted++
    } catch (err) {
      out.kept++
      opts.logger?.warn(
        { fileId, err: (err as Error).message },
        'gdpr: could not delete the provider copy; delete it by hand',
      )
    }
  }
  return out
}

export type GdprService = ReturnType<typeof createGdprService>
