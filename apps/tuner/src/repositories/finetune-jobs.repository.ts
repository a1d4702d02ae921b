import type { Pool, Queryable } from '@loopdm/db/pool'

/**
 * `finetune_jobs` (migration 0007): one row per training file, advanced by the poll state machine.
 * Other apps (the gateway's `GET /admin/models`) may import `listRecent` to show failures.
 */
export const TERMINAL_STATUSES = ['succeeded', 'failed', 'cancelled'] as const
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number]
export const TERMINAL_STATUSES_ALL = [...TERMINAL_STATUSES, 'rejected'] as const
/** `rejected`: the provider refused the account (403 training_not_available); terminal, never a job. */
export type FinetuneStatus =
  | 'uploading'
  | 'validating_files'
  | 'queued'
  | 'running'
  | TerminalStatus
  | 'rejected'

export interface FinetuneEvent {
  id: string
  createdAt: number
  level: string
  message: string
}

export interface FinetuneJobRow {
  id: number
  fileSha256: string
  filePath: string
  trigger: string
  baseModel: string
  nEpochs: number
  suffix: string | null
  status: FinetuneStatus
  providerFileId: string | null
  providerJobId: string | null
  examples: number
  tokens: number
  estimatedCostUsd: number
  trainedTokens: number | null
  actualCostUsd: number | null
  fineTunedModel: string | null
  error: string | null
  events: FinetuneEvent[]
  dataThrough: string | null
  /** `openai` | `together` | `vllm` (migration 0011). */
  provider: string
  /** The deployment configuration a `rejected` row was refused under. */
  configKey: string | null
  pollCount: number
  pollErrors: number
  deadlineAt: Date
  createdAt: Date
  updatedAt: Date
  finishedAt: Date | null
}

const COLS = `id, file_sha256 as "fileSha256", file_path as "filePath", trigger, base_model as "baseModel",
  n_epochs as "nEpochs", suffix, status, provider_file_id as "providerFileId", provider_job_id as "providerJobId",
  examples, tokens, estimated_cost_usd::float8 as "estimatedCostUsd", trained_tokens as "trainedTokens",
  actual_cost_usd::float8 as "actualCostUsd", fine_tuned_model as "fineTunedModel", error, events,
  data_through as "dataThrough", provider, config_key as "configKey", poll_count as "pollCount", poll_errors as "pollErrors",
  deadline_at as "deadlineAt", created_at as "createdAt", updated_at as "updatedAt", finished_at as "finishedAt"`

export function isTerminal(status: string): status is TerminalStatus {
  return (TERMINAL_STATUSES_ALL as readonly string[]).includes(status)
}

