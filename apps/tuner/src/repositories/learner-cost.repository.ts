import type { Pool } from '@loopdm/db/pool'

/** The month's ledger rows that say what learning costs: replies, demonstrations, training, set builds. */
export interface LearnerCostRows {
  replies: number
  replyUsd: number
  /** Attribution rows (operation `exemplars`): replies that carried demonstrations, per model. */
  demonstrations: Array<{ model: string; replies: number; promptTokens: number }>
  fineTuneUsd: number
  /** Embeddings of exemplar-set builds (purpose `exemplars`, operation `embeddings`). */
  exemplarBuildUsd: number
}

export function createLearnerCostRepository(db: Pool) {
  return {
    async month(from: Date, to: Date): Promise<LearnerCostRows> {
      const r = await db.query<{
        operation: string
        purpose: string | null
        model: string
        calls: number
        prompt: number
        usd: string
      }>(
        `select operation, purpose, model, count(*)::int as calls, coalesce(sum(prompt_tokens), 0)::int as prompt,
                coalesce(sum(cost_usd), 0)::text as usd
           from cost_ledger
          where created_at >= $1 and created_at < $2
            and (operation in ('exemplars', 'fine_tune') or purpose in ('reply', 'exemplars'))
          group by operation, purpose, model`,
        [from, to],
      )
      const out: LearnerCostRows = {
        replies: 0,
        replyUsd: 0,
        demonstrations: [],
        fineTuneUsd: 0,
        exemplarBuildUsd: 0,
      }
      for (const x of r.rows) {
        if (x.operation === 'chat' && x.purpose === 'reply') {
          out.replies += x.calls
          out.replyUsd += Number(x.usd)
        } else if (x.operation === 'exemplars')
          out.demonstrations.push({ model: x.model, replies: x.calls, promptTokens: x.prompt })
        else if (x.operation === 'fine_tune') out.fineTuneUsd += Number(x.usd)
        else if (x.operation === 'embeddings' && x.purpose === 'exemplars')
          out.exemplarBuildUsd += Number(x.usd)
      }
      return out
    },
  }
}
