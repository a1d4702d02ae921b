import { createOpenAISdk } from '@loopdm/platform/openai'
import { buildExemplarPolicy } from '@loopdm/testing/exemplars'
import { uniqueId } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { waitFor } from '@loopdm/testing/wait'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RecordedChat, recordingOpenAI } from './support/recording-openai.js'
import { buildTestGateway, igUser, TEST_ADMIN_TOKEN, type TestGateway } from './support/test-gateway.js'

/**
 * A shadow answer asks the candidate as it would serve (issue 19 with issue 14's policies): an
 * exemplar candidate gets its own system prompt and its own set's demonstrations, not the live
 * policy's prompt. Asserted on the request openai-local received and on the stored answer:
 * openai-local's base model answers with the nearest demonstration's shop answer.
 */
describe('shadow answers of an exemplar candidate', () => {
  let sut: TestGateway
  /** A second gateway that reconciles only every 10 min: it learns of a shadow from the hint. */
  let other: TestGateway
  let upstream: OpenAILocal
  let proxy: Awaited<ReturnType<typeof recordingOpenAI>>
  const tag = uniqueId('shp')
  const question = `${tag} do you ship the linen dress to Vienna`
  const shopAnswer = `${tag} Yes, Vienna takes 3 days and shipping is free over 80 euros.`
  const created: string[] = []
  const admin = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
    sut.gateway.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      payload: payload as object,
    })

  beforeAll(async () => {
    upstream = await startOpenAILocal({ port: 0, ftStepMs: 20 })
    proxy = await recordingOpenAI(upstream)
    const env = {
      MEMORY_ENABLED: 'false',
      SYSTEM_PROMPT: `${tag} live prompt`,
      MODEL_CHANNEL: `${tag}:model:active`,
      MODEL_RECONCILE_INTERVAL_MS: '600000',
    }
    sut = await buildTestGateway({ openai: proxy, env })
    other = await buildTestGateway({ openai: proxy, worker: false, env })
    await sut.pool.query(`update models set status = 'inactive' where status = 'active'`)
    await sut.pool.query(`update shadow_runs set status = 'stopped' where status = 'running'`)
  })
  afterAll(async () => {
    await admin('POST', '/admin/shadow/stop').catch(() => undefined)
    if (created.length) {
      await sut.pool.query('delete from shadow_answers where model = any($1)', [created])
      await sut.pool.query('delete from shadow_runs where candidate_model = any($1)', [created])
      await sut.pool.query('delete from models where model = any($1)', [created])
    }
    await sut?.close()
    await other?.close()
    await proxy?.close()
    await upstream?.close()
  })

  it('is asked with the candidate’s system prompt and demonstrations; the customer gets the live reply', async () => {
    const { policy } = await buildExemplarPolicy({
      db: sut.pool,
      sdk: createOpenAISdk({ config: sut.config }),
      servingModel: sut.config.models.base,
      pairs: [{ prompt: question, answer: shopAnswer }],
    })
    created.push(policy.model)
    await sut.pool.query('update models set system_prompt = $2 where id = $1', [
      policy.id,
      `${tag} candidate prompt`,
    ])
    const res = await admin('POST', `/admin/candidates/${encodeURIComponent(policy.model)}/shadow`, {
      sample: 1,
    })
    expect(res.statusCode, res.body).toBe(201)
    const { run } = res.json() as { run: { id: number } }
    await expect.poll(() => sut.gateway.rollout.shadow.current()?.id, { timeout: 10_000 }).toBe(run.id)
    // The other gateway did not wait for its 10-minute reconcile: the start was hinted on the channel.
    await expect.poll(() => other.gateway.rollout.shadow.current()?.id, { timeout: 5_000 }).toBe(run.id)

    const user = igUser()
    const { mid } = await sut.dm({ user, text: question })
    const [sent] = await sut.waitForReplies([mid])
    const stored = await waitFor(
      async () => {
        const r = await sut.pool.query<{ content: string; sent_content: string }>(
          'select content, sent_content from shadow_answers where run_id = $1 and mid = $2',
          [run.id, mid],
        )
        return r.rows[0]
      },
      { what: 'the shadow answer', timeoutMs: 30_000 },
    )
    // The candidate answered with its demonstration; the customer got the live (base) reply only.
    expect(stored.content).toBe(shopAnswer)
    expect(stored.sent_content).not.toBe(shopAnswer)
    expect(sut.graph.sendsTo(user).map((x) => x.text)).toEqual([sent?.text])

    const chats = proxy.chats.filter((c: RecordedChat) =>
      c.messages.some((m) => m.role === 'user' && m.content === question),
    )
    const live = chats.find((c) => c.messages[0]?.content === `${tag} live prompt`)
    const shadow = chats.find((c) => c.messages[0]?.content === `${tag} candidate prompt`)
    expect(live, 'the live reply’s request').toBeDefined()
    expect(shadow, 'the shadow answer’s request, with the candidate’s system prompt').toBeDefined()
    expect(live?.messages.some((m) => m.role === 'assistant' && m.content === shopAnswer)).toBe(false)
    // The candidate's demonstration (question → shop answer), then the live conversation.
    const s = shadow?.messages ?? []
    const demo = s.findIndex((m) => m.role === 'assistant' && m.content === shopAnswer)
    expect(demo).toBeGreaterThan(0)
    expect(s[demo - 1]).toMatchObject({ role: 'user', content: question })
    expect(s[s.length - 1]).toMatchObject({ role: 'user', content: question })
    expect(s.filter((m) => m.role === 'system').length).toBe(3)

    // Stopping is hinted too; the active-model holder ignored both hints.
    expect((await admin('POST', '/admin/shadow/stop')).statusCode).toBe(200)
    await expect.poll(() => other.gateway.rollout.shadow.current(), { timeout: 5_000 }).toBeNull()
    expect(other.logs.some((l) => l.msg === 'ignored malformed hot-swap message')).toBe(false)
  })
})
