import type { Pool } from '@loopdm/db/pool'
import { encodeActiveModelMessage } from '@loopdm/models/hotswap'
import { createRegistryRepository } from '@loopdm/models/registry'
import { createLogger } from '@loopdm/platform/logger'
import { createAiClient } from '@loopdm/platform/openai'
import { countTokens } from '@loopdm/platform/tokens'
import { createRedis } from '@loopdm/redis/client'
import { captureLogger } from '@loopdm/testing/capture-logger'
import { deleteModel, FT_PAIRS, fineTuneModel } from '@loopdm/testing/fine-tune'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMetrics } from '../src/metrics.js'
import { ModelRouter } from '../src/services/model-router.js'
import { buildTestGateway, igUser, TEST_ADMIN_TOKEN, type TestGateway } from './support/test-gateway.js'

const userMsg = (content: string) => [{ role: 'user' as const, content }]
const active = (model: string, version = 1) => ({ model, version, since: new Date() })

describe('ModelRouter', () => {
  let openai: OpenAILocal
  let pool: Pool
  let logs: Array<Record<string, unknown>>
  let clock = 1_000_000
  const make = () => {
    const captured = captureLogger()
    logs = captured.lines
    const config = testConfig({ OPENAI_BASE_URL: openai.baseURL, OPENAI_MAX_RETRIES: '0' })
    const metrics = createMetrics({ defaultMetrics: false })
    const sut = new ModelRouter({
      config,
      ai: createAiClient({ config }),
      logger: captured.logger,
      registry: createRegistryRepository(pool),
      metrics,
      circuitCooldownMs: 30_000,
      clock: () => clock,
    })
    return { sut, metrics }
  }

  beforeAll(async () => {
    openai = await startOpenAILocal({ port: 0, ftStepMs: 10 })
    pool = await testPool(2)
  })
  afterAll(async () => {
    await pool?.end()
    await openai?.close()
  })

  describe('when selecting', () => {
    it('sends an image to the vision model', () => {
      const { sut } = make()
      expect(sut.select({ hasImage: true, active: active('ft:x') })).toEqual({
        model: 'gpt-4.1',
        reason: 'image',
      })
    })
    it('uses the active model for text when its circuit is closed', () => {
      const { sut } = make()
      expect(sut.select({ hasImage: false, active: active('ft:x') })).toEqual({
        model: 'ft:x',
        reason: 'active',
      })
    })
    it('uses the base model when nothing is active', () => {
      const { sut } = make()
      expect(sut.select({ hasImage: false, active: null })).toEqual({ model: 'gpt-4.1-mini', reason: 'base' })
    })
    it('logs "Selected Model" at info with model and reason', () => {
      const { sut } = make()
      sut.select({ hasImage: false, active: null })
      expect(logs).toContainEqual(
        expect.objectContaining({ level: 30, msg: 'Selected Model', model: 'gpt-4.1-mini', reason: 'base' }),
      )
    })
  })

  describe('when the fine-tuned model fails', () => {
    it('answers on the base model, opens the circuit for the cool-down and counts the fallback', async () => {
      const { sut, metrics } = make()
      const gone = 'ft:gpt-3.5-turbo-0125:loopdm::never-existed'
      const r = await sut.complete({ messages: userMsg('hi'), hasImage: false, active: active(gone) })
      expect(r).toMatchObject({ model: 'gpt-4.1-mini', reason: 'fallback', fellBackFrom: gone })
      expect(r.text.length).toBeGreaterThan(0)
      expect((await metrics.fallbacks.get()).values).toEqual([
        expect.objectContaining({ labels: { from: gone, to: 'gpt-4.1-mini' }, value: 1 }),
      ])
      expect(sut.circuitOpen(gone)).toBe(true)
      expect(sut.select({ hasImage: false, active: active(gone) })).toEqual({
        model: 'gpt-4.1-mini',
        reason: 'circuit-open',
      })
      clock += 30_001
      expect(sut.circuitOpen(gone)).toBe(false)
      expect(sut.select({ hasImage: false, active: active(gone) }).reason).toBe('active')
    })

    it('falls back on a provider 500 too', async () => {
      const { sut, metrics } = make()
      const model = await fineTuneModel(openai.baseURL, { suffix: 'router500' })
      openai.faults.failNext(1, 500)
      const r = await sut.complete({
        messages: userMsg(FT_PAIRS[0]?.[0] ?? ''),
        hasImage: false,
        active: active(model),
      })
      expect(r.model).toBe('gpt-4.1-mini')
      expect((await metrics.fallbacks.get()).values[0]?.value).toBe(1)
      await deleteModel(openai.baseURL, model)
    })
  })

  describe('when REPLY_MAX_TOKENS is set', () => {
    it('caps every reply completion at that many tokens', async () => {
      const calls: Array<{ model: string; completionTokens: number }> = []
      const config = testConfig({ OPENAI_BASE_URL: openai.baseURL, REPLY_MAX_TOKENS: '16' })
      const sut = new ModelRouter({
        config,
        ai: createAiClient({ config, usage: { record: (u) => void calls.push(u) } }),
        logger: createLogger({ level: 'silent' }),
        registry: createRegistryRepository(pool),
      })
      const model = await fineTuneModel(openai.baseURL, { suffix: 'replycap' })
      try {
        // A trained answer longer than 16 tokens comes back cut at the cap.
        const [question, answer] = FT_PAIRS.find(([, a]) => countTokens(a) > 16) ?? []
        const r = await sut.complete({
          messages: userMsg(question ?? ''),
          hasImage: false,
          active: active(model),
        })
        expect(r.model).toBe(model)
        expect(countTokens(r.text)).toBeLessThanOrEqual(16)
        expect(answer?.startsWith(r.text)).toBe(true)
        expect(calls).toEqual([expect.objectContaining({ model, completionTokens: 16 })])
      } finally {
        await deleteModel(openai.baseURL, model)
      }
    })
  })

  describe('when listing models', () => {
    it('lists vision, base, active and the registry candidates', async () => {
      const { sut } = make()
      const registry = createRegistryRepository(pool)
      const candidate = `ft:gpt-3.5-turbo-0125:loopdm:${uniqueId('cand')}`
      await registry.upsertModel({ model: candidate, status: 'candidate' })
      try {
        const all = await sut.getAllModels(active('ft:active-one'))
        expect(all).toEqual(
          expect.arrayContaining([
            expect.objectContaining({ model: 'gpt-4.1', role: 'vision' }),
            expect.objectContaining({ model: 'gpt-4.1-mini', role: 'base' }),
            expect.objectContaining({ model: 'ft:active-one', role: 'active' }),
            expect.objectContaining({ model: candidate, role: 'candidate', status: 'candidate' }),
          ]),
        )
      } finally {
        await pool.query('delete from models where model = $1', [candidate])
      }
    })
  })
})