export function createFinetuneJobsRepository(db: Pool) {
  return {
    /**
     * Inserts the row for a training file unless one exists; returns the row either way and
     * whether this call created it (the sha256 unique key makes two triggers share one row).
     */
    async claim(j: {
      fileSha256: string
      filePath: string
      trigger: string
      baseModel: string
      nEpochs: number
      suffix: string
      examples: number
      tokens: number
      estimatedCostUsd: number
      dataThrough: string | null
      deadlineAt: Date
      provider: string
      configKey: string
      /** Who uploads/creates (a BullMQ job id, or `inline-<pid>`), and for how long at most. */
      leaseOwner: string
      leaseMs: number
    }): Promise<{ row: FinetuneJobRow; created: boolean }> {
      const ins = await db.query<FinetuneJobRow>(
        `insert into finetune_jobs (file_sha256, file_path, trigger, base_model, n_epochs, suffix, examples,
            tokens, estimated_cost_usd, data_through, deadline_at, lease_owner, lease_until, provider, config_key)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now() + $13 * interval '1 millisecond', $14, $15)
         on conflict (file_sha256) do nothing
         returning ${COLS}`,
        [
          j.fileSha256,
          j.filePath,
          j.trigger,
          j.baseModel,
          j.nEpochs,
          j.suffix,
          j.examples,
          j.tokens,
          j.estimatedCostUsd,
          j.dataThrough,
          j.deadlineAt,
          j.leaseOwner,
          j.leaseMs,
          j.provider,
          j.configKey,
        ],
      )
      if (ins.rows[0]) return { row: ins.rows[0], created: true }
      const row = await this.findBySha(j.fileSha256)
      if (!row) throw new Error(`finetune_jobs row for ${j.fileSha256} vanished`)
      return { row, created: false }
    },

    async findBySha(sha: string, q: Queryable = db): Promise<FinetuneJobRow | null> {
      const r = await q.query<FinetuneJobRow>(`select ${COLS} from finetune_jobs where file_sha256 = $1`, [
        sha,
      ])
      return r.rows[0] ?? null
    },

    async findById(id: number): Promise<FinetuneJobRow | null> {
      const r = await db.query<FinetuneJobRow>(`select ${COLS} from finetune_jobs where id = $1`, [id])
      return r.rows[0] ?? null
    },

    async findByProviderJobId(jobId: string): Promise<FinetuneJobRow | null> {
      const r = await db.query<FinetuneJobRow>(
        `select ${COLS} from finetune_jobs where provider_job_id = $1`,
        [jobId],
      )
      return r.rows[0] ?? null
    },

    /**
     * Takes the upload/create lease of a row that has no provider job yet: free, expired, or
     * already ours (a retry of the same BullMQ job). False → another trigger is creating it.
     */
    async takeLease(id: number, owner: string, leaseMs: number): Promise<boolean> {
      const r = await db.query(
        `update finetune_jobs set lease_owner = $2, lease_until = now() + $3 * interval '1 millisecond', updated_at = now()
          where id = $1 and provider_job_id is null
            and (lease_until is null or lease_until < now() or lease_owner = $2)`,
        [id, owner, leaseMs],
      )
      return (r.rowCount ?? 0) > 0
    },

    async setUploaded(id: number, providerFileId: string): Promise<void> {
      await db.query(`update finetune_jobs set provider_file_id = $2, updated_at = now() where id = $1`, [
        id,
        providerFileId,
      ])
    },

    async setCreated(id: number, providerJobId: string, status: string): Promise<void> {
      await db.query(
        `update finetune_jobs set provider_job_id = $2, status = $3, lease_owner = null, lease_until = null,
                updated_at = now() where id = $1`,
        [id, providerJobId, status],
      )
    },

    /** Records one poll: the provider status, new events (deduplicated by id) and counters. */
    async recordPoll(
      id: number,
      p: {
        status: FinetuneStatus
        events: FinetuneEvent[]
        trainedTokens?: number | null
        fineTunedModel?: string | null
        error?: string | null
        actualCostUsd?: number | null
      },
    ): Promise<FinetuneJobRow> {
      const r = await db.query<FinetuneJobRow>(
        `update finetune_jobs f set
            status = $2,
            events = (select coalesce(jsonb_agg(e order by (e->>'createdAt')::float8, e->>'id'), '[]'::jsonb)
                        from (select distinct on (x->>'id') x as e
                                from jsonb_array_elements(f.events || $3::jsonb) x) d),
            trained_tokens = coalesce($4, trained_tokens),
            fine_tuned_model = coalesce($5, fine_tuned_model),
            error = coalesce($6, error),
            actual_cost_usd = coalesce($7, actual_cost_usd),
            poll_count = poll_count + 1,
            updated_at = now(),
            finished_at = case when $2 in ('succeeded', 'failed', 'cancelled', 'rejected') then coalesce(finished_at, now())
                               else finished_at end
          where id = $1
          returning ${COLS}`,
        [
          id,
          p.status,
          JSON.stringify(p.events),
          p.trainedTokens ?? null,
          p.fineTunedModel ?? null,
          p.error ?? null,
          p.actualCostUsd ?? null,
        ],
      )
      return r.rows[0] as FinetuneJobRow
    },

    /** A row that ended before any provider job existed (refused upload) may be tried again. */
    async reopen(
      id: number,
      deadlineAt: Date,
      /** The configuration of this attempt (it may differ from the refused one). */
      now: { provider: string; baseModel: string; configKey: string },
    ): Promise<void> {
      await db.query(
        `update finetune_jobs set status = 'uploading', error = null, finished_at = null, deadline_at = $2,
                lease_owner = null, lease_until = null, updated_at = now(), provider = $3, base_model = $4,
                config_key = $5, provider_file_id = null
          where id = $1 and provider_job_id is null`,
        [id, deadlineAt, now.provider, now.baseModel, now.configKey],
      )
    },

    async recordPollError(id: number): Promise<void> {
      await db.query(
        `update finetune_jobs set poll_errors = poll_errors + 1, updated_at = now() where id = $1`,
        [id],
      )
    },

    /** The latest `rejected` row refused under this configuration (no retry until it changes). */
    async findRejection(configKey: string): Promise<FinetuneJobRow | null> {
      const r = await db.query<FinetuneJobRow>(
        `select ${COLS} from finetune_jobs where status = 'rejected' and config_key = $1 order by id desc limit 1`,
        [configKey],
      )
      return r.rows[0] ?? null
    },

    /** The provider file is gone (deleted after a refusal): the row no longer points at it. */
    async clearUploaded(id: number): Promise<void> {
      await db.query(`update finetune_jobs set provider_file_id = null, updated_at = now() where id = $1`, [
        id,
      ])
    },

    /** Terminal without the provider's word (e.g. the file was rejected before a job existed). */
    async fail(id: number, status: 'failed' | 'cancelled' | 'rejected', error: string): Promise<void> {
      await db.query(
        `update finetune_jobs set status = $2, error = $3, lease_owner = null, lease_until = null, updated_at = now(),
                finished_at = coalesce(finished_at, now())
          where id = $1`,
        [id, status, error],
      )
    },

    /** Rows the poll state machine still owns (a restarted tuner re-enqueues a poll for each). */
    async listNonTerminal(): Promise<FinetuneJobRow[]> {
      const r = await db.query<FinetuneJobRow>(
        `select ${COLS} from finetune_jobs where status not in ('succeeded', 'failed', 'cancelled', 'rejected') order by id`,
      )
      return r.rows
    },

    /** The latest succeeded job's data cursor (FT_TRAINING_DATA=since-last). */
    async lastSucceeded(): Promise<FinetuneJobRow | null> {
      const r = await db.query<FinetuneJobRow>(
        `select ${COLS} from finetune_jobs where status = 'succeeded' order by finished_at desc nulls last, id desc limit 1`,
      )
      return r.rows[0] ?? null
    },

    /** Most recent jobs first, for admin views and the monthly report. */
    async listRecent(opts: { limit?: number; status?: FinetuneStatus[] } = {}): Promise<FinetuneJobRow[]> {
      const r = await db.query<FinetuneJobRow>(
        `select ${COLS} from finetune_jobs where ($1::text[] is null or status = any($1))
          order by id desc limit $2`,
        [opts.status ?? null, opts.limit ?? 50],
      )
      return r.rows
    },

    async listBetween(from: Date, to: Date): Promise<FinetuneJobRow[]> {
      const r = await db.query<FinetuneJobRow>(
        `select ${COLS} from finetune_jobs where created_at >= $1 and created_at < $2 order by id`,
        [from, to],
      )
      return r.rows
    },

    async deleteBySha(sha: string): Promise<void> {
      await db.query('delete from finetune_jobs where file_sha256 = $1', [sha])
    },
  }
}

export type FinetuneJobsRepository = ReturnType<typeof createFinetuneJobsRepository>
