import { createQueue } from '@loopdm/queues/bullmq'
import { DM_QUEUE } from '@loopdm/queues/contracts'
import { createRedis, type Redis } from '@loopdm/redis/client'
import { testConfig } from '@loopdm/testing/fixtures'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDmJobsRepository } from '../src/repositories/dm-jobs.repository.js'
import { createDmOrderRepository, dmOrderKeys } from '../src/repositories/dm-order.repository.js'
import { igUser } from './support/test-gateway.js'

describe('dm order repository', () => {
  let redis: Redis
  let sut: ReturnType<typeof createDmOrderRepository>
  const prefix = testConfig().redis.prefix
  beforeAll(() => {
    redis = createRedis({ url: testConfig().redis.url, role: 'worker' })
    sut = createDmOrderRepository({ redis, prefix, lockTtlMs: 300, lockWaitMs: 2000 })
  })
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`)
    if (keys.length) await redis.del(...keys)
    redis.disconnect()
  })

  it('lists the earlier pending mids of a user in arrival order, once each', async () => {
    const u = igUser()
    await sut.noteArrival(u, ['a', 'b'])
    await sut.noteArrival(igUser(), ['x'])
    await sut.noteArrival(u, ['c', 'a'])
    expect(await sut.pendingBefore(u, 'c')).toEqual(['a', 'b'])
    expect(await sut.pendingBefore(u, 'a')).toEqual([])
    expect(await sut.pendingBefore(u, 'unknown')).toEqual([])
    await sut.done(u, ['a'])
    expect(await sut.pendingBefore(u, 'c')).toEqual(['b'])
    expect(await redis.pttl(dmOrderKeys(prefix, u).order)).toBeGreaterThan(0)
  })

  it("records several users' arrivals in one command, each user's in order, a known mid kept in place", async () => {
    const [u, v] = [igUser(), igUser()]
    await sut.noteArrival(u, ['a'])
    await sut.noteArrivals([
      [u, ['b', 'a', 'c']],
      [v, ['x', 'y']],
    ])
    await sut.noteArrivals([])
    expect(await sut.pendingBefore(u, 'c')).toEqual(['a', 'b'])
    expect(await sut.pendingBefore(v, 'y')).toEqual(['x'])
    expect(await redis.pttl(dmOrderKeys(prefix, v).order)).toBeGreaterThan(0)
  })

  it('is erased with the user (GDPR scrub of the dm queue)', async () => {
    const u = igUser()
    await sut.noteArrival(u, ['m1'])
    const queue = createQueue(DM_QUEUE, {
      config: { ...testConfig(), redis: { url: testConfig().redis.url, prefix } },
    })
    try {
      await createDmJobsRepository(queue).scrubUser(u)
      expect(await redis.exists(dmOrderKeys(prefix, u).order)).toBe(0)
    } finally {
      await queue.close()
    }
  })

  it('runs one holder of a user lock at a time and renews it past its TTL', async () => {
    const u = igUser()
    const events: string[] = []
    const hold = (name: string, ms: number) =>
      sut.withUserLock(u, async () => {
        events.push(`${name}+`)
        await new Promise((r) => setTimeout(r, ms))
        events.push(`${name}-`)
      })
    // 700 ms > the 300 ms TTL: without renewal the second holder would get in.
    await Promise.all([hold('one', 700), new Promise((r) => setTimeout(r, 20)).then(() => hold('two', 10))])
    expect(events).toEqual(['one+', 'one-', 'two+', 'two-'])
    expect(await redis.exists(dmOrderKeys(prefix, u).lock)).toBe(0)
  })
})
