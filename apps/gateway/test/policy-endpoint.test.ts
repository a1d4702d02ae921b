import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestGateway, type TestGateway } from './support/test-gateway.js'

/**
 * A policy served on another OpenAI-compatible endpoint (a self-hosted vLLM, Together) is answered
 * there, through the gateway's real wiring (compose.ts → router.clientFor → endpointClientFor); the
 * deployment's default provider never sees that reply.
 */
describe('gateway with a policy on another endpoint', () => {
  let sut: TestGateway
  let other: OpenAILocal
  beforeAll(async () => {
    other = await startOpenAILocal({ port: 0 })
    sut = await buildTestGateway({ worker: false })
  })
  afterAll(async () => {
    await sut?.close()
    await sut?.openai.close()
    await other?.close()
  })

  describe('when the active policy names a vllm endpoint', () => {
    it('sends the completion to that endpoint, not to the default provider', async () => {
      const defaultBefore = sut.openai.faults.snapshot().requests
      const otherBefore = other.faults.snapshot().requests
      const policy = {
        id: 41,
        version: 9,
        learner: 'fine-tune' as const,
        servingModel: 'gpt-4.1-mini',
        endpoint: { provider: 'vllm' as const, baseURL: other.baseURL },
      }
      const r = await sut.gateway.router.complete({
        messages: [{ role: 'user', content: 'hello there' }],
        hasImage: false,
        active: { model: 'ft-policy-41', version: 9, since: new Date(), policy },
      })
      expect(r).toMatchObject({ model: 'gpt-4.1-mini', reason: 'active' })
      expect(r.fellBackFrom).toBeUndefined()
      expect(other.faults.snapshot().requests).toBe(otherBefore + 1)
      expect(sut.openai.faults.snapshot().requests).toBe(defaultBefore)
    })
  })
})
