import type { Queryable } from '@loopdm/db/pool'
import type { Logger } from '@loopdm/platform/logger'
import type { UsageRecord, UsageSink } from '@loopdm/platform/openai'
import { createPriceTable, type ModelPrice, type PriceTable, roundUsd } from './prices.js'

/**
 * The cost ledger (table `cost_ledger`, migration 0002): one row per provider call that costs
 * money — tokens and the estimated USD at the time of the call. The OpenAI client writes every
 * successful call here (it is a `UsageSink`); the tuner records each fine-tuning job with its
 * estimate when the provider job is created (so two jobs running in one month both count against
 * the budget) and settles it to the billed cost when the job ends; budgets read `monthToDateUsd`,
 * `GET /admin/costs` and the monthly report read `summary`.
 */
export const FINE_TUNE_OPERATION = 'fine_tune'

export interface CostLedgerOptions {
  db: Queryable
  /** A price table, or per-model overrides merged over the built-in one (config.openai.prices). */
  prices?: PriceTable | Record<string, ModelPrice>
  /** Training USD per 1K tokens when `recordFineTune` gets no cost and the model is unknown; default 0.008. */
  fallbackTrainingPer1k?: number
  logger?: Logger
  /** For month boundaries; default `() => new Date()`. */
  now?: () => Date
}

export interface FineTuneCharge {
  /** The base (or parent ft:) model tuned. */
  model: string
  trainedTokens: number
  /** Estimated/billed USD; default trainedTokens/1000 × the model's training price. */
  costUsd?: number
  /** The fine-tuning job id; a second record with the same ref is ignored. */
  ref?: string
  /** Default `tune`. */
  purpose?: string
}

export interface CostSummaryRow {
  model: string
  operation: string
  /** `reply`, `memory`, `evaluate`, `tune` … (null when the caller gave none). */
  purpose: string | null
  calls: number
  promptTokens: number
  completionTokens: number
  trainedTokens: number
  costUsd: number
}

export interface CostSummary {
  from: string
  to: string
  totalUsd: number
  rows: CostSummaryRow[]
}

export interface CostLedger extends UsageSink {
  record(u: UsageRecord & { ref?: string }): Promise<void>
  recordFineTune(c: FineTuneCharge): Promise<void>
  /**
   * Records what part of a call's prompt a feature added (e.g. operation `exemplars`: the
   * demonstrations of a reply). The tokens are already billed in the call's own row, so this row
   * carries them with `cost_usd` 0 (totals never count them twice); `attributedUsd` prices them.
   */
  recordAttribution(a: {
    operation: string
    model: string
    promptTokens: number
    purpose?: string
    ref?: string | undefined
  }): Promise<void>
  /** USD the prompt tokens of `model` cost (price table), for attribution rows. */
  attributedUsd(model: string, promptTokens: number): number
  /**
   * Replaces a fine-tune's estimate with what the provider billed (0 for a failed or cancelled
   * job); records it when no estimate was entered.
   */
  settleFineTune(c: FineTuneCharge & { ref: string; costUsd: number }): Promise<void>
  /** USD spent since the first instant of `at`'s UTC month (default now), optionally for one operation. */
  monthToDateUsd(operation?: string, at?: Date): Promise<number>
  /** Totals in [from, to), grouped by model, operation and purpose, most expensive first. */
  summary(range: { from: Date; to: Date }): Promise<CostSummary>
}

const isTable = (p: unknown): p is PriceTable => typeof (p as PriceTable | undefined)?.costUsd === 'function'

export function startOfUtcMonth(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1))
}

