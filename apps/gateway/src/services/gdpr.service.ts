import type { Pool } from '@loopdm/db/pool'
import { createExemplarRepository, type ExemplarRepository } from '@loopdm/models/exemplar-sets'
import { eraseProviderCopies, type ProviderCopyReport } from '@loopdm/models/provider-copies'
import type { Config } from '@loopdm/platform/config'
import { LockTimeoutError, UnavailableError } from '@loopdm/platform/errors'
import type { Logger } from '@loopdm/platform/logger'
import type { OpenAI } from '@loopdm/platform/openai'
import { pseudonymousUserKey, userKeyCandidates } from '@loopdm/training-data/pseudonym'
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
  /** An export run a dead exporter left in flight, rolled back before the files were erased. */
  exportRunRolledBack: number | null
  /**
   * Every provider copy of those files (each upload the tuner recorded, not only the last):
   * deleted now, already gone (deleted when its job ended, or 404), deferred (a running
   * fine-tune still reads it; the tuner deletes it when it ends), failed (see the log).
   */
  providerFilesDeleted: number
  providerFilesAlreadyGone: number
  providerFilesDeferred: number
  providerFilesFailed: number
  /** The provider file ids per outcome. */
  providerFileIds: ProviderCopyReport['ids']
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
  const repo =
    opts.repository ?? createGdprRepository(opts.db, { pseudonymSecret: opts.config.privacy.pseudonymSecret })
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
    const secret = opts.config.privacy.pseudonymSecret
    const userKey = pseudonymousUserKey(igUserId, secret)
    const started = performance.now()
    // Redis first: if it is unreachable nothing is deleted yet and the caller can simply retry.
    const jobs = await opts.dmJobs.scrubUser(igUserId).catch((err: Error) => {
      throw new UnavailableError(`GDPR erase: Redis unavailable, nothing erased yet (${err.message})`, err)
    })
    const pendingEmbeddings = Number(opts.memory?.forget(igUserId) ?? 0)
    // One transaction: every row of the user, their exemplars in every set (so no reply after it
    // can retrieve them) and the audit row — no deletion without its audit row. Exemplars are
    // found by the HMAC key and by the legacy unsalted one.
    const db = await repo.deleteUserRows(igUserId, async (c, tables) => {
      let exemplars = 0
      for (const k of userKeyCandidates(igUserId, secret)) exemplars += await exemplarRepo.eraseUser(k, c)
      const partial = { tables, rows: sumOf(tables), jobs, pendingEmbeddings, exemplars }
      const audit = await repo.insertAudit({ userKey, actor, counts: partial }, c)
      return { exemplars, audit }
    })
    const { exemplars, audit } = db.also
    // Files and provider copies after the commit: a failure here leaves an audit row without
    // completed_at, and running the erase again (idempotent) finishes it.
    const exported = await exportEraser({
      exportDir: opts.config.export.dir,
      igUserId,
      logger: opts.logger,
      pseudonymSecret: secret,
      db: opts.db,
    })
    const provider = await eraseProviderCopies({
      db: opts.db,
      files: exported.erased ?? exported.uploaded ?? [],
      sdk: opts.sdk,
      logger: opts.logger,
    })
    const rows = sumOf(db.tables)
    const counts: ErasureCounts = {
      tables: db.tables,
      rows,
      jobs,
      exportFiles: exported.files,
      exportLines: exported.lines,
      exportUploadedFiles: exported.uploadedFiles,
      exportRunRolledBack: exported.settledRunId ?? null,
      providerFilesDeleted: provider.deleted,
      providerFilesAlreadyGone: provider.alreadyGone,
      providerFilesDeferred: provider.deferred,
      providerFilesFailed: provider.failed,
      providerFileIds: provider.ids,
      pendingEmbeddings,
      exemplars,
    }
    await repo.completeAudit(audit.id, counts)
    const empty = rows === 0 && jobs === 0 && exported.lines === 0 && exemplars === 0
    opts.logger?.info(
      {
        userKey,
        actor,
        erasureId: audit.id,
        rows,
        tables: db.tables,
        jobs,
        exportLines: exported.lines,
        exemplars,
        provider: { deleted: provider.deleted, alreadyGone: provider.alreadyGone, failed: provider.failed },
        empty,
        ms: Math.round(performance.now() - started),
      },
      'gdpr: user erased',
    )
    return { erasureId: audit.id, userKey, actor, at: audit.createdAt, counts, empty }
  }
}

const sumOf = (t: Record<string, number>) => Object.values(t).reduce((a, b) => a + b, 0)

export type GdprService = ReturnType<typeof createGdprService>
