import type { Pool } from '@loopdm/db/pool'
import { type CostSummaryRow, createCostLedger } from '@loopdm/models/cost-ledger'

/** Read side of `cost_ledger` (migration 0002) for GET /admin/costs, over the shared ledger's summary. */
export type CostGroup = CostSummaryRow

export interface CostSummary {
  since: string
  until: string
  totalUsd: number
  groups: CostGroup[]
}

export function createCostsRepository(db: Pool) {
  const ledger = createCostLedger({ db })
  return {
    async summary(args: { since: Date; until: Date }): Promise<CostSummary> {
      const s = await ledger.summary({ from: args.since, to: args.until })
      return { since: s.from, until: s.to, totalUsd: s.totalUsd, groups: s.rows }
    },
  }
}

export type CostsRepository = ReturnType<typeof createCostsRepository>