export function createCostLedger(opts: CostLedgerOptions): CostLedger {
  const prices = isTable(opts.prices) ? opts.prices : createPriceTable(opts.prices ?? {})
  const now = opts.now ?? (() => new Date())
  const insert = (row: {
    operation: string
    model: string
    purpose: string | null
    prompt: number
    completion: number
    trained: number
    costUsd: number
    ref: string | null
  }) =>
    opts.db.query(
      `insert into cost_ledger (operation, model, purpose, prompt_tokens, completion_tokens, trained_tokens, cost_usd, ref)
       values ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [row.operation, row.model, row.purpose, row.prompt, row.completion, row.trained, row.costUsd, row.ref],
    )

  const ledger: CostLedger = {
    async record(u) {
      if (!prices.priceFor(u.model))
        opts.logger?.warn({ model: u.model }, 'no price for model; cost recorded as 0')
      await insert({
        operation: u.operation,
        model: u.model,
        purpose: u.purpose ?? null,
        prompt: u.promptTokens,
        completion: u.completionTokens,
        trained: 0,
        costUsd: prices.costUsd(u),
        ref: u.ref ?? null,
      })
    },
    async recordAttribution(a) {
      await insert({
        operation: a.operation,
        model: a.model,
        purpose: a.purpose ?? null,
        prompt: a.promptTokens,
        completion: 0,
        trained: 0,
        costUsd: 0,
        ref: a.ref ?? null,
      })
    },
    attributedUsd(model, promptTokens) {
      return prices.costUsd({ model, promptTokens, completionTokens: 0 })
    },
    async recordFineTune(c) {
      const per1k = prices.trainingPer1k(c.model) ?? opts.fallbackTrainingPer1k ?? 0.008
      const costUsd = roundUsd(c.costUsd ?? (c.trainedTokens / 1000) * per1k)
      // One row per fine-tuning job: a retried or duplicated record does not bill it twice.
      await opts.db.query(
        `insert into cost_ledger (operation, model, purpose, trained_tokens, cost_usd, ref)
         select $1, $2, $3, $4, $5, $6
          where $6::text is null
             or not exists (select 1 from cost_ledger where operation = $1 and ref = $6)`,
        [FINE_TUNE_OPERATION, c.model, c.purpose ?? 'tune', c.trainedTokens, costUsd, c.ref ?? null],
      )
    },
    async settleFineTune(c) {
      const r = await opts.db.query(
        `update cost_ledger set model = $2, trained_tokens = $3, cost_usd = $4
          where operation = $5 and ref = $1`,
        [c.ref, c.model, c.trainedTokens, roundUsd(c.costUsd), FINE_TUNE_OPERATION],
      )
      if (r.rowCount === 0) await ledger.recordFineTune(c)
    },
    async monthToDateUsd(operation, at) {
      const since = startOfUtcMonth(at ?? now())
      const { rows } = await opts.db.query<{ usd: string | null }>(
        `select coalesce(sum(cost_usd), 0)::text as usd from cost_ledger
         where created_at >= $1 and ($2::text is null or operation = $2)`,
        [since, operation ?? null],
      )
      return Number(rows[0]?.usd ?? 0)
    },
    async summary({ from, to }) {
      const { rows } = await opts.db.query<{
        model: string
        operation: string
        purpose: string | null
        calls: string
        prompt: string
        completion: string
        trained: string
        usd: string
      }>(
        `select model, operation, purpose, count(*)::text as calls,
                coalesce(sum(prompt_tokens), 0)::text as prompt,
                coalesce(sum(completion_tokens), 0)::text as completion,
                coalesce(sum(trained_tokens), 0)::text as trained,
                coalesce(sum(cost_usd), 0)::text as usd
           from cost_ledger
          where created_at >= $1 and created_at < $2
          group by model, operation, purpose
          order by sum(cost_usd) desc, model, operation, purpose`,
        [from, to],
      )
      const out = rows.map((r) => ({
        model: r.model,
        operation: r.operation,
        purpose: r.purpose,
        calls: Number(r.calls),
        promptTokens: Number(r.prompt),
        completionTokens: Number(r.completion),
        trainedTokens: Number(r.trained),
        costUsd: Number(r.usd),
      }))
      return {
        from: from.toISOString(),
        to: to.toISOString(),
        totalUsd: roundUsd(out.reduce((s, r) => s + r.costUsd, 0)),
        rows: out,
      }
    },
  }
  return ledger
}
