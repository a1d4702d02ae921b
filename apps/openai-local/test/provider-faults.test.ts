import OpenAI from 'openai'
import Together from 'together-ai'
import type { FileResponse } from 'together-ai/resources/files'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type OpenAILocal, startOpenAILocal } from '../src/server.js'

const jsonl = (n: number) =>
  `${Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      messages: [
        { role: 'user', content: `Is mug ${i} in stock?` },
        { role: 'assistant', content: `Mug ${i} is in stock and ships tomorrow.` },
      ],
    }),
  ).join('\n')}\n`

describe('openai-local coded faults and provider routes', () => {
  let sut: OpenAILocal
  let openai: OpenAI
  let together: Together
  beforeAll(async () => {
    sut = await startOpenAILocal({ port: 0, ftStepMs: 10 })
    openai = new OpenAI({ apiKey: 'x', baseURL: sut.baseURL, maxRetries: 0 })
    together = new Together({ apiKey: 'x', baseURL: sut.togetherBaseURL, maxRetries: 0 })
  })
  afterEach(() => sut.faults.reset())
  afterAll(async () => {
    await sut.close()
  })

  describe('when told to answer 403 training_not_available on job creation only', () => {
    it("answers OpenAI's error body to the POST and lets the listing through", async () => {
      const file = await openai.files.create({
        file: await OpenAI.toFile(Buffer.from(jsonl(10)), 'train.jsonl'),
        purpose: 'fine-tune',
      })
      sut.faults.failNext(1, 403, {
        paths: '/fine_tuning/jobs',
        method: 'POST',
        code: 'training_not_available',
      })
      await openai.fineTuning.jobs.list()
      const err = await openai.fineTuning.jobs
        .create({ model: 'gpt-4.1-mini-2025-04-14', training_file: file.id })
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError)
      expect(err).toMatchObject({
        status: 403,
        code: 'training_not_available',
        type: 'invalid_request_error',
      })
      expect(sut.faults.snapshot().remaining).toBe(0)
    })
  })

  describe('when told to answer 429 insufficient_quota', () => {
    it('answers the quota error, not a rate limit', async () => {
      sut.faults.failNext(1, 429, { code: 'insufficient_quota' })
      const err = await openai.models.list().catch((e: unknown) => e)
      expect(err).toMatchObject({ status: 429, code: 'insufficient_quota', type: 'insufficient_quota' })
    })

    it('can be set over HTTP with status 403', async () => {
      const res = await fetch(`${sut.url}/_admin/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ failNext: 1, status: 403 }),
      })
      expect(res.status).toBe(200)
      await expect(openai.models.list()).rejects.toMatchObject({ status: 403 })
    })
  })

  describe('when a Together fine-tune is completed', () => {
    it('its model answers at TOGETHER_BASE_URL/chat/completions, and deleting the job removes the model', async () => {
      const form = new FormData()
      form.set('purpose', 'fine-tune')
      form.set('file_name', 'mugs.jsonl')
      form.set('file_type', 'jsonl')
      form.set('file', new Blob([jsonl(3)]), 'mugs.jsonl')
      const file = await together.post<FileResponse>('/files/upload', { body: form })
      const job = await together.fineTuning.create({
        model: 'Qwen/Qwen2.5-7B-Instruct',
        training_file: file.id,
        suffix: 'mugs',
      })
      await expect(together.fineTuning.delete(job.id)).rejects.toMatchObject({ status: 400 })
      for (;;) {
        const j = await together.fineTuning.retrieve(job.id)
        if (j.status === 'completed') break
        await new Promise((r) => setTimeout(r, 10))
      }
      const chat = new OpenAI({ apiKey: 'x', baseURL: sut.togetherBaseURL, maxRetries: 0 })
      const model = job.model_output_name as string
      const res = await chat.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'is mug 2 in stock' }],
      })
      expect(res.choices[0]?.message.content).toBe('Mug 2 is in stock and ships tomorrow.')
      expect(await together.fineTuning.delete(job.id)).toMatchObject({
        message: expect.stringContaining(job.id),
      })
      await expect(together.fineTuning.retrieve(job.id)).rejects.toMatchObject({ status: 404 })
      expect((await together.fineTuning.list()).data.map((j) => j.id)).not.toContain(job.id)
      await expect(
        chat.chat.completions.create({ model, messages: [{ role: 'user', content: 'is mug 2 in stock' }] }),
      ).rejects.toMatchObject({ status: 404 })
    })
  })
})
