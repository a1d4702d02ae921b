import type { Pool } from '@loopdm/db/pool'
import { createCostLedger } from '@loopdm/models/cost-ledger'
import { createPriceTable } from '@loopdm/models/prices'
import { createAiClient, OpenAI } from '@loopdm/platform/openai'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

/** The shared OpenAI client against a real openai-local on 127.0.0.1, writing a real cost ledger. */
describe('createAiClient', () => {
  let server: OpenAILocal
  let pool: Pool
  const purposes: string[] = []
  beforeAll(async () => {
    server = await startOpenAILocal({ port: 0 })
    pool = await testPool(2)
  })
  afterEach(() => server.faults.reset())
  afterAll(async () => {
    await pool.query('delete from cost_ledger where purpose = any($1)', [purposes])
    await pool.end()
    await server.close()
  })

  const setup = (maxRetries = 2) => {
    const purpose = uniqueId('client')
    purposes.push(purpose)
    const config = testConfig({ OPENAI_MAX_RETRIES: String(maxRetries) })
    const ledger = createCostLedger({ db: pool, prices: config.openai.prices })
    const sut = createAiClient({ config, usage: ledger, baseURL: server.baseURL })
    const rows = async () =>
      (
        await pool.query<{
          operation: string
          model: string
          prompt_tokens: number
          completion_tokens: number
          cost_usd: string
        }>(
          'select operation, model, prompt_tokens, completion_tokens, cost_usd from cost_ledger where purpose = $1 order by id',
          [purpose],
        )
      ).rows
    return { sut, purpose, rows }
  }
  const hello = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hello there' }] }

  describe('when the provider answers 429 once', () => {
    it('retries (honouring retry-after) and succeeds; the ledger has the successful call only', async () => {
      const { sut, purpose, rows } = setup(2)
      server.faults.failNext(1, 429, { retryAfterSec: 0.3 })
      const t0 = Date.now()
      const res = await sut.chat(hello, { purpose })
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250)
      expect(server.faults.snapshot().requests).toBe(2)
      const ledger = await rows()
      expect(ledger).toHaveLength(1)
      expect(ledger[0]).toMatchObject({
        operation: 'chat',
        model: 'gpt-4o-mini',
        prompt_tokens: res.usage?.prompt_tokens,
        completion_tokens: res.usage?.completion_tokens,
      })
      const expected = createPriceTable().costUsd({
        model: 'gpt-4o-mini',
        promptTokens: res.usage?.prompt_tokens ?? 0,
        completionTokens: res.usage?.completion_tokens ?? 0,
      })
      expect(Number(ledger[0]?.cost_usd)).toBeCloseTo(expected, 6)
      expect(expected).toBeGreaterThan(0)
    })
  })

  describe('when the provider keeps failing', () => {
    it('gives up after the configured attempts (1 + OPENAI_MAX_RETRIES) and records nothing', async () => {
      const { sut, purpose, rows } = setup(2)
      server.faults.failNext(10, 429, { retryAfterMs: 5 })
      await expect(sut.chat(hello, { purpose })).rejects.toBeInstanceOf(OpenAI.RateLimitError)
      expect(server.faults.snapshot()).toMatchObject({ requests: 3, remaining: 7 })
      expect(await rows()).toHaveLength(0)
    })
    it('retries 5xx too', async () => {
      const { sut, purpose, rows } = setup(3)
      server.faults.failNext(2, 503, { retryAfterMs: 5 })
      await sut.chat(hello, { purpose })
      expect(server.faults.snapshot().requests).toBe(3)
      expect(await rows()).toHaveLength(1)
    })
  })

  describe('when the request itself is wrong (4xx)', () => {
    it('does not retry', async () => {
      const { sut, purpose, rows } = setup(3)
      const bad = {
        model: 'o3-mini',
        messages: [
          {
            role: 'user' as const,
            content: [{ type: 'image_url' as const, image_url: { url: 'https://x.test/a.png' } }],
          },
        ],
      }
      await expect(sut.chat(bad, { purpose })).rejects.toBeInstanceOf(OpenAI.BadRequestError)
      await expect(sut.chat({ ...hello, model: 'gpt-nope' }, { purpose })).rejects.toBeInstanceOf(
        OpenAI.NotFoundError,
      )
      expect(server.faults.snapshot().requests).toBe(2)
      expect(await rows()).toHaveLength(0)
    })
  })

  describe('when the provider is slow', () => {
    it('times out after timeoutMs', async () => {
      const { sut, purpose } = setup(0)
      server.faults.setLatency(1000)
      await expect(sut.chat(hello, { purpose, timeoutMs: 100 })).rejects.toBeInstanceOf(
        OpenAI.APIConnectionTimeoutError,
      )
    })
  })

  describe('embed', () => {
    it('returns one 1536-d vector per input in order and records the embedding tokens', async () => {
      const { sut, purpose, rows } = setup(2)
      const [a, b, a2] = await sut.embed(['ship to germany', 'open on sunday', 'ship to germany'], {
        purpose,
      })
      expect(a).toHaveLength(1536)
      expect(a).toEqual(a2)
      expect(a).not.toEqual(b)
      const ledger = await rows()
      expect(ledger).toHaveLength(1)
      expect(ledger[0]).toMatchObject({
        operation: 'embeddings',
        model: 'text-embedding-3-small',
        completion_tokens: 0,
      })
      expect(ledger[0]?.prompt_tokens).toBeGreaterThan(0)
    })
  })
})
