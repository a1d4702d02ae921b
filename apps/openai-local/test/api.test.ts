import { countTokens } from '@loopdm/platform/tokens'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cosine } from '../src/model/embedding.js'
import { DEFAULT_REPLY } from '../src/model/reply-policy.js'
import { buildOpenAILocalApp, type OpenAILocal, startOpenAILocal } from '../src/server.js'

const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0))

describe('openai-local over the real openai SDK', () => {
  let sut: OpenAILocal
  let client: OpenAI
  beforeAll(async () => {
    sut = await startOpenAILocal({ port: 0 })
    client = new OpenAI({ apiKey: 'any-key', baseURL: sut.baseURL, maxRetries: 0 })
  })
  afterAll(async () => {
    await sut.close()
  })

  describe('models', () => {
    it('lists the base chat models and the embedding model', async () => {
      const ids = []
      for await (const m of client.models.list()) ids.push(m.id)
      expect(ids).toEqual(
        expect.arrayContaining([
          'gpt-4o-mini',
          'gpt-4o',
          'gpt-4.1-mini',
          'o4-mini',
          'text-embedding-3-small',
        ]),
      )
      // Shut down 2026-10-23: no longer listed.
      expect(ids).not.toContain('gpt-3.5-turbo-0125')
    })
    it('retrieves a model and answers 404 model_not_found for an unknown one, raw colons included', async () => {
      expect((await client.models.retrieve('gpt-4o-mini')).id).toBe('gpt-4o-mini')
      await expect(client.models.retrieve('ft:gpt-3.5-turbo-0125:loopdm::nope')).rejects.toMatchObject({
        status: 404,
        code: 'model_not_found',
      })
      const raw = await fetch(`${sut.baseURL}/models/ft:gpt-3.5-turbo-0125:loopdm::nope`)
      expect(raw.status).toBe(404)
      const body = (await raw.json()) as { error: Record<string, unknown> }
      expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type'])
      expect(body.error.type).toBe('invalid_request_error')
    })
    it('refuses to delete a base model with 403', async () => {
      await expect(client.models.delete('gpt-4o-mini')).rejects.toMatchObject({ status: 403 })
    })
  })

  describe('chat completions', () => {
    it('answers from the fixed reply policy with real token counts', async () => {
      const messages = [
        { role: 'system' as const, content: 'You are a shop assistant.' },
        { role: 'user' as const, content: 'Can you tell me something about the weather?' },
      ]
      const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, temperature: 0.2 })
      const text = res.choices[0]?.message.content
      expect(text).toBe(DEFAULT_REPLY)
      expect(res.usage?.completion_tokens).toBe(countTokens(DEFAULT_REPLY))
      expect(res.usage?.prompt_tokens).toBeGreaterThan(
        countTokens('Can you tell me something about the weather?'),
      )
      expect(res.usage?.total_tokens).toBe(
        (res.usage?.prompt_tokens ?? 0) + (res.usage?.completion_tokens ?? 0),
      )
      const again = await client.chat.completions.create({ model: 'gpt-4o-mini', messages })
      expect(again.choices[0]?.message.content).toBe(text)
    })
    it('streams the same answer as chunks when stream is true, with usage on request', async () => {
      const messages = [{ role: 'user' as const, content: 'Do you ship to Austria?' }]
      const whole = await client.chat.completions.create({ model: 'gpt-4o-mini', messages })
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages,
        stream: true,
        stream_options: { include_usage: true },
      })
      let text = ''
      let finish: string | null | undefined
      let usage: OpenAI.CompletionUsage | undefined | null
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? ''
        finish = chunk.choices[0]?.finish_reason ?? finish
        usage = chunk.usage ?? usage
      }
      expect(text).toBe(whole.choices[0]?.message.content)
      expect(finish).toBe('stop')
      expect(usage?.total_tokens).toBe(whole.usage?.total_tokens)
    })
    it('truncates at max_tokens with finish_reason length', async () => {
      const res = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hello' }],
        max_tokens: 2,
      })
      expect(res.choices[0]?.finish_reason).toBe('length')
      expect(res.usage?.completion_tokens).toBe(2)
    })
    it('accepts an image part on a vision model', async () => {
      const res = await client.chat.completions.create({
        model: 'gpt-4o',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'is this in stock?' },
              { type: 'image_url', image_url: { url: 'https://example.com/a.jpg' } },
            ],
          },
        ],
      })
      expect(res.choices[0]?.message.content).toBeTruthy()
    })
    it('rejects an image part on a non-vision model with 400 invalid_request_error', async () => {
      const err = await client.chat.completions
        .create({
          model: 'o3-mini',
          messages: [
            {
              role: 'user',
              content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.jpg' } }],
            },
          ],
        })
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.BadRequestError)
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).type).toBe('invalid_request_error')
      expect((err as Error).message).toContain('image_url is only supported by certain models')
    })
    it('answers 404 model_not_found for an unknown model', async () => {
      await expect(
        client.chat.completions.create({ model: 'gpt-nope', messages: [{ role: 'user', content: 'hi' }] }),
      ).rejects.toMatchObject({ status: 404, code: 'model_not_found' })
    })
    it('answers 400 for a missing messages array', async () => {
      const res = await fetch(`${sut.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini' }),
      })
      expect(res.status).toBe(400)
      expect(((await res.json()) as { error: { param: string } }).error.param).toBe('messages')
    })
  })

  describe('embeddings', () => {
    it('returns 1536-d unit vectors, deterministic, base64 (SDK default) equal to float', async () => {
      const input = [
        'how much does shipping cost to Germany',
        "what's the delivery price to germany?",
        'are you open on sunday',
      ]
      const a = await client.embeddings.create({ model: 'text-embedding-3-small', input })
      const b = await client.embeddings.create({
        model: 'text-embedding-3-small',
        input,
        encoding_format: 'float',
      })
      expect(a.data).toHaveLength(3)
      for (const [i, d] of a.data.entries()) {
        expect(d.embedding).toHaveLength(1536)
        expect(Math.abs(norm(d.embedding) - 1)).toBeLessThan(1e-6)
        const f = b.data[i]?.embedding as number[]
        expect(Math.abs(norm(f) - 1)).toBeLessThan(1e-6)
        for (let k = 0; k < 1536; k++)
          expect(Math.abs((d.embedding[k] as number) - (f[k] as number))).toBeLessThan(1e-6)
      }
      const again = await client.embeddings.create({
        model: 'text-embedding-3-small',
        input: input[0] as string,
        encoding_format: 'float',
      })
      expect(again.data[0]?.embedding).toEqual(b.data[0]?.embedding)
      const [ship, delivery, open] = b.data.map((d) => d.embedding)
      expect(cosine(ship as number[], delivery as number[])).toBeGreaterThan(
        cosine(ship as number[], open as number[]) + 0.15,
      )
      expect(a.usage.prompt_tokens).toBe(input.reduce((s, t) => s + countTokens(t), 0))
    })
    it('rejects an empty string and an unknown model', async () => {
      await expect(
        client.embeddings.create({ model: 'text-embedding-3-small', input: '' }),
      ).rejects.toMatchObject({ status: 400 })
      await expect(client.embeddings.create({ model: 'nope', input: 'x' })).rejects.toMatchObject({
        status: 404,
      })
    })
  })

  describe('fault knobs', () => {
    it('fails the next N requests with 429 and retry-after, then serves again (SDK retries through it)', async () => {
      sut.faults.failNext(2, 429, { retryAfterSec: 0.01, paths: '/chat/completions' })
      const retrying = new OpenAI({ apiKey: 'k', baseURL: sut.baseURL, maxRetries: 3 })
      const res = await retrying.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
      })
      expect(res.choices[0]?.message.content).toBeTruthy()
    })
    it('can be set over HTTP and reports 500 with OpenAI error body', async () => {
      const set = await fetch(`${sut.url}/_admin/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ failNext: 1, status: 500 }),
      })
      expect(set.status).toBe(200)
      await expect(client.models.list()).rejects.toMatchObject({ status: 500 })
      expect((await client.models.retrieve('gpt-4o')).id).toBe('gpt-4o')
    })
    it('adds latency and resets', async () => {
      sut.faults.setLatency(50)
      const t0 = Date.now()
      await client.models.retrieve('gpt-4o')
      expect(Date.now() - t0).toBeGreaterThanOrEqual(45)
      sut.faults.reset()
    })
  })
})

describe('buildOpenAILocalApp', () => {
  it('serves inject requests without listening', async () => {
    const app = buildOpenAILocalApp()
    const res = await app.inject({ method: 'GET', url: '/v1/models/gpt-4o-mini' })
    expect(res.statusCode).toBe(200)
    expect(res.json().id).toBe('gpt-4o-mini')
    const missing = await app.inject({ method: 'GET', url: '/v1/nope' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json().error.type).toBe('invalid_request_error')
    await app.close()
  })
})
