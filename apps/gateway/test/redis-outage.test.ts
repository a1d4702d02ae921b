import { encodeActiveModelMessage } from '@loopdm/models/hotswap'
import { createRedis } from '@loopdm/redis/client'
import { waitFor } from '@loopdm/testing/wait'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestRedis, type TestRedis } from './support/redis-server.js'
import { buildTestGateway, dmWebhookBody, igUser, type TestGateway } from './support/test-gateway.js'

describe('webhook when Redis goes away', () => {
  let redis: TestRedis
  let sut: TestGateway
  beforeAll(async () => {
    redis = await startTestRedis()
    sut = await buildTestGateway({ env: { REDIS_URL: redis.url } })
  })
  afterAll(async () => {
    await redis?.start().catch(() => {})
    await sut?.close()
    await redis?.stop()
  })

  it('answers 503 while Redis is down, and each re-delivered DM is answered once after it returns', async () => {
    const userA = igUser()
    const userB = igUser()
    const bodyA = dmWebhookBody({ user: userA, mid: `mid.a-${userA}`, text: 'first, before the outage' })
    const bodyB = dmWebhookBody({ user: userB, mid: `mid.b-${userB}`, text: 'second, during the outage' })

    expect((await sut.postWebhook(bodyA)).statusCode).toBe(200)
    await sut.waitForReplies([`mid.a-${userA}`])
    expect(sut.graph.sendsTo(userA).length).toBeGreaterThan(0)
    const sentToA = sut.graph.sendsTo(userA).length

    await redis.stop()
    const during = await sut.postWebhook(bodyB)
    expect(during.statusCode).toBe(503)
    expect(during.json()).toEqual({ error: 'Service Unavailable' })
    expect((await sut.postWebhook(bodyA)).statusCode).toBe(503)
    const ready = await sut.gateway.app.inject({ url: '/readyz' })
    expect(ready.statusCode).toBe(503)
    expect(ready.json().checks.redis).toBe(false)

    // Redis returns empty (no persistence): even the completed job id of A is gone, so only the
    // outbox stands between a re-delivery of A and a second reply.
    await redis.start()
    const status = await waitFor(async () => (await sut.postWebhook(bodyB)).statusCode === 200 && 200, {
      what: 'the webhook to accept B again',
      timeoutMs: 20_000,
      intervalMs: 200,
    })
    expect(status).toBe(200)
    expect((await sut.postWebhook(bodyA)).statusCode).toBe(200)
    expect((await sut.postWebhook(bodyB)).statusCode).toBe(200)

    await sut.waitForReplies([`mid.b-${userB}`], 30_000)
    // Let A's re-delivered job run to completion too.
    await waitFor(
      async () =>
        (await (await sut.gateway.queues.dm.getJob(`dm-mid.a-${userA}`))?.getState()) === 'completed',
      { what: "A's re-delivered job to complete", timeoutMs: 15_000, intervalMs: 100 },
    )
    expect(await (await sut.gateway.queues.dm.getJob(`dm-mid.a-${userA}`))?.getState()).toBe('completed')
    const rowsB = await sut.outbox.findByMid(`mid.b-${userB}`)
    expect(sut.graph.sendsTo(userB)).toHaveLength(rowsB.length)
    expect(sut.graph.sendsTo(userA)).toHaveLength(sentToA)
    expect((await sut.gateway.app.inject({ url: '/readyz' })).statusCode).toBe(200)

    // The hot-swap subscriber re-subscribed (and re-read the registry): a new message still swaps.
    await expect
      .poll(() => sut.logs.some((l) => l.msg === 'hot-swap subscriber reconnected; re-reading the registry'))
      .toBe(true)
    const publisher = createRedis({ url: redis.url, role: 'worker' })
    try {
      const version = (sut.gateway.holder.current()?.version ?? 0) + 1_000_000
      await expect
        .poll(async () => {
          await publisher.publish(
            sut.config.models.channel,
            encodeActiveModelMessage({
              model: 'gpt-4.1-nano',
              version,
              at: new Date().toISOString(),
              reason: 't',
            }),
          )
          return sut.gateway.holder.current()?.model
        })
        .toBe('gpt-4.1-nano')
    } finally {
      publisher.disconnect()
    }
  })
})
