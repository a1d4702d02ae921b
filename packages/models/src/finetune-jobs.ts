import type { Queryable } from '@loopdm/db/pool'

/**
 * A read-only view of the tuner's `finetune_jobs` table (migration 0007) for other apps: the
 * gateway's `GET /admin/models` lists recent fine-tunes, failed ones with their reason. The tuner
 * owns the writes (apps/tuner/src/repositories/finetune-jobs.repository.ts).
 */
export interface FinetuneJobSummary {
  id: number
  status: string
  providerJobId: string | null
  baseModel: string
  fineTunedModel: string | null
  examples: number
  tokens: number
  estimatedCostUsd: number
  actualCostUsd: number | null
  /** Why it failed or was cancelled; null otherwise. */
  error: string | null
  trigger: string
  createdAt: Date
  finishedAt: Date | null
}

/** Most recent first; `status` filters (e.g. ['failed', 'cancelled']). [] before migration 0007. */
export async function listFinetuneJobs(
  q: Queryable,
  opts: { status?: string[]; limit?: number } = {},
): Promise<FinetuneJobSummary[]> {
  try {
    const r = await q.query<FinetuneJobSummary>(
      `select id, status, provider_job_id as "providerJobId", base_model as "baseModel",
              fine_tuned_model as "fineTunedModel", examples, tokens,
              estimated_cost_usd::float8 as "estimatedCostUsd", actual_cost_usd::float8 as "actualCostUsd",
              error, trigger, created_at as "createdAt", finished_at as "finishedAt"
         from finetune_jobs where ($1::text[] is null or status = any($1))
        order by id desc limit $2`,
      [opts.status ?? null, opts.limit ?? 20],
    )
    return r.rows
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return [] // table not migrated yet
    throw err
  }
}

/** Statuses after which the provider no longer reads a job's training file. */
export const FINETUNE_TERMINAL_STATUSES = ['succeeded', 'failed', 'cancelled'] as const

/**
 * Whether a fine-tuning job that is not over yet still uses the provider file `fileId` (a GDPR
 * erase then keeps the provider's copy until the job ends, rather than breaking it).
 */
export async function providerFileInUse(q: Queryable, fileId: string): Promise<boolean> {
  try {
    const r = await q.query(
      'select 1 from finetune_jobs where provider_file_id = $1 and not (status = any($2)) limit 1',
      [fileId, FINETUNE_TERMINAL_STATUSES],
    )
    return (r.rowCount ?? 0) > 0
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return false // table not migrated yet
    throw err
  }
}
