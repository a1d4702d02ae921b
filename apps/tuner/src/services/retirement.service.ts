import type { Pool } from '@loopdm/db/pool'
import { createRegistryRepository, type ModelRow } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import type { OpenAI } from '@loopdm/platform/openai'
import { createOpenAIProvider } from '../providers/openai.provider.js'
import type { FineTuneProvider } from '../providers/provider.js'

/** Fine-tuned models older than this are deleted at the provider (unless protected). */
export const RETIRE_AFTER_DAYS = 90
const DAY_MS = 24 * 3600_000

export interface RetirementResult {
  /** Deleted at the provider (or already gone there) and marked retired in the registry. */
  deleted: string[]
  /** Registry rows marked retired whose model the provider no longer lists. */
  retired: string[]
  kept: Array<{ model: string; reason: string }>
  /** The provider refused the deletion (e.g. 403: deleting needs the Owner role); the run went on. */
  failed: Array<{ model: string; reason: string }>
  /** Dry runs: what a real run would delete/retire. */
  wouldDelete?: string[]
}

export interface RetireModelsOptions {
  /** The pool (or a Database holding one). */
  db: Pool | { pool: Pool }
  sdk: OpenAI
  /** Who lists and deletes trained models; default OpenAI through `sdk`. */
  provider?: Pick<FineTuneProvider, 'listModels' | 'deleteModel'>
  config: Config
  logger: Logger
  /** List what would go; change nothing. */
  dryRun?: boolean
  /** Clock for the age cut-off; default now. */
  now?: Date
  /** Default 90. */
  olderThanDays?: number
}

const poolOf = (db: RetireModelsOptions['db']): Pool => ('pool' in db ? db.pool : db) as Pool

/**
 * Model retirement (the `retirement` queue's `retire-models` job and `npm run cleanup:models`).
 * Lists fine-tuned models at the provider and in the registry; deletes at the provider those older
 * than 90 days and marks them retired — never the active model, never the rollback target (the
 * previous active one). Idempotent: a deleted model is no longer listed and a retired row is skipped.
 * Age is the provider's `created` when it lists the model, else the registry row's `created_at`.
 */
export async function retireModels(opts: RetireModelsOptions): Promise<RetirementResult> {
  const { logger } = opts
  const provider = opts.provider ?? createOpenAIProvider({ sdk: opts.sdk })
  const registry = createRegistryRepository(poolOf(opts.db))
  const now = opts.now ?? new Date()
  const days = opts.olderThanDays ?? RETIRE_AFTER_DAYS
  const cutoff = now.getTime() - days * DAY_MS
  const active = (await registry.findActive())?.model ?? null
  const previous = await registry.findPrevious()

  const atProvider = new Map<string, number>()
  for (const m of await provider.listModels()) atProvider.set(m.id, m.createdMs)
  const rows = new Map<string, ModelRow>()
  for (const r of await registry.list()) if (r.kind === 'fine_tuned') rows.set(r.model, r)

  const result: RetirementResult = { deleted: [], retired: [], kept: [], failed: [] }
  const would: string[] = []
  const names = [...new Set([...atProvider.keys(), ...rows.keys()])].sort()
  for (const model of names) {
    const row = rows.get(model)
    const providerCreated = atProvider.get(model)
    if (providerCreated === undefined && row?.status === 'retired') continue // done before
    if (model === active) {
      result.kept.push({ model, reason: 'active' })
      continue
    }
    if (model === previous) {
      result.kept.push({ model, reason: 'rollback target (previous active)' })
      continue
    }
    const createdMs = providerCreated ?? row?.createdAt.getTime() ?? now.getTime()
    const ageDays = Math.floor((now.getTime() - createdMs) / DAY_MS)
    if (createdMs > cutoff) {
      result.kept.push({ model, reason: `younger than ${days} days (${ageDays} d)` })
      continue
    }
    if (opts.dryRun) {
      would.push(model)
      continue
    }
    if (providerCreated !== undefined) {
      try {
        await provider.deleteModel(model)
      } catch (err) {
        // One model the key may not delete (403: OpenAI needs the Owner role) must not stop the
        // run: report it per model and go on. Other errors (provider down) end the run, retried.
        if ((err as { status?: unknown }).status !== 403) throw err
        const reason = `the provider refused the deletion (403): ${(err as Error).message}`
        result.failed.push({ model, reason })
        logger.warn({ model, ageDays }, 'model retirement refused by the provider (403); continuing')
        continue
      }
    }
    const reason = `retired: ${ageDays} days old (> ${days})`
    if (!row) await registry.upsertModel({ model, kind: 'fine_tuned', status: 'retired', reason })
    await registry.setStatus(model, 'retired', { reason })
    if (providerCreated !== undefined) result.deleted.push(model)
    else result.retired.push(model)
    logger.info({ model, ageDays, deletedAtProvider: providerCreated !== undefined }, 'model retired')
  }
  if (opts.dryRun) result.wouldDelete = would
  logger.info(
    {
      dryRun: Boolean(opts.dryRun),
      deleted: result.deleted.length,
      retired: result.retired.length,
      kept: result.kept.length,
      failed: result.failed.length,
      wouldDelete: result.wouldDelete?.length,
      active,
      rollbackTarget: previous,
    },
    'model retirement done',
  )
  return result
}
