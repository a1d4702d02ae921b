import { createPriceTable } from '@loopdm/models/prices'
import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fmtUsd } from '../../src/console/html.js'
import { buildTestGateway, TEST_ADMIN_TOKEN, type TestGateway } from '../support/test-gateway.js'

/** The Costs page's spend by learner: exemplar demonstrations priced, set builds, fine-tuning, per month. */
describe('console: spend by learner', () => {
  let sut: TestGateway
  let cookie = ''
  const inject = (o: InjectOptions) => sut.gateway.app.inject(o)
  const ref = `costs-test-${Date.now()}`

  beforeAll(async () => {
    sut = await buildTestGateway({ worker: false })
    const res = await inject({
      method: 'POST',
      url: '/console/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ token: TEST_ADMIN_TOKEN }).toString(),
    })
    cookie = String(res.headers['set-cookie']).split(';')[0] as string
  })
  afterAll(async () => {
    await sut.pool.query('delete from cost_ledger where ref = $1', [ref])
    await sut?.close()
  })

  it('splits out what each learner cost last month', async () => {
    // A month no other suite writes to: the first of last month.
    const now = new Date()
    const at = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1, 12))
    const month = at.toISOString().slice(0, 7)
    const before = await inject({ url: '/console/costs', headers: { cookie } })
    const row = (body: string) => new RegExp(`<th scope="row">${month}</th><td>(\\d+)</td>`).exec(body)
    const repliesBefore = Number(row(before.body)?.[1] ?? 0)
    const insert = (operation: string, purpose: string | null, model: string, prompt: number, usd: number) =>
      sut.pool.query(
        `insert into cost_ledger (operation, model, purpose, prompt_tokens, cost_usd, ref, created_at)
         values ($1, $2, $3, $4, $5, $6, $7)`,
        [operation, model, purpose, prompt, usd, ref, at],
      )
    for (let i = 0; i < 4; i++) await insert('chat', 'reply', 'gpt-4.1-mini', 2_000, 0.001)
    // Demonstrations of 2 of those replies: 1M prompt tokens each (attribution rows: cost 0).
    for (let i = 0; i < 2; i++) await insert('exemplars', 'reply', 'gpt-4.1-mini', 1_000_000, 0)
    await insert('embeddings', 'exemplars', 'text-embedding-3-small', 10_000, 0.25)
    await insert('fine_tune', 'tune', 'gpt-4.1-mini-2025-04-14', 0, 3)

    const res = await inject({ url: '/console/costs', headers: { cookie } })
    expect(res.statusCode).toBe(200)
    const table = /<table data-testid="spend-by-learner">[\s\S]*?<\/table>/.exec(res.body)?.[0] ?? ''
    const line = new RegExp(`<tr><th scope="row">${month}</th>[\\s\\S]*?</tr>`).exec(table)?.[0] ?? ''
    expect(Number(row(table)?.[1])).toBe(repliesBefore + 4)
    // The demonstrations' 2M prompt tokens, priced at the serving model by the price table.
    const demos = createPriceTable(sut.config.openai.prices).costUsd({
      model: 'gpt-4.1-mini',
      promptTokens: 2_000_000,
      completionTokens: 0,
    })
    expect(demos).toBeGreaterThan(0)
    expect(line).toContain(`${fmtUsd(demos)} <span class="muted">(2 replies, ${fmtUsd(demos / 2)} each)`)
    expect(line).toContain('$0.25')
    expect(line).toContain('$3.00')
  })
})
