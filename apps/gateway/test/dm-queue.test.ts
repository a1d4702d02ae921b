import { createQueue } from '@loopdm/queues/bullmq'
import { DM_QUEUE, type DmMessagePayload, dmJobId } from '@loopdm/queues/contracts'
import { createRedis, type Redis, waitForReady } from '@loopdm/redis/client'
import { testConfig } from '@loopdm/testing/fixtures'
import type { Queue } from 'bullmq'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDmOrderRepository } from '../src/repositories/dm-order.repository.js'
import { createDmQueueRepository } from '../src/repositories/dm-queue.repository.js'
import { igUser } from './support/test-gateway.js'

describe('dm queue repository (the webhook enqueue)', () => {
  let redis: Redis
  let queue: Queue
  const prefix = `${testConfig().redis.prefix}-dmq`
  let order: ReturnType<typeof createDmOrderRepository>
  let sut: ReturnType<typeof createDmQueueRepository>
  beforeAll(async () => {
    // The gateway's producer: fail-fast and auto-pipelined.
    redis = createRedis({ url: testConfig().redis.url, role: 'producer', autoPipelining: true })
    await waitForReady(redis, { timeoutMs: 10_000, what: 'the test producer' })
    queue = createQueue(DM_QUEUE, {
      config: { ...testConfig(), redis: { url: testConfig().redis.url, prefix } },
      connection: redis,
    })
    order = createDmOrderRepository({ redis, prefix })
    sut = createDmQueueRepository({ queue, order })
  })
  afterAll(async () => {
    await queue.close()
    const keys = await redis.keys(`${prefix}:*`)
    if (keys.length) await redis.del(...keys)
    redis.disconnect()
  })

  const message = (igUserId: string, mid: string): DmMessagePayload => ({
    mid,
    igUserId,
    igAccountId: '17841400000000000',
    text: `text of ${mid}`,
    attachments: [],
    timestamp: 1_700_000_000_000,
    receivedAt: 1_700_000_000_000,
  })
  const delivery = (...messages: DmMessagePayload[]) => ({ messages, reactions: [] })

  it("writes concurrent deliveries together: every job, each user's arrivals in call order", async () => {
    const [u, v] = [igUser(), igUser()]
    const mid = (n: string) => `mid.${u}.${n}`
    await Promise.all([
      sut.enqueue(delivery(message(u, mid('1')))),
      sut.enqueue(delivery(message(v, mid('v1')), message(u, mid('2')))),
      sut.enqueue(delivery(message(u, mid('3')))),
    ])
    for (const m of ['1', '2', '3', 'v1'])
      expect((await queue.getJob(dmJobId(mid(m))))?.data).toEqual(message(m === 'v1' ? v : u, mid(m)))
    expect(await order.pendingBefore(u, mid('3'))).toEqual([mid('1'), mid('2')])
    expect(await order.pendingBefore(v, mid('v1'))).toEqual([])
  })

  it('keeps a re-delivered mid a no-op, in the same turn or a later one', async () => {
    const u = igUser()
    const first = message(u, `mid.${u}.a`)
    const again = { ...first, text: 'changed on re-delivery' }
    await Promise.all([sut.enqueue(delivery(first)), sut.enqueue(delivery(again))])
    await sut.enqueue(delivery(again))
    expect((await queue.getJob(dmJobId(first.mid)))?.data.text).toBe(first.text)
    expect(await queue.getJobCountByTypes('waiting')).toBeGreaterThan(0)
  })

  it('resolves at once for a delivery with nothing to enqueue', async () => {
    await expect(sut.enqueue(delivery())).resolves.toBeUndefined()
  })
})
