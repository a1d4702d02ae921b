import { encodeActiveModelMessage } from '@loopdm/models/hotswap'
import { type ActiveModel, createRegistryRepository } from '@loopdm/models/registry'
import { createRedis, type Redis } from '@loopdm/redis/client'
import { uniqueId } from '@loopdm/testing/fixtures'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MemoryPort } from '../src/services/memory.port.js'
import { buildTestGateway, igUser, TEST_ADMIN_TOKEN, type TestGateway } from './support/test-gateway.js'

/** A memory whose recall takes 400 ms for texts containing "slow": a reply that is in flight. */
const slowRecall: MemoryPort = {
  async recall({ text }) {
    if (text.includes('slow')) await new Promise((r) => setTimeout(r, 400))
    return { messages: [], recalled: 0 }
  },
  afterStore() {},
}

describe('hot swap', () => {
  let sut: TestGateway
  let publisher: Redis
  const publish = (model: string, version: number) =>
    publisher.publish(
      sut.config.models.channel,
      encodeActiveModelMessage({ model, version, at: new Date().toISOString(), reason: 'test' }),
    )

  beforeAll(async () => {
    sut = await buildTestGateway({ gateway: { memory: slowRecall } })
    publisher = createRedis({ url: sut.config.redis.url, role: 'worker' })
  })
  afterAll(async () => {
    publisher?.disconnect()
    await sut?.close()
  })

  describe('when a newer version is published on the channel', () => {
    it('changes the model used by the next DM, with no restart', async () => {
      const base = sut.gateway.holder.current()?.version ?? 0
      const user = igUser()
      const before = await sut.dm({ user, text: 'hello before the swap' })
      const [r1] = await sut.waitForReplies([before.mid])
      expect(r1?.model).not.toBe('gpt-4.1-nano')

      await publish('gpt-4.1-nano', base + 1_000)
      await expect.poll(() => sut.gateway.holder.current()?.model).toBe('gpt-4.1-nano')
      const after = await sut.dm({ user, text: 'hello after the swap' })
      const [r2] = await sut.waitForReplies([after.mid])
      expect(r2?.model).toBe('gpt-4.1-nano')
      expect(sut.logs).toContainEqual(
        expect.objectContaining({ msg: 'Selected Model', model: 'gpt-4.1-nano', reason: 'active' }),
      )

      const admin = await sut.gateway.app.inject({
        url: '/admin/models',
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      })
      expect(admin.json().active).toMatchObject({ model: 'gpt-4.1-nano', version: base + 1_000 })
      const metrics = (
        await sut.gateway.app.inject({
          url: '/metrics',
          headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
        })
      ).body
      expect(metrics).toContain('loopdm_active_model{model="gpt-4.1-nano"} 1')
      expect(metrics).toMatch(/loopdm_model_swaps_total\{source="message"\} [1-9]/)
    })

    it('ignores an older or equal version and a malformed message', async () => {
      const held = sut.gateway.holder.current() as ActiveModel
      await publish('gpt-4.1-nano', held.version - 1)
      await publish('gpt-4.1-nano', held.version)
      await publisher.publish(sut.config.models.channel, '{"model": 42}')
      // A sentinel newer message proves the earlier ones were processed (same connection, in order).
      await publish(held.model, held.version + 1)
      await expect.poll(() => sut.gateway.holder.current()?.version).toBe(held.version + 1)
      expect(sut.gateway.holder.current()?.model).toBe(held.model)
      expect(sut.logs.filter((l) => l.msg === 'ignored hot-swap message (not newer)')).toHaveLength(2)
      expect(sut.logs).toContainEqual(expect.objectContaining({ msg: 'ignored malformed hot-swap message' }))
    })

    it('lets an in-flight reply finish on the model it started with', async () => {
      const held = sut.gateway.holder.current() as ActiveModel
      await publish('gpt-4.1', held.version + 10)
      await expect.poll(() => sut.gateway.holder.current()?.model).toBe('gpt-4.1')
      const user = igUser()
      const slow = await sut.dm({ user: igUser(), text: 'a slow question' })
      // Swap while the slow reply is in its memory step.
      await new Promise((r) => setTimeout(r, 150))
      await publish('gpt-4.1-nano', held.version + 11)
      await expect.poll(() => sut.gateway.holder.current()?.model).toBe('gpt-4.1-nano')
      const next = await sut.dm({ user, text: 'a quick one' })
      const [rSlow, rNext] = await sut.waitForReplies([slow.mid, next.mid])
      expect(rSlow?.model).toBe('gpt-4.1')
      expect(rNext?.model).toBe('gpt-4.1-nano')
    })
  })
})

describe('hot swap reconcile from the registry', () => {
  // Touches the registry's (global) active model: restores it afterwards.
  let sut: TestGateway
  let restore: () => Promise<void>
  beforeAll(async () => {
    sut = await buildTestGateway({ env: { MODEL_RECONCILE_INTERVAL_MS: '200' } })
    const registry = createRegistryRepository(sut.pool)
    const was = await registry.findActive()
    const existed = await registry.findByIdOrModel('gpt-4.1-nano')
    restore = async () => {
      if (was)
        await registry.promote({ model: was.model, actor: 'gateway-test', reason: 'restore after test' })
      else await sut.pool.query(`update models set status = 'inactive' where model = 'gpt-4.1-nano'`)
      if (!existed) await sut.pool.query(`delete from models where model = 'gpt-4.1-nano'`)
    }
  })
  afterAll(async () => {
    await restore?.()
    await sut?.close()
  })

  it('converges on a promotion whose message was missed, within the reconcile interval', async () => {
    const registry = createRegistryRepository(sut.pool)
    // A base-kind registry row with a model openai-local serves (unique name kept in `reason`).
    const model = 'gpt-4.1-nano'
    const tag = uniqueId('gwtest')
    await registry.upsertModel({ model, kind: 'base', status: 'inactive', reason: tag })
    const { version } = await registry.promote({ model, actor: 'gateway-test', reason: tag })
    // No PUBLISH: only the periodic re-read can find it.
    await expect.poll(() => sut.gateway.holder.current(), { timeout: 5000 }).toMatchObject({ model, version })
    const { mid } = await sut.dm({ user: igUser(), text: 'hi' })
    const [row] = await sut.waitForReplies([mid])
    expect(row?.model).toBe(model)
    expect((await sut.gateway.app.inject({ url: '/readyz' })).json()).toMatchObject({
      ok: true,
      activeModel: model,
    })
  })
})
