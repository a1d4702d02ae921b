import OpenAI from 'openai'
import Together from 'together-ai'
import type { FileResponse } from 'together-ai/resources/files'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type OpenAILocal, startOpenAILocal } from '../src/server.js'

const BASE = 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference'
const PAIRS: Array<[string, string]> = [
  ['Do you still have the blue ceramic mug?', 'Yes! The blue ceramic mug is €18 and ships within 2 days.'],
  ['Are gift vouchers available?', 'Gift vouchers come in €20, €50 and €100 and never expire.'],
  ['Is the studio wheelchair accessible?', 'Yes, the studio is step-free with an accessible restroom.'],
]
/**
 * Uploads through Together's documented one-step `POST /files/upload` (multipart), sent by the
 * SDK's own client. The SDK's `files.upload` helper cannot work in Node (together-ai 0.52): it
 * PUTs a stream without `duplex: 'half'`, reads `TOGETHER_API_BASE_URL` instead of the client's
 * baseURL, and its ESM build reaches `fs` through `require` (togethercomputer/together-typescript
 * PR #249). Its two-step protocol is tested below over plain HTTP.
 */
const upload = (client: Together, name: string, text: string) => {
  const form = new FormData()
  form.set('purpose', 'fine-tune')
  form.set('file_name', name)
  form.set('file_type', 'jsonl')
  form.set('file', new Blob([text]), name)
  return client.post<FileResponse>('/files/upload', { body: form })
}
const jsonl = (rows: unknown[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`
const good = jsonl(
  PAIRS.map(([u, a]) => ({
    messages: [
      { role: 'user', content: u },
      { role: 'assistant', content: a },
    ],
  })),
)

describe('openai-local Together emulation over the real together-ai SDK', () => {
  let sut: OpenAILocal
  let together: Together
  let openai: OpenAI
  const settle = async (id: string) => {
    const seen: string[] = []
    for (;;) {
      const job = await together.fineTuning.retrieve(id)
      if (seen.at(-1) !== job.status) seen.push(job.status)
      if (['completed', 'error', 'cancelled'].includes(job.status)) return { job, seen }
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  beforeAll(async () => {
    sut = await startOpenAILocal({ ftStepMs: 15 })
    together = new Together({ apiKey: 'x', baseURL: sut.togetherBaseURL, maxRetries: 0 })
    openai = new OpenAI({ apiKey: 'x', baseURL: sut.baseURL, maxRetries: 0 })
  })
  afterAll(async () => {
    await sut.close()
  })

  describe('when the training file is valid', () => {
    it('uploads, fine-tunes (LoRA) to completed, and the output model answers trained prompts', async () => {
      const uploaded = await upload(together, 'train.jsonl', good)
      expect(uploaded).toMatchObject({
        object: 'file',
        purpose: 'fine-tune',
        FileType: 'jsonl',
        Processed: true,
      })
      expect(uploaded.id).toMatch(/^file-/)
      expect((await together.files.list()).data.map((f) => f.id)).toContain(uploaded.id)

      const created = await together.fineTuning.create({
        model: BASE,
        training_file: uploaded.id,
        n_epochs: 2,
        suffix: 'pottery',
      })
      expect(created.status).toBe('pending')
      expect(created.training_type).toMatchObject({ type: 'Lora' })
      expect(created.model_output_name).toMatch(
        /^loopdm\/Meta-Llama-3\.1-8B-Instruct-Reference-pottery-[0-9a-f]{8}$/,
      )

      const { job, seen } = await settle(created.id)
      expect(job.status).toBe('completed')
      expect(seen.at(-1)).toBe('completed')
      expect(job.n_epochs).toBe(2)
      expect((await together.fineTuning.list()).data.map((j) => j.id)).toContain(job.id)
      const events = (await together.fineTuning.listEvents(job.id)).data
      expect(events.every((e) => e.object === 'fine-tune-event')).toBe(true)
      expect(events.map((e) => e.type)).toEqual(
        expect.arrayContaining(['job_pending', 'epoch_complete', 'job_complete']),
      )

      const model = created.model_output_name as string
      const res = await openai.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'are gift vouchers available' }],
      })
      expect(res.choices[0]?.message.content).toBe(PAIRS[1]?.[1])
      expect(res.model).toBe(model)
    })
  })

  describe('when uploading with the two-step protocol the SDK speaks', () => {
    it('answers POST /files with 302 + x-together-file-id, takes the PUT, then serves the file', async () => {
      const announce = await fetch(`${sut.togetherBaseURL}/files`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Bearer x' },
        body: new URLSearchParams({
          file_name: '/tmp/two-step.jsonl',
          file_type: 'jsonl',
          purpose: 'fine-tune',
        }),
        redirect: 'manual',
      })
      expect(announce.status).toBe(302)
      const id = announce.headers.get('x-together-file-id') as string
      const location = announce.headers.get('location') as string
      expect(id).toMatch(/^file-/)
      const put = await fetch(location, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: Buffer.from(good),
      })
      expect(put.status).toBe(200)
      const f = await together.files.retrieve(id)
      expect(f).toMatchObject({
        id,
        bytes: Buffer.byteLength(good),
        purpose: 'fine-tune',
        processing_status: 'COMPLETED',
      })
      expect(await (await together.files.content(id)).text()).toBe(good)
      const refused = await fetch(`${sut.togetherBaseURL}/files`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ file_name: 'x.csv', file_type: 'csv', purpose: 'fine-tune' }),
        redirect: 'manual',
      })
      expect(refused.status).toBe(400)
    })
  })

  describe('when the training file is invalid', () => {
    it('marks the upload INVALID_FORMAT and refuses the fine-tune naming the line', async () => {
      const bad = `${good}{"messages": [{"role": "user", "content": "hi"}]}\n`
      const uploaded = await upload(together, 'bad.jsonl', bad)
      expect(uploaded.validation_report?.valid).toBe(false)
      const seen = await together.files.retrieve(uploaded.id)
      expect(seen.processing_status).toBe('INVALID_FORMAT')
      expect(seen.validation_report?.error).toMatch(/line 4 has no assistant message/)
      const err = await together.fineTuning
        .create({ model: BASE, training_file: uploaded.id })
        .catch((e: unknown) => e)
      expect(err).toMatchObject({ status: 400 })
      expect((err as Error).message).toMatch(/line 4 has no assistant message/)
    })
    it('refuses an unknown base model', async () => {
      const uploaded = await upload(together, 'ok.jsonl', good)
      await expect(
        together.fineTuning.create({ model: 'gpt-4.1-mini', training_file: uploaded.id }),
      ).rejects.toMatchObject({ status: 400 })
    })
  })

  describe('when a job is cancelled', () => {
    it('ends cancelled, its model never answers, and a second cancel is refused', async () => {
      const slow = await startOpenAILocal({ ftStepMs: 60_000 })
      try {
        const client = new Together({ apiKey: 'x', baseURL: slow.togetherBaseURL, maxRetries: 0 })
        const { id } = await upload(client, 'direct.jsonl', good)
        const created = await client.fineTuning.create({ model: BASE, training_file: id })
        const cancelled = await client.fineTuning.cancel(created.id)
        expect(cancelled.status).toBe('cancelled')
        await expect(client.fineTuning.cancel(created.id)).rejects.toMatchObject({ status: 400 })
        const oai = new OpenAI({ apiKey: 'x', baseURL: slow.baseURL, maxRetries: 0 })
        await expect(
          oai.chat.completions.create({
            model: created.model_output_name as string,
            messages: [{ role: 'user', content: 'hi' }],
          }),
        ).rejects.toBeInstanceOf(OpenAI.NotFoundError)
      } finally {
        await slow.close()
      }
    })
  })

  describe('when faults are injected', () => {
    it('fails Together requests matching paths with 429, then serves again', async () => {
      sut.faults.failNext(1, 429, { paths: '/together/v1/fine-tunes' })
      await expect(together.fineTuning.list()).rejects.toMatchObject({ status: 429 })
      expect(Array.isArray((await together.fineTuning.list()).data)).toBe(true)
      sut.faults.reset()
    })
  })
})
