import type { Pool } from '@loopdm/db/pool'
import { realPostgresDatabase } from '@loopdm/testing/real-postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRegistryRepository } from '../src/registry.js'

/**
 * registry.promote on the machine's real PostgreSQL 15, where transactions really overlap (the
 * embedded engine serializes them): concurrent promotions used to die on the one-active index
 * (a 500). Now they queue on the promotion lock and compare-and-swap on the expected version.
 */
describe('registry.promote on a real Postgres', () => {
  let db: Awaited<ReturnType<typeof realPostgresDatabase>>
  let pool: Pool
  beforeAll(async () => {
    db = await realPostgresDatabase()
    pool = db.pool
    for (const m of ['m-a', 'm-b', 'm-c', 'm-d', 'm-e', 'm-f'])
      await pool.query(`insert into models (model, kind, status) values ($1, 'base', 'inactive')`, [m])
  })
  afterAll(async () => {
    await db?.drop()
  })

  describe('when two promotions expecting the same active version commit at once', () => {
    it('one wins and the other gets PromotionConflictError with the current state', async () => {
      const registry = createRegistryRepository(pool)
      const expected = { model: null, version: 0 }
      const results = await Promise.allSettled([
        registry.promote({ model: 'm-a', actor: 't', reason: 'race', expected }),
        registry.promote({ model: 'm-b', actor: 't', reason: 'race', expected }),
      ])
      const ok = results.filter((r) => r.status === 'fulfilled')
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      expect(ok).toHaveLength(1)
      expect(lost).toHaveLength(1)
      const active = await registry.findActive()
      expect(lost[0]?.reason).toMatchObject({
        name: 'PromotionConflictError',
        statusCode: 409,
        current: { model: active?.model, version: active?.version },
      })
    })
  })

  describe('when many promotions without an expectation race', () => {
    it('each either commits or conflicts (never a unique violation), and one model is active', async () => {
      const registry = createRegistryRepository(pool)
      const results = await Promise.allSettled(
        ['m-c', 'm-d', 'm-e', 'm-f'].map((model) => registry.promote({ model, actor: 't', reason: 'storm' })),
      )
      for (const r of results)
        if (r.status === 'rejected') expect(r.reason).toMatchObject({ statusCode: 409 })
      const n = await pool.query(`select count(*)::int as n from models where status = 'active'`)
      expect(n.rows[0].n).toBe(1)
    })
  })
})
