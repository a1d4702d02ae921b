import type { Policy } from '@loopdm/models/policy'
import { promoteModel } from '@loopdm/models/promotion'
import { createOpenAISdk } from '@loopdm/platform/openai'
import { createRedis, type Redis } from '@loopdm/redis/client'
import { buildExemplarPolicy } from '@loopdm/testing/exemplars'
import { uniqueId } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RecordedChat, recordingOpenAI } from './support/recording-openai.js'
import { buildTestGateway, igUser, type TestGateway } from './support/test-gateway.js'

/**
 * A policy's own system prompt (issue 14: `systemPrompt?`) is the system prompt of the replies it
 * answers — not the process's SYSTEM_PROMPT — and a hot swap changes it on every gateway at once,
 * without a restart. Asserted on the requests openai-local actually received.
 */
describe('the active policy’s system prompt', () => {
  const gateways: TestGateway[] = []
  let upstream: OpenAILocal
  let proxy: Awaited<ReturnType<typeof recordingOpenAI>>
  let publisher: Redis
  const created: string[] = []
  const tag = uniqueId('sp')
  const channel = `${uniqueId('sp')}:model:active`

  const policyWith = async (name: string, systemPrompt: string | null): Promise<Policy> => {
    const sut = gateways[0] as TestGateway
    const { policy } = await buildExemplarPolicy({
      db: sut.pool,
      sdk: createOpenAISdk({ config: sut.config }),
      servingModel: sut.config.models.base,
      pairs: [{ prompt: `${tag} ${name} question`, answer: `${tag} ${name} answer` }],
    })
    await sut.pool.query('update models set system_prompt = $2 where id = $1', [policy.id, systemPrompt])
    created.push(policy.model)
    return policy
  }
  const activate = async (policy: Policy) => {
    const sut = gateways[0] as TestGateway
    const p = await promoteModel({
      db: sut.pool,
      redis: publisher,
      sdk: createOpenAISdk({ config: sut.config }),
      config: sut.config,
      ref: policy.model,
      actor: 'test',
      reason: 'test',
      probe: { deadlineMs: 5_000, initialDelayMs: 20 },
    })
    for (const g of gateways)
      await expect.poll(() => g.gateway.holder.current()?.version, { timeout: 10_000 }).toBe(p.version)
  }
  /** One DM through every gateway; the system prompt of each reply's completion request. */
  const systemPrompts = async (): Promise<string[]> => {
    const out: string[] = []
    for (const g of gateways) {
      const text = `${uniqueId('hello')} what are your opening hours`
      const { mid } = await g.dm({ user: igUser(), text })
      await g.waitForReplies([mid])
      const req = proxy.chats.findLast((c: RecordedChat) =>
        c.messages.some((m) => m.role === 'user' && m.content === text),
      )
      expect(req, `the completion request of the DM to gateway ${gateways.indexOf(g)}`).toBeDefined()
      expect(req?.messages[0]?.role).toBe('system')
      out.push(String(req?.messages[0]?.content))
    }
    return out
  }

  beforeAll(async () => {
    upstream = await startOpenAILocal({ port: 0, ftStepMs: 20 })
    proxy = await recordingOpenAI(upstream)
    for (let i = 0; i < 3; i++)
      gateways.push(
        await buildTestGateway({
          openai: proxy,
          env: { MEMORY_ENABLED: 'false', MODEL_CHANNEL: channel, SYSTEM_PROMPT: `${tag} config prompt` },
        }),
      )
    publisher = createRedis({ url: (gateways[0] as TestGateway).config.redis.url, role: 'worker' })
    await (gateways[0] as TestGateway).pool.query(
      `update models set status = 'inactive' where status = 'active'`,
    )
  })
  afterAll(async () => {
    const pool = gateways[0]?.pool
    if (pool) {
      await pool.query(`update models set status = 'inactive' where status = 'active'`)
      if (created.length) await pool.query('delete from models where model = any($1)', [created])
    }
    publisher?.disconnect()
    for (const g of gateways) await g.close()
    await proxy?.close()
    await upstream?.close()
  })

  it('is the system prompt of the next reply on every gateway, and a hot swap changes it without restart', async () => {
    expect(await systemPrompts()).toEqual(Array(3).fill(`${tag} config prompt`))

    const first = await policyWith('first', `${tag} FIRST policy prompt`)
    await activate(first)
    expect(await systemPrompts()).toEqual(Array(3).fill(`${tag} FIRST policy prompt`))
    expect(gateways[1]?.gateway.holder.current()?.policy?.systemPrompt).toBe(`${tag} FIRST policy prompt`)

    const second = await policyWith('second', `${tag} SECOND policy prompt`)
    await activate(second)
    expect(await systemPrompts()).toEqual(Array(3).fill(`${tag} SECOND policy prompt`))
  })

  it('falls back to SYSTEM_PROMPT for a policy without one', async () => {
    const plain = await policyWith('plain', null)
    await activate(plain)
    expect(await systemPrompts()).toEqual(Array(3).fill(`${tag} config prompt`))
  })
})
