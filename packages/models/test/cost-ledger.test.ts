import type { Pool } from '@loopdm/db/pool'
import { createCostLedger, startOfUtcMonth } from '@loopdm/models/cost-ledger'
import { createPriceTable, DEFAULT_PRICES } from '@loopdm/models/prices'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

describe('createPriceTable', () => {
  const sut = createPriceTable()
  it('prices exact ids, dated snapshots by family, and ft: models by their base family', () => {
    expect(sut.priceFor('gpt-4o-mini')).toEqual(DEFAULT_PRICES['gpt-4o-mini'])
    expect(sut.priceFor('gpt-4o-mini-2024-07-18')).toEqual(DEFAULT_PRICES['gpt-4o-mini'])
    expect(sut.priceFor('gpt-4o-2024-08-06')).toEqual(DEFAULT_PRICES['gpt-4o'])
    expect(sut.priceFor('ft:gpt-3.5-turbo-0125:loopdm::abc123')).toEqual(DEFAULT_PRICES['ft:gpt-3.5-turbo'])
    expect(sut.priceFor('ft:gpt-4o-mini-2024-07-18:loopdm:shop:x1')).toEqual(DEFAULT_PRICES['ft:gpt-4o-mini'])
    expect(sut.priceFor('text-embedding-3-small')).toEqual(DEFAULT_PRICES['text-embedding-3-small'])
    expect(sut.priceFor('llama-unknown')).toBeUndefined()
  })
  it('computes USD from tokens (per 1K) and lets config override a price', () => {
    expect(sut.costUsd({ model: 'gpt-4o-mini', promptTokens: 1000, completionTokens: 2000 })).toBeCloseTo(
      0.00015 + 0.0012,
      9,
    )
    const config = testConfig({ OPENAI_PRICES: '{"gpt-4o-mini":{"input":1,"output":2}}' })
    const custom = createPriceTable(config.openai.prices)
    expect(
      custom.costUsd({ model: 'gpt-4o-mini-2024-07-18', promptTokens: 500, completionTokens: 500 }),
    ).toBeCloseTo(1.5, 9)
    expect(custom.priceFor('gpt-4o')).toEqual(DEFAULT_PRICES['gpt-4o'])
  })
})

describe('createCostLedger', () => {
  let pool: Pool
  const models: string[] = []
  beforeAll(async () => {
    pool = await testPool(2)
  })
  afterAll(async () => {
    await pool.query('delete from cost_ledger where model = any($1)', [models])
    await pool.end()
  })
  const model = (base: string) => {
    const m = `${base}-${uniqueId('ledger')}`
    models.push(m)
    return m
  }

  it('records calls and fine-tunes, and sums the month to date per operation', async () => {
    const sut = createCostLedger({ db: pool })
    const beforeAll = await sut.monthToDateUsd()
    const beforeTune = await sut.monthToDateUsd('fine_tune')
    const chatModel = model('gpt-4o')
    await sut.record({
      operation: 'chat',
      model: chatModel,
      promptTokens: 1000,
      completionTokens: 1000,
      purpose: 'reply',
    })
    const tuned = model('gpt-3.5-turbo-0125')
    const ref = `ftjob-${uniqueId()}`
    await sut.recordFineTune({ model: tuned, trainedTokens: 50_000, costUsd: 0.4, ref })
    await sut.recordFineTune({ model: tuned, trainedTokens: 50_000, costUsd: 0.4, ref })
    const estimated = model('gpt-4o-mini')
    await sut.recordFineTune({ model: estimated, trainedTokens: 10_000 })
    expect(await sut.monthToDateUsd('fine_tune')).toBeCloseTo(beforeTune + 0.4 + 0.03, 6)
    expect(await sut.monthToDateUsd()).toBeCloseTo(beforeAll + 0.0125 + 0.4 + 0.03, 6)
    const { rows } = await pool.query(
      'select trained_tokens, ref, purpose from cost_ledger where model = $1',
      [tuned],
    )
    expect(rows).toEqual([{ trained_tokens: 50_000, ref, purpose: 'tune' }])
  })

  it('settles a fine-tune estimate to the billed cost, once per job, and records one it never saw', async () => {
    const sut = createCostLedger({ db: pool })
    const base = model('gpt-4o-mini-2024-07-18')
    const ref = `ftjob-${uniqueId()}`
    await sut.recordFineTune({ model: base, trainedTokens: 20_000, costUsd: 0.06, ref })
    await sut.settleFineTune({ model: base, trainedTokens: 18_000, costUsd: 0.054, ref })
    await sut.settleFineTune({ model: base, trainedTokens: 18_000, costUsd: 0.054, ref })
    const unseen = `ftjob-${uniqueId()}`
    await sut.settleFineTune({ model: base, trainedTokens: 0, costUsd: 0, ref: unseen })
    const { rows } = await pool.query(
      'select ref, trained_tokens, cost_usd::float8 as usd from cost_ledger where model = $1 order by id',
      [base],
    )
    expect(rows).toEqual([
      { ref, trained_tokens: 18_000, usd: 0.054 },
      { ref: unseen, trained_tokens: 0, usd: 0 },
    ])
    // The month is `at`'s: one that has not begun yet holds nothing.
    expect(await sut.monthToDateUsd('fine_tune', new Date(Date.now() + 62 * 24 * 3600_000))).toBe(0)
    expect(await sut.monthToDateUsd('fine_tune', new Date())).toBeGreaterThanOrEqual(0.054)
  })

  it('summarises a range grouped by model, operation and purpose', async () => {
    const sut = createCostLedger({ db: pool })
    const from = new Date(Date.now() - 60_000)
    const m = model('gpt-4o-mini')
    await sut.record({ operation: 'chat', model: m, promptTokens: 100, completionTokens: 10 })
    await sut.record({ operation: 'chat', model: m, promptTokens: 200, completionTokens: 20 })
    await sut.record({ operation: 'embeddings', model: m, promptTokens: 50, completionTokens: 0 })
    await sut.record({
      operation: 'embeddings',
      model: m,
      promptTokens: 7,
      completionTokens: 0,
      purpose: 'memory',
    })
    const summary = await sut.summary({ from, to: new Date(Date.now() + 60_000) })
    const mine = summary.rows.filter((r) => r.model === m)
    expect(mine).toHaveLength(3)
    expect(mine.find((r) => r.purpose === 'memory')).toMatchObject({
      operation: 'embeddings',
      calls: 1,
      promptTokens: 7,
    })
    expect(mine.find((r) => r.operation === 'chat')).toMatchObject({
      calls: 2,
      promptTokens: 300,
      completionTokens: 30,
    })
    expect(mine.find((r) => r.operation === 'embeddings' && r.purpose === null)).toMatchObject({
      calls: 1,
      promptTokens: 50,
    })
    expect(summary.totalUsd).toBeGreaterThan(0)
    const empty = await sut.summary({ from: new Date('2000-01-01'), to: new Date('2000-02-01') })
    expect(empty).toMatchObject({ totalUsd: 0, rows: [] })
  })

  it('starts the month at 00:00 UTC on the 1st', () => {
    expect(startOfUtcMonth(new Date('2026-03-17T12:00:00Z')).toISOString()).toBe('2026-03-01T00:00:00.000Z')
  })
})
