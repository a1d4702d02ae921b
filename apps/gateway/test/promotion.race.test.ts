import { createRegistryRepository } from '@loopdm/models/registry'
import { snapshotRegistry } from '@loopdm/testing/registry-fixture'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestGateway, TEST_ADMIN_TOKEN, type TestGateway } from './support/test-gateway.js'

/**
 * Promotion is a compare-and-swap on the active version (issue 17): two promotions at the same
 * moment answer one 200 and one 409 with the current state — never a 500, never both.
 */
describe('promotion races', () => {
  let sut: TestGateway
  let snapshot: Awaited<ReturnType<typeof snapshotRegistry>>
  const created: string[] = []
  beforeAll(async () => {
    sut = await buildTestGateway({ worker: false })
    snapshot = await snapshotRegistry(sut.pool)
    const existing = await sut.pool.query<{ model: string }>(
      `select model from models where model = any($1)`,
      [['gpt-4.1-nano', 'gpt-4.1']],
    )
    for (const m of ['gpt-4.1-nano', 'gpt-4.1'])
      if (!existing.rows.some((r) => r.model === m)) created.push(m)
  })
  afterAll(async () => {
    sut?.openai.faults.reset()
    await snapshot?.restore(created)
    await sut?.close()
  })

  const promote = (model: string) =>
    sut.gateway.app.inject({
      method: 'POST',
      url: `/admin/models/${encodeURIComponent(model)}/promote`,
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      payload: { reason: 'race test' },
    })

  describe('when two promotions start at the same moment', () => {
    it('answers one 200 and one 409 naming the policy that won', async () => {
      const registry = createRegistryRepository(sut.pool)
      const maxBefore = Number(
        (await sut.pool.query('select coalesce(max(id), 0)::int8 as id from model_promotions')).rows[0].id,
      )
      // Each probe takes 300 ms: both promotions read the same active version before either commits.
      sut.openai.faults.setLatency(300)
      const [a, b] = await Promise.all([promote('gpt-4.1-nano'), promote('gpt-4.1')])
      sut.openai.faults.reset()
      expect([a.statusCode, b.statusCode].sort()).toEqual([200, 409])
      const [won, lost] = a.statusCode === 200 ? [a, b] : [b, a]
      const winner = won.json().model as string
      expect(lost.json()).toMatchObject({
        error: expect.stringMatching(/nothing was changed/),
        current: { model: winner, version: won.json().version },
      })
      const active = await registry.findActive()
      expect(active?.model).toBe(winner)
      const log = await sut.pool.query('select to_model from model_promotions where id > $1', [maxBefore])
      expect(log.rows.map((r) => r.to_model)).toEqual([winner])
    })
  })

  describe('when a promotion expects a version that is no longer active', () => {
    it('the registry refuses it (compare-and-swap), changing nothing', async () => {
      const registry = createRegistryRepository(sut.pool)
      const now = await registry.findActive()
      const stale = { model: now?.model ?? null, version: (now?.version ?? 0) - 1 }
      const target = now?.model === 'gpt-4.1' ? 'gpt-4.1-nano' : 'gpt-4.1'
      await expect(
        registry.promote({ model: target, actor: 'test', reason: 'stale', expected: stale }),
      ).rejects.toMatchObject({ name: 'PromotionConflictError', statusCode: 409 })
      expect((await registry.findActive())?.model).toBe(now?.model)
    })
  })
})
