import { promoteModel } from '@loopdm/models/promotion'
import { createOpenAISdk } from '@loopdm/platform/openai'
import { createRedis, type Redis } from '@loopdm/redis/client'
import { buildExemplarPolicy } from '@loopdm/testing/exemplars'
import { uniqueId } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordingOpenAI } from './support/recording-openai.js'
import { buildTestGateway, igUser, type TestGateway } from './support/test-gateway.js'

/**
 * With memory on and an exemplar policy active, memory recall and the exemplar lookup need the
 * same vector of the live message: the gateway embeds it ONCE per reply (issue 20, reply path),
 * and the reply still carries both the demonstration and the recalled memory.
 */
describe('memory recall and the exemplar lookup on one reply', () => {
  let sut: TestGateway
  let upstream: OpenAILocal
  let proxy: Awaited<ReturnType<typeof recordingOpenAI>>
  let publisher: Redis
  const created: string[] = []
  const tag = uniqueId('shared')

  beforeAll(async () => {
    upstream = await startOpenAILocal({ port: 0, ftStepMs: 20 })
    proxy = await recordingOpenAI(upstream)
    sut = await buildTestGateway({
      openai: proxy,
      env: { MEMORY_MIN_SCORE: '0.3' },
      gateway: { memoryService: true },
    })
    publisher = createRedis({ url: sut.config.redis.url, role: 'worker' })
    await sut.pool.query(`update models set status = 'inactive' where status = 'active'`)
  })
  afterAll(async () => {
    await sut?.pool.query(`update models set status = 'inactive' where status = 'active'`)
    if (created.length) await sut?.pool.query('delete from models where model = any($1)', [created])
    publisher?.disconnect()
    await sut?.close()
    await proxy?.close()
    await upstream?.close()
  })

  it('embeds the live message once, and uses it for both', async () => {
    const sdk = createOpenAISdk({ config: sut.config })
    const { policy } = await buildExemplarPolicy({
      db: sut.pool,
      sdk,
      servingModel: sut.config.models.base,
      pairs: [{ prompt: `${tag} do you ship wool scarves to norway`, answer: `${tag} Norway: 4 days.` }],
    })
    created.push(policy.model)
    const p = await promoteModel({
      db: sut.pool,
      redis: publisher,
      sdk,
      config: sut.config,
      ref: policy.model,
      actor: 'test',
      reason: 'test',
      probe: { deadlineMs: 5_000, initialDelayMs: 20 },
    })
    await expect.poll(() => sut.gateway.holder.current()?.version, { timeout: 10_000 }).toBe(p.version)

    const user = igUser()
    const first = await sut.dm({ user, text: `${tag} my order number is 88231, the red wool scarf` })
    await sut.waitForReplies([first.mid])
    const live = `${tag} do you ship wool scarves to norway? order 88231`
    const before = proxy.embeddings.length
    const { mid } = await sut.dm({ user, text: live })
    const [reply] = await sut.waitForReplies([mid])

    const calls = proxy.embeddings.slice(before).filter((input) => input.some((t) => t.includes(live)))
    expect(calls).toHaveLength(1)
    expect(reply?.text).toBe(`${tag} Norway: 4 days.`)
    const req = proxy.chats.findLast((c) => c.messages.at(-1)?.content === live)
    const contents = req?.messages.map((m) => String(m.content)) ?? []
    expect(contents).toContain(`${tag} do you ship wool scarves to norway`)
    expect(contents).toContain(`${tag} my order number is 88231, the red wool scarf`)
  })
})
