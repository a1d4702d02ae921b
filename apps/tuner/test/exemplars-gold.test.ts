import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { createGoldRepository } from '@loopdm/models/gold-items'
import { testPool, uniqueId } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { manifestPath } from '@loopdm/training-data/export-layout'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ExemplarTuneResult, exemplarsLearner } from '../src/learners/exemplars.learner.js'
import { dropQueue, makeDeps, tmpExportDir, tunerTestConfig } from './helpers.js'

/** Gold items are held out: the exemplar learner never turns a gold item's customer turn into a demonstration. */
describe('exemplar learner and the gold set', () => {
  let db: Pool
  let openai: OpenAILocal
  let dir: string
  const tag = uniqueId('eg')
  const question = (i: number) => `Do you have the moss green beanie ${i} in stock? (${tag})`
  let goldIds: number[] = []
  let result: ExemplarTuneResult | undefined

  beforeAll(async () => {
    db = await testPool()
    openai = await startOpenAILocal({ port: 0 })
    dir = tmpExportDir()
  })
  afterAll(async () => {
    await db.query('delete from gold_items where id = any($1)', [goldIds])
    if (result?.policy) await db.query('delete from models where id = $1', [result.policy.id])
    if (result?.set) await db.query('delete from exemplar_sets where id = $1', [result.set.id])
    await openai?.close()
    await db?.end()
    rmSync(dir, { recursive: true, force: true })
  })

  it('skips every example whose customer turn is a gold item, and says how many', async () => {
    const lines = Array.from({ length: 12 }, (_, i) =>
      JSON.stringify({
        messages: [
          { role: 'system', content: 'You are the shop assistant.' },
          { role: 'user', content: question(i) },
          { role: 'assistant', content: `Yes, beanie ${i} is in stock.` },
        ],
      }),
    )
    const file = join(dir, `fine_tune_${tag}.jsonl`)
    writeFileSync(file, `${lines.join('\n')}\n`)
    writeFileSync(manifestPath(file), `${lines.map((_, i) => `user-key-${i}\t${i}`).join('\n')}\n`)
    const gold = createGoldRepository(db)
    // One typed exactly, one with other spacing and case: both are the same question.
    const a = await gold.add({ customerText: question(3), idealAnswer: 'Yes, in stock.', createdBy: 'test' })
    const b = await gold.add({
      customerText: `  ${question(7).toUpperCase()}  `,
      idealAnswer: 'Yes, in stock.',
      createdBy: 'test',
    })
    goldIds = [a.id, b.id]

    const config = tunerTestConfig(openai.baseURL, dir, { LEARNING_BACKEND: 'exemplars' })
    const deps = makeDeps(config, db)
    try {
      result = (await exemplarsLearner.tune({ file }, deps)) as ExemplarTuneResult
    } finally {
      await dropQueue(deps.evaluateQueue)
      await deps.close()
    }
    expect(result.outcome).toBe('built')
    expect(result.heldOutGold).toBe(2)
    expect(result.examples).toBe(10)
    const stored = await db.query<{ prompt: string }>('select prompt from exemplars where set_id = $1', [
      result.set?.id,
    ])
    const prompts = stored.rows.map((r) => r.prompt)
    expect(prompts).toHaveLength(10)
    expect(prompts).not.toContain(question(3))
    expect(prompts).not.toContain(question(7))
    expect(prompts).toContain(question(4))
  }, 60_000)
})
