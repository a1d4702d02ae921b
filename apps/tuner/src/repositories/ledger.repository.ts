import type { Pool } from '@loopdm/shared/db'

/**
 * The tuner's reads and writes of `cost_ledger` (migration 0002). Fine-tunes are entered with
 * their estimate when the provider job is created (so two jobs in one month both count against the
 * budget while they run) and corrected to the billed cost when the job ends.
 */
export const FINE_TUNE_OPERATION = 'fine_tune'

export function createTunerLedgerRepository(db: Pool) {
  return {
    /** USD spent on `operation` (all operations when omitted) since the start of `now`'s month (UTC). */
    async monthToDateUsd(opts: { operation?: string; now?: Date } = {}): Promise<number> {
      const r = await db.query<{ usd: number }>(
        `select coalesce(sum(cost_usd), 0)::float8 as usd from cost_ledger
          where created_at >= date_trunc('month', $1::timestamptz at time zone 'UTC') at time zone 'UTC'
            and ($2::text is null or operation = $2)`,
        [opts.now ?? new Date(), opts.operation ?? null],
      )
      return r.rows[0]?.usd ?? 0
    },

    /** Idempotent on `ref`: one fine-tune row per provider job. */
    async recordFineTune(e: {
      model: string
      trainedTokens: number
      costUsd: number
      ref: string
    }): Promise<void> {
      await db.query(
        `insert into cost_ledger (operation, model, purpose, trained_tokens, cost_usd, ref)
         select $1, $2, 'tune', $3, $4, $5
          where not exists (select 1 from cost_ledger where operation = $1 and ref = $5)`,
        [FINE_TUNE_OPERATION, e.model, e.trainedTokens, e.costUsd, e.ref],
      )
    },

    /** Replaces the estimate with what the provider billed (0 for a failed or cancelled job). */
    async settleFineTune(e: {
      ref: string
      model: string
      trainedTokens: number
      costUsd: number
    }): Promise<void> {
      const r = await db.query(
        `update cost_ledger set trained_tokens = $3, cost_usd = $4, model = $2 where operation = $5 and ref = $1`,
        [e.ref, e.model, e.trainedTokens, e.costUsd, FINE_TUNE_OPERATION],
      )
      if (r.rowCount === 0) await this.recordFineTune(e)
    },

    /** Spend grouped by operation and model in [from, to). */
    async spendBetween(
      from: Date,
      to: Date,
    ): Promise<Array<{ operation: string; model: string; calls: number; tokens: number; usd: number }>> {
      const r = await db.query<{
        operation: string
        model: string
        calls: number
        tokens: number
        usd: number
      }>(
        `select operation, model, count(*)::int as calls,
                sum(prompt_tokens + completion_tokens + trained_tokens)::float8 as tokens,
                coalesce(sum(cost_usd), 0)::float8 as usd
           from cost_ledger where created_at >= $1 and created_at < $2
          group by operation, model order by usd desc, operation, model`,
        [from, to],
      )
      return r.rows
    },
  }
}

export type TunerLedgerRepository = ReturnType<typeof createTunerLedgerRepository>
