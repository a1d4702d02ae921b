import type { Pool } from '@loopdm/db/pool'
import { testConfig, testPool } from '@loopdm/testing/fixtures'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { learnerCostSection } from '../src/services/report-learner.js'

/** The monthly report's "what the learner costs per reply", from cost-ledger rows of one month. */
describe('learnerCostSection', () => {
  let db: Pool
  const from = new Date(Date.UTC(2019, 2, 1))
  const to = new Date(Date.UTC(2019, 3, 1))
  beforeAll(async () => {
    db = await testPool(2)
    await db.query('delete from cost_ledger where created_at >= $1 and created_at < $2', [from, to])
    const at = new Date(Date.UTC(2019, 2, 15))
    // 4 replies at $0.001 each; 2 of them carried 500 demonstration tokens on gpt-4.1-mini.
    for (let i = 0; i < 4; i++)
      await db.query(
        `insert into cost_ledger (operation, model, purpose, prompt_tokens, completion_tokens, cost_usd, created_at)
         values ('chat', 'gpt-4.1-mini', 'reply', 900, 60, 0.001, $1)`,
        [at],
      )
    for (let i = 0; i < 2; i++)
      await db.query(
        `insert into cost_ledger (operation, model, purpose, prompt_tokens, cost_usd, created_at)
         values ('exemplars', 'gpt-4.1-mini', 'reply', 500, 0, $1)`,
        [at],
      )
    await db.query(
      `insert into cost_ledger (operation, model, purpose, prompt_tokens, cost_usd, created_at)
       values ('embeddings', 'text-embedding-3-small', 'exemplars', 10000, 0.0002, $1)`,
      [at],
    )
  })
  afterAll(async () => {
    await db.query('delete from cost_ledger where created_at >= $1 and created_at < $2', [from, to])
    await db.end()
  })

  it('shows reply cost, the demonstrations’ share per reply that carried them, and learning spend per reply', async () => {
    const config = testConfig({ OPENAI_PRICES: '{"gpt-4.1-mini":{"input":0.0004,"output":0.0016}}' })
    const md = (await learnerCostSection(db, config, from, to)).join('\n')
    expect(md).toContain('## What the learner costs per reply')
    expect(md).toContain('Learning backend: **exemplars**')
    expect(md).toMatch(/replies \(chat\)\s*\|\s*4\s*\|\s*\$0\.004000\s*\|\s*\$0\.001000/)
    // 500 tokens × $0.0004/1K = $0.0002 per reply that carried demonstrations.
    expect(md).toMatch(
      /of which demonstrations \(500 prompt tokens per reply that carried them\)\s*\|\s*2\s*\|\s*\$0\.000400\s*\|\s*\$0\.000200/,
    )
    expect(md).toMatch(/exemplar-set builds \(embeddings\)\s*\|\s*4\s*\|\s*\$0\.000200\s*\|\s*\$0\.000050/)
  })
})
