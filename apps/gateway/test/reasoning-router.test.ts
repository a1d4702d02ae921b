import type { Pool } from '@loopdm/db/pool'
import { createRegistryRepository } from '@loopdm/models/registry'
import { createAiClient } from '@loopdm/platform/openai'
import { captureLogger } from '@loopdm/testing/capture-logger'
import { testConfig, testPool } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ModelRouter } from '../src/services/model-router.js'

/** openai-local refuses `max_tokens` and temperature ≠ 1 for reasoning models, as OpenAI does. */
describe('ModelRouter with reasoning models', () => {
  let openai: OpenAILocal
  let pool: Pool
  beforeAll(async () => {
    openai = await startOpenAILocal({ port: 0 })
    pool = await testPool(2)
  })
  afterAll(async () => {
    await openai?.close()
    await pool?.end()
  })

  it('answers on a reasoning base model and a reasoning policy (max_completion_tokens, no temperature)', async () => {
    const config = testConfig({
      OPENAI_BASE_URL: openai.baseURL,
      OPENAI_MAX_RETRIES: '0',
      BASE_MODEL: 'o4-mini',
    })
    const { logger, lines } = captureLogger()
    const sut = new ModelRouter({
      config,
      ai: createAiClient({ config }),
      logger,
      registry: createRegistryRepository(pool),
    })
    const messages = [{ role: 'user' as const, content: 'hello there' }]
    const base = await sut.complete({ messages, hasImage: false, active: null })
    expect(base).toMatchObject({ model: 'o4-mini', reason: 'base' })
    expect(base.text.length).toBeGreaterThan(0)
    const policy = {
      id: 7,
      version: 3,
      learner: 'exemplars' as const,
      servingModel: 'gpt-5-mini',
      endpoint: null,
    }
    const r = await sut.complete({
      messages,
      hasImage: false,
      active: { model: 'exemplars:abc', version: 3, since: new Date(), policy },
    })
    // No fallback: the reasoning model accepted the request the router built.
    expect(r).toMatchObject({ model: 'gpt-5-mini', reason: 'active' })
    expect(r.fellBackFrom).toBeUndefined()
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'Selected Model', model: 'gpt-5-mini', policy: 7, policyVersion: 3 }),
    )
  })
})
