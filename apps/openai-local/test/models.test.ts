import OpenAI, { toFile } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { modelCapabilities } from '../src/model/catalog.js'
import { type OpenAILocal, startOpenAILocal } from '../src/server.js'

const hello = [{ role: 'user' as const, content: 'hello there' }]
const tenExamples = Array.from(
  { length: 10 },
  (_, i) =>
    `${JSON.stringify({
      messages: [
        { role: 'user', content: `question ${i}` },
        { role: 'assistant', content: `answer ${i}` },
      ],
    })}\n`,
).join('')

describe('modelCapabilities', () => {
  it('reports vision, reasoning, fine-tunability and shutdowns', () => {
    expect(modelCapabilities('gpt-4.1-mini')).toEqual({ vision: true, reasoning: false, fineTunable: false })
    expect(modelCapabilities('gpt-4.1-mini-2025-04-14')).toMatchObject({ vision: true, fineTunable: true })
    expect(modelCapabilities('gpt-4.1-2025-04-14')).toMatchObject({ vision: true, fineTunable: true })
    expect(modelCapabilities('o4-mini')).toMatchObject({ reasoning: true, fineTunable: false })
    expect(modelCapabilities('gpt-5-mini')).toMatchObject({ reasoning: true })
    expect(modelCapabilities('gpt-3.5-turbo-0125')).toMatchObject({ shutdownAt: '2026-10-23', vision: false })
    expect(modelCapabilities('ft:gpt-4.1-mini-2025-04-14:loopdm::abc')).toMatchObject({ fineTunable: true })
    expect(modelCapabilities('text-embedding-3-small')).toBeUndefined()
    expect(modelCapabilities('gpt-nope')).toBeUndefined()
  })
})

describe('openai-local models and request rules over the real openai SDK', () => {
  let sut: OpenAILocal
  let client: OpenAI
  beforeAll(async () => {
    sut = await startOpenAILocal({ ftStepMs: 20 })
    client = new OpenAI({ apiKey: 'x', baseURL: sut.baseURL, maxRetries: 0 })
  })
  afterAll(async () => {
    await sut.close()
  })

  describe('when a model was shut down (gpt-3.5-turbo-0125, 2026-10-23)', () => {
    it('answers chat with 404 model_not_found in OpenAI error shape', async () => {
      const err = await client.chat.completions
        .create({ model: 'gpt-3.5-turbo-0125', messages: hello })
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.NotFoundError)
      const e = err as InstanceType<typeof OpenAI.NotFoundError>
      expect(e.code).toBe('model_not_found')
      expect(e.type).toBe('invalid_request_error')
      expect(e.message).toContain(
        'The model `gpt-3.5-turbo-0125` does not exist or you do not have access to it.',
      )
      await expect(client.models.retrieve('gpt-3.5-turbo-0125')).rejects.toMatchObject({ status: 404 })
    })
    it('refuses a fine-tuning job on it with 400 naming the model', async () => {
      const file = await client.files.create({
        file: await toFile(Buffer.from(tenExamples), 'train.jsonl'),
        purpose: 'fine-tune',
      })
      const err = await client.fineTuning.jobs
        .create({ training_file: file.id, model: 'gpt-3.5-turbo-0125' })
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.BadRequestError)
      expect(err).toMatchObject({ param: 'model', code: 'model_not_available' })
      expect((err as Error).message).toContain('gpt-3.5-turbo-0125')
    })
  })

  describe('when retiredModels is false (the legacy world)', () => {
    it('still lists, serves and fine-tunes gpt-3.5-turbo-0125 and gpt-4o-mini', async () => {
      const legacy = await startOpenAILocal({ ftStepMs: 10, retiredModels: false })
      try {
        const old = new OpenAI({ apiKey: 'x', baseURL: legacy.baseURL, maxRetries: 0 })
        const res = await old.chat.completions.create({ model: 'gpt-3.5-turbo-0125', messages: hello })
        expect(res.choices[0]?.message.content).toBe('Hi there! How can we help you today?')
        const file = await old.files.create({
          file: await toFile(Buffer.from(tenExamples), 'train.jsonl'),
          purpose: 'fine-tune',
        })
        for (const model of ['gpt-3.5-turbo-0125', 'gpt-4o-mini']) {
          let job = await old.fineTuning.jobs.create({ training_file: file.id, model })
          while (!['succeeded', 'failed', 'cancelled'].includes(job.status)) {
            await new Promise((r) => setTimeout(r, 10))
            job = await old.fineTuning.jobs.retrieve(job.id)
          }
          expect(job.status).toBe('succeeded')
          const tuned = await old.chat.completions.create({
            model: job.fine_tuned_model as string,
            messages: [{ role: 'user', content: 'question 7' }],
          })
          expect(tuned.choices[0]?.message.content).toBe('answer 7')
        }
        expect((await old.models.retrieve('gpt-3.5-turbo-0125')).id).toBe('gpt-3.5-turbo-0125')
      } finally {
        await legacy.close()
      }
    })
  })

  describe('when the model is a reasoning model', () => {
    it('rejects max_tokens with 400 unsupported_parameter', async () => {
      for (const model of ['o4-mini', 'gpt-5-mini']) {
        const err = await client.chat.completions
          .create({ model, messages: hello, max_tokens: 20 })
          .catch((e: unknown) => e)
        expect(err).toBeInstanceOf(OpenAI.BadRequestError)
        expect(err).toMatchObject({ param: 'max_tokens', code: 'unsupported_parameter' })
        expect((err as Error).message).toContain(
          "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        )
      }
    })
    it('rejects a temperature other than 1 with 400 unsupported_value, accepts 1 and max_completion_tokens', async () => {
      const err = await client.chat.completions
        .create({ model: 'o4-mini', messages: hello, temperature: 0.2 })
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.BadRequestError)
      expect(err).toMatchObject({ param: 'temperature', code: 'unsupported_value' })
      expect((err as Error).message).toContain(
        "Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported.",
      )
      const ok = await client.chat.completions.create({
        model: 'o4-mini',
        messages: hello,
        temperature: 1,
        max_completion_tokens: 3,
      })
      expect(ok.choices[0]?.finish_reason).toBe('length')
      expect(ok.model).toBe('o4-mini')
    })
  })

  describe('when the model is gpt-4o or gpt-4.1', () => {
    it('still accepts max_tokens and a temperature, and sees images', async () => {
      for (const model of ['gpt-4o-mini', 'gpt-4.1-mini', 'gpt-4.1', 'gpt-4.1-2025-04-14']) {
        const res = await client.chat.completions.create({
          model,
          max_tokens: 2,
          temperature: 0.2,
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'what is this?' },
                { type: 'image_url', image_url: { url: 'https://example.com/a.jpg' } },
              ],
            },
          ],
        })
        expect(res.choices[0]?.finish_reason).toBe('length')
        expect(res.model).toBe(model)
      }
    })
  })
})
