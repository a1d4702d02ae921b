import type { Pool, Queryable } from '@loopdm/shared/db'

/** Read side of `cost_ledger` (migration 0002) for GET /admin/costs. */
export interface CostGroup {
  operation: string
  model: string
  purpose: string | null
  calls: number
  promptTokens: number
  completionTokens: number
  trainedTokens: number
  costUsd: number
}

export interface CostSummary {
  since: string
  until: string
  totalUsd: number
  groups: CostGroup[]
}

export function createCostsRepository(db: Pool) {
  return {
    async summary(args: { since: Date; until: Date }, q: Queryable = db): Promise<CostSummary> {
      const r = await q.query<CostGroup>(
        `select operation, model, purpose, count(*)::int as calls,
                coalesce(sum(prompt_tokens), 0)::int8 as "promptTokens",
                coalesce(sum(completion_tokens), 0)::int8 as "completionTokens",
                coalesce(sum(trained_tokens), 0)::int8 as "trainedTokens",
                coalesce(sum(cost_usd), 0)::float8 as "costUsd"
           from cost_ledger where created_at >= $1 and created_at < $2
          group by operation, model, purpose order by "costUsd" desc, operation, model`,
        [args.since, args.until],
      )
      const totalUsd = r.rows.reduce((s, g) => s + g.costUsd, 0)
      return {
        since: args.since.toISOString(),
        until: args.until.toISOString(),
        totalUsd: Math.round(totalUsd * 1e6) / 1e6,
        groups: r.rows,
      }
    },
  }
}

export type CostsRepository = ReturnType<typeof createCostsRepository>
