import type { Pool } from '@loopdm/db/pool'
import { createPriceTable } from '@loopdm/models/prices'
import type { Config } from '@loopdm/platform/config'
import { createLearnerCostRepository } from '../repositories/learner-cost.repository.js'
import { table } from './report-sections.js'

const usd = (x: number) => `$${x.toFixed(x < 0.01 ? 6 : 2)}`

/**
 * "What the learner costs per reply": the month's reply spend, what the exemplar learner's
 * demonstrations add to each reply that carried them (their prompt tokens, priced at the serving
 * model), and the month's learning spend (fine-tuning jobs, exemplar-set embeddings) per reply.
 */
export async function learnerCostSection(
  pool: Pool,
  config: Config,
  from: Date,
  to: Date,
): Promise<string[]> {
  const d = await createLearnerCostRepository(pool).month(from, to)
  const prices = createPriceTable(config.openai.prices)
  const demoReplies = d.demonstrations.reduce((n, x) => n + x.replies, 0)
  const demoTokens = d.demonstrations.reduce((n, x) => n + x.promptTokens, 0)
  const demoUsd = d.demonstrations.reduce(
    (n, x) => n + prices.costUsd({ model: x.model, promptTokens: x.promptTokens, completionTokens: 0 }),
    0,
  )
  const per = (x: number, n: number) => (n > 0 ? x / n : 0)
  return [
    '## What the learner costs per reply',
    '',
    `Learning backend: **${config.learning.backend}**. Demonstration tokens are already part of each reply's chat cost; this splits them out.`,
    '',
    ...table(
      ['', 'replies', 'USD total', 'USD per reply'],
      [
        ['replies (chat)', d.replies, usd(d.replyUsd), usd(per(d.replyUsd, d.replies))],
        [
          `of which demonstrations (${demoReplies ? Math.round(demoTokens / demoReplies) : 0} prompt tokens per reply that carried them)`,
          demoReplies,
          usd(demoUsd),
          usd(per(demoUsd, demoReplies)),
        ],
        ['fine-tuning jobs this month', d.replies, usd(d.fineTuneUsd), usd(per(d.fineTuneUsd, d.replies))],
        [
          'exemplar-set builds (embeddings)',
          d.replies,
          usd(d.exemplarBuildUsd),
          usd(per(d.exemplarBuildUsd, d.replies)),
        ],
      ],
    ),
    '',
  ]
}