describe('gateway with the active fine-tuned model deleted at the provider', () => {
  let sut: TestGateway
  beforeAll(async () => {
    sut = await buildTestGateway()
  })
  afterAll(async () => {
    await sut?.close()
  })

  it('still sends the replies via the base model and counts the fallback', async () => {
    const ft = await fineTuneModel(sut.openai.baseURL, { suffix: 'deleted' })
    const publisher = createRedis({ url: sut.config.redis.url, role: 'worker' })
    try {
      const version = (sut.gateway.holder.current()?.version ?? 0) + 1_000_000
      await publisher.publish(
        sut.config.models.channel,
        encodeActiveModelMessage({ model: ft, version, at: new Date().toISOString(), reason: 'test' }),
      )
      await expect.poll(() => sut.gateway.holder.current()?.model).toBe(ft)

      // While the model exists it answers (its trained reply).
      const user = igUser()
      const first = await sut.dm({ user, text: FT_PAIRS[6]?.[0] })
      const [r1] = await sut.waitForReplies([first.mid])
      expect(r1?.model).toBe(ft)
      expect(r1?.text).toBe(FT_PAIRS[6]?.[1])

      await deleteModel(sut.openai.baseURL, ft)
      const second = await sut.dm({ user, text: FT_PAIRS[6]?.[0] })
      const third = await sut.dm({ user, text: 'and do you ship abroad?' })
      const [r2, r3] = await sut.waitForReplies([second.mid, third.mid])
      expect(r2?.model).toBe('gpt-4.1-mini')
      expect(r3?.model).toBe('gpt-4.1-mini')
      expect(sut.graph.sendsTo(user).length).toBeGreaterThanOrEqual(3)
      expect(r2?.status).toBe('sent')

      const metrics = (
        await sut.gateway.app.inject({
          url: '/metrics',
          headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
        })
      ).body
      // One fallback: after it the circuit is open and the next DM goes straight to the base model.
      expect(metrics).toContain(`loopdm_model_fallbacks_total{from="${ft}",to="gpt-4.1-mini"} 1`)
      expect(metrics).toContain('loopdm_model_selected_total{model="gpt-4.1-mini",reason="circuit-open"} 1')
      const warn = sut.logs.find((l) => l.msg === 'model failed; falling back to the base model')
      expect(warn).toMatchObject({ model: ft, fallback: 'gpt-4.1-mini' })
    } finally {
      publisher.disconnect()
    }
  })
})
