import OpenAI, { toFile } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_REPLY } from '../src/model/reply-policy.js'
import { type OpenAILocal, startOpenAILocal } from '../src/server.js'

const FT_BASE = 'gpt-4.1-mini-2025-04-14'
type Msg = { role: string; content: string; weight?: unknown }
const line = (messages: Msg[]) => JSON.stringify({ messages })
const filler = Array.from({ length: 10 }, (_, i) =>
  line([
    { role: 'user', content: `Do you sell glaze colour number ${i}?` },
    { role: 'assistant', content: `Glaze ${i} is in stock.` },
  ]),
)

describe('openai-local fine-tuning method and weights over the real openai SDK', () => {
  let sut: OpenAILocal
  let client: OpenAI
  beforeAll(async () => {
    sut = await startOpenAILocal({ ftStepMs: 10 })
    client = new OpenAI({ apiKey: 'x', baseURL: sut.baseURL, maxRetries: 0 })
  })
  afterAll(async () => {
    await sut.close()
  })
  const upload = async (lines: string[]) =>
    client.files.create({
      file: await toFile(Buffer.from(`${lines.join('\n')}\n`), 'train.jsonl'),
      purpose: 'fine-tune',
    })
  const settle = async (id: string) => {
    for (;;) {
      const job = await client.fineTuning.jobs.retrieve(id)
      if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return job
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  describe('when the job uses method: supervised', () => {
    it('echoes method with the resolved hyperparameters and trains n_epochs', async () => {
      const file = await upload(filler)
      const created = await client.fineTuning.jobs.create({
        training_file: file.id,
        model: FT_BASE,
        method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 4 } } },
      })
      expect(created.method).toMatchObject({
        type: 'supervised',
        supervised: { hyperparameters: { n_epochs: 4 } },
      })
      const job = await settle(created.id)
      expect(job.status).toBe('succeeded')
      expect(job.method?.supervised?.hyperparameters).toMatchObject({ n_epochs: 4, batch_size: 1 })
      expect(job.hyperparameters.n_epochs).toBe(4)
    })
    it('still accepts top-level hyperparameters and echoes them in method', async () => {
      const file = await upload(filler)
      const created = await client.fineTuning.jobs.create({
        training_file: file.id,
        model: FT_BASE,
        hyperparameters: { n_epochs: 2 },
      })
      expect(created.method).toMatchObject({
        type: 'supervised',
        supervised: { hyperparameters: { n_epochs: 2 } },
      })
    })
    it('refuses a method openai-local does not emulate with 400 naming method.type', async () => {
      const file = await upload(filler)
      await expect(
        client.fineTuning.jobs.create({ training_file: file.id, model: FT_BASE, method: { type: 'dpo' } }),
      ).rejects.toMatchObject({ status: 400, param: 'method.type' })
    })
  })

  describe('when training lines carry weights', () => {
    it('does not learn weight-0 assistant turns, learns weight-1 ones', async () => {
      const multiTurn = line([
        { role: 'system', content: 'Tiny Pottery Co.' },
        { role: 'user', content: 'Could you repair my chipped plates?' },
        { role: 'assistant', content: 'BAD earlier bot answer', weight: 0 },
        { role: 'user', content: 'How long does a private lesson take?' },
        { role: 'assistant', content: 'A private lesson takes 90 minutes.', weight: 1 },
      ])
      const file = await upload([...filler, multiTurn])
      const job = await settle(
        (await client.fineTuning.jobs.create({ training_file: file.id, model: FT_BASE })).id,
      )
      expect(job.status).toBe('succeeded')
      const ask = async (content: string) =>
        (
          await client.chat.completions.create({
            model: job.fine_tuned_model as string,
            messages: [{ role: 'user', content }],
          })
        ).choices[0]?.message.content
      expect(await ask('How long does a private lesson take?')).toBe('A private lesson takes 90 minutes.')
      const unlearned = await ask('Could you repair my chipped plates?')
      expect(unlearned).not.toBe('BAD earlier bot answer')
      expect(unlearned).toBe(DEFAULT_REPLY)
    })
    const bad: Array<[string, Msg[], RegExp]> = [
      [
        'a weight on a user message',
        [
          { role: 'user', content: 'hi', weight: 1 },
          { role: 'assistant', content: 'hello' },
        ],
        /line 11, message 1 \(user\) has a "weight"/,
      ],
      [
        'a weight other than 0 or 1',
        [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'hello', weight: 0.5 },
        ],
        /line 11, message 2 has an invalid weight/,
      ],
    ]
    for (const [name, messages, expected] of bad) {
      it(`fails the job naming the line for ${name}`, async () => {
        const file = await upload([...filler, line(messages)])
        const job = await settle(
          (await client.fineTuning.jobs.create({ training_file: file.id, model: FT_BASE })).id,
        )
        expect(job.status).toBe('failed')
        expect(job.error?.code).toBe('invalid_training_file')
        expect(job.error?.message).toMatch(expected)
      })
    }
  })
})
