import type { Pool } from '@loopdm/db/pool'
import { createRedis, type Redis } from '@loopdm/redis/client'
import { LeaseLostError, withRedisLock } from '@loopdm/redis/lock'
import { type PrivateRedis, startPrivateRedis } from '@loopdm/redis/private-redis'
import { type FakeGraph, startFakeGraph } from '@loopdm/testing/fake-graph'
import { testPool, uniqueId } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { waitFor } from '@loopdm/testing/wait'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { processDmMessage } from '../src/jobs/dm.processor.js'
import { createOutboxRepository } from '../src/repositories/outbox.repository.js'
import { buildTestGateway, igUser, type TestGateway } from './support/test-gateway.js'

/**
 * Issue 17, "the per-user lock can expire unnoticed": a Redis stall longer than the lease
 * (`CLIENT PAUSE … WRITE` on a private redis-server) while one worker is inside the completion,
 * and a second worker that then takes the lock. The first notices (renewals are checked), stops
 * before writing or sending; outbox parts are claimed with the lease's fencing token; a second
 * completion for a mid that has parts is refused.
 */

describe('per-user lease', () => {
  let redisServer: PrivateRedis
  let redis: Redis
  beforeAll(async () => {
    redisServer = await startPrivateRedis()
    redis = createRedis({ url: redisServer.url, role: 'worker' })
  })
  afterAll(async () => {
    await redis?.quit()
    await redisServer?.stop()
  })

  describe('when another holder takes the key', () => {
    it('aborts the lease signal and assertHeld throws LeaseLostError', async () => {
      const key = uniqueId('lock')
      const seen = await withRedisLock(
        redis,
        key,
        async (lease) => {
          await redis.set(key, 'someone-else')
          await waitFor(() => lease.signal.aborted, { what: 'lease loss noticed', timeoutMs: 10_000 })
          return (() => {
            try {
              lease.assertHeld()
              return null
            } catch (err) {
              return err
            }
          })()
        },
        { ttlMs: 300 },
      )
      expect(seen).toBeInstanceOf(LeaseLostError)
      // The other holder's key is not released by the one that lost it.
      expect(await redis.get(key)).toBe('someone-else')
    })

    it('gives every acquisition a larger fencing token', async () => {
      const key = uniqueId('lock')
      const a = await withRedisLock(redis, key, async (l) => l.fence)
      const b = await withRedisLock(redis, key, async (l) => l.fence)
      expect(b).toBeGreaterThan(a)
    })
  })

  describe('when Redis stalls for longer than the lease while a worker is inside the completion', () => {
    let openai: OpenAILocal
    let graph: FakeGraph
    let a: TestGateway
    let b: TestGateway
    beforeAll(async () => {
      openai = await startOpenAILocal({ port: 0, ftStepMs: 20 })
      graph = await startFakeGraph()
      const env = { REDIS_URL: redisServer.url, DM_LOCK_TTL_MS: '600' }
      // Two replicas, no workers: the test runs the same mid's job on both, as two workers would.
      a = await buildTestGateway({ env, openai, graph, worker: false })
      b = await buildTestGateway({
        env: { ...env, QUEUE_PREFIX: a.config.redis.prefix },
        openai,
        graph,
        worker: false,
      })
    })
    afterAll(async () => {
      await a?.close()
      await b?.close()
      await graph?.close()
      await openai?.close()
    })

    it('answers the customer once: the first worker stops, the second sends', async () => {
      const user = igUser()
      const { mid } = await a.dm({ user, text: 'where is my order?' })
      const payload = (await a.gateway.dmDeps.loadPayload(mid))?.payload
      expect(payload).toBeDefined()
      if (!payload) return
      openai.faults.setLatency(2500)
      const first = processDmMessage(payload, a.gateway.dmDeps).catch((e: unknown) => e)
      // The user turn is stored right before the completion: worker A now holds the lease.
      await waitFor(
        async () =>
          (await a.pool.query('select 1 from conversation_messages where ig_message_id = $1', [mid]))
            .rowCount === 1,
        { what: 'worker A inside the completion' },
      )
      await redis.call('CLIENT', 'PAUSE', '1500', 'WRITE')
      // (B's completion is slow as well: its lease is renewed throughout, unlike A's during the stall.)
      const second = processDmMessage(payload, b.gateway.dmDeps, { lockWaitMs: 30_000 })
      const [ra, rb] = await Promise.all([first, second])
      expect(ra).toBeInstanceOf(LeaseLostError)
      expect(rb).toBe('answered')
      openai.faults.setLatency(0)
      const rows = await a.outbox.findByMid(mid)
      expect(rows.every((r) => r.status === 'sent')).toBe(true)
      expect(graph.sendsTo(user).map((s) => s.text)).toEqual(rows.map((r) => r.text))
      const turns = await a.pool.query(
        `select count(*)::int as n from conversation_messages where ig_user_id = $1 and role = 'assistant'`,
        [user],
      )
      expect(turns.rows[0].n).toBe(1)
      // Re-running the job (a retry of either worker) sends nothing more.
      expect(await processDmMessage(payload, a.gateway.dmDeps)).toBe('already-answered')
      expect(graph.sendsTo(user)).toHaveLength(rows.length)
    })
  })
})

describe('outbox claims', () => {
  let pool: Pool
  let sut: ReturnType<typeof createOutboxRepository>
  beforeAll(async () => {
    pool = await testPool(2)
    sut = createOutboxRepository(pool)
  })
  afterAll(async () => {
    await pool?.end()
  })
  const base = () => ({
    mid: uniqueId('m'),
    igUserId: uniqueId('u'),
    igAccountId: 'acct',
    model: 'gpt-4.1-mini',
  })

  describe('when a second completion for the same mid is stored', () => {
    it('is refused: the first reply is kept whole, never stitched', async () => {
      const args = base()
      await sut.insertParts({ ...args, parts: ['one', 'two'] })
      const again = await sut.insertParts({ ...args, parts: ['other one', 'other two', 'other three'] })
      expect(again.map((r) => r.text)).toEqual(['one', 'two'])
    })

    it('lets exactly one of two concurrent writers win', async () => {
      const args = base()
      const [x, y] = await Promise.all([
        sut.insertParts({ ...args, parts: ['x1'] }),
        sut.insertParts({ ...args, parts: ['y1', 'y2', 'y3'] }),
      ])
      expect(x.map((r) => r.text)).toEqual(y.map((r) => r.text))
      expect([1, 3]).toContain(x.length)
    })
  })

  describe('when a stale holder (smaller fence) claims a part', () => {
    it('refuses the claim and its delivery mark', async () => {
      const [row] = await sut.insertParts({ ...base(), parts: ['hi'] })
      if (!row) throw new Error('no row')
      expect(await sut.claim(row.id, 7)).toBe(true)
      await sut.releaseClaim(row.id, 7)
      expect(await sut.claim(row.id, 6)).toBe(false)
      expect(await sut.claim(row.id, 8)).toBe(true)
      await sut.markDelivered(row.id, 'sent', 'x', undefined, 7)
      expect((await sut.findByMid(row.mid))[0]?.status).toBe('sending')
      await sut.markDelivered(row.id, 'sent', 'x', undefined, 8)
      const [done] = await sut.findByMid(row.mid)
      expect(done?.status).toBe('sent')
      expect(done?.claimFence).toBe(8)
      expect(done?.sendingAt).toBeInstanceOf(Date)
    })
  })
})
