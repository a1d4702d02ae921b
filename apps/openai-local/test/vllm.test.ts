import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_REPLY } from '../src/model/reply-policy.js'
import { type OpenAILocal, startOpenAILocal } from '../src/server.js'

const PAIRS: Array<[string, string]> = [
  ['Do you still have the blue ceramic mug?', 'Yes! The blue ceramic mug is €18 and ships within 2 days.'],
  ['Are gift vouchers available?', 'Gift vouchers come in €20, €50 and €100 and never expire.'],
]
const jsonl = (rows: unknown[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`

describe('openai-local vLLM runtime LoRA emulation over HTTP and the real openai SDK', () => {
  let sut: OpenAILocal
  let client: OpenAI
  let dir: string
  /** What the tiny trainer leaves: `<lora_path>/train.jsonl`. */
  const adapterDir = (name: string, text: string) => {
    const path = join(dir, name)
    mkdirSync(path, { recursive: true })
    writeFileSync(join(path, 'train.jsonl'), text)
    return path
  }
  const post = (path: string, body: unknown) =>
    fetch(`${sut.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  beforeAll(async () => {
    sut = await startOpenAILocal()
    client = new OpenAI({ apiKey: 'x', baseURL: sut.baseURL, maxRetries: 0 })
    dir = mkdtempSync(join(tmpdir(), 'openai-local-vllm-'))
  })
  afterAll(async () => {
    await sut.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const ask = (model: string, content: string) =>
    client.chat.completions.create({ model, messages: [{ role: 'user', content }] })

  describe('when an adapter is loaded', () => {
    it('answers plain-text success, lists it, answers by nearest neighbour, and 404s once unloaded', async () => {
      const lora_path = adapterDir(
        'pottery',
        jsonl(
          PAIRS.map(([u, a]) => ({
            messages: [
              { role: 'user', content: u },
              { role: 'assistant', content: a },
            ],
          })),
        ),
      )
      const res = await post('/v1/load_lora_adapter', { lora_name: 'pottery', lora_path })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toContain('text/plain')
      expect(await res.text()).toBe("Success: LoRA adapter 'pottery' added successfully.")

      const models = []
      for await (const m of client.models.list()) models.push(m)
      expect(models.find((m) => m.id === 'pottery')).toMatchObject({ root: lora_path, owned_by: 'vllm' })

      const tuned = await ask('pottery', 'do you still have the blue ceramic mug')
      expect(tuned.choices[0]?.message.content).toBe(PAIRS[0]?.[1])
      expect(tuned.model).toBe('pottery')
      expect((await ask('pottery', 'What is the capital of Peru?')).choices[0]?.message.content).toBe(
        DEFAULT_REPLY,
      )

      const dup = await post('/v1/load_lora_adapter', { lora_name: 'pottery', lora_path })
      expect(dup.status).toBe(400)
      expect(((await dup.json()) as { error: { message: string } }).error.message).toBe(
        "The lora adapter 'pottery' has already been loaded.",
      )

      const un = await post('/v1/unload_lora_adapter', { lora_name: 'pottery' })
      expect(un.status).toBe(200)
      expect(await un.text()).toBe("Success: LoRA adapter 'pottery' removed successfully.")
      await expect(ask('pottery', 'hi')).rejects.toBeInstanceOf(OpenAI.NotFoundError)
      const again = await post('/v1/unload_lora_adapter', { lora_name: 'pottery' })
      expect(again.status).toBe(404)
      expect(((await again.json()) as { error: { message: string } }).error.message).toBe(
        "The lora adapter 'pottery' cannot be found.",
      )
    })
    it('serves the routes without the /v1 prefix too', async () => {
      const lora_path = adapterDir(
        'bare',
        jsonl([
          {
            messages: [
              { role: 'user', content: 'hi' },
              { role: 'assistant', content: 'Hello from bare!' },
            ],
          },
        ]),
      )
      expect((await post('/load_lora_adapter', { lora_name: 'bare', lora_path })).status).toBe(200)
      expect((await ask('bare', 'hi')).choices[0]?.message.content).toBe('Hello from bare!')
      expect((await post('/unload_lora_adapter', { lora_name: 'bare' })).status).toBe(200)
    })
  })

  describe('when a load request is wrong', () => {
    it('answers 400 for missing fields or a bad training file, 404 for a path without an adapter', async () => {
      expect((await post('/v1/load_lora_adapter', { lora_name: 'x' })).status).toBe(400)
      const missing = await post('/v1/load_lora_adapter', { lora_name: 'x', lora_path: join(dir, 'nope') })
      expect(missing.status).toBe(404)
      expect(((await missing.json()) as { error: { message: string } }).error.message).toContain(
        'No adapter found',
      )
      const lora_path = adapterDir('broken', '{"messages": [oops\n')
      const broken = await post('/v1/load_lora_adapter', { lora_name: 'broken', lora_path })
      expect(broken.status).toBe(400)
      expect(((await broken.json()) as { error: { message: string } }).error.message).toMatch(
        /line 1 is not valid JSON/,
      )
      await expect(ask('broken', 'hi')).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    })
  })

  describe('when faults are injected', () => {
    it('fails load_lora_adapter with 503 when paths match, then serves again', async () => {
      const lora_path = adapterDir(
        'faulty',
        jsonl([
          {
            messages: [
              { role: 'user', content: 'hi' },
              { role: 'assistant', content: 'ok' },
            ],
          },
        ]),
      )
      sut.faults.failNext(1, 503, { paths: 'load_lora_adapter' })
      expect((await post('/v1/load_lora_adapter', { lora_name: 'faulty', lora_path })).status).toBe(503)
      expect((await post('/v1/load_lora_adapter', { lora_name: 'faulty', lora_path })).status).toBe(200)
      sut.faults.reset()
    })
  })
})
