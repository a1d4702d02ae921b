import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { countChatTokens } from '@loopdm/platform/tokens'
import OpenAI, { toFile } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_REPLY } from '../src/model/reply-policy.js'
import { type OpenAILocal, startOpenAILocal } from '../src/server.js'

type Example = { messages: Array<{ role: string; content: string }> }
const SYSTEM = 'You are the DM assistant of Tiny Pottery Co.'
/** Today's fine-tunable bases (catalog `fineTunable`). */
const FT_BASE = 'gpt-4.1-mini-2025-04-14'
const FT_BASE_LARGE = 'gpt-4.1-2025-04-14'
const PAIRS: Array<[string, string]> = [
  ['Do you still have the blue ceramic mug?', 'Yes! The blue ceramic mug is €18 and ships within 2 days.'],
  [
    'Can I pick up my order at the studio in Leipzig?',
    'Of course — pickup at our Leipzig studio is free, Tue–Sat 10–18.',
  ],
  [
    'Is the speckled bowl dishwasher safe?',
    'The speckled bowl is dishwasher safe, but hand washing keeps the glaze bright longer.',
  ],
  [
    'Do you offer pottery workshops for kids?',
    'We run kids’ wheel workshops every Saturday at 11, €25 per child.',
  ],
  [
    'What clay do you use for the planters?',
    'Our planters are thrown in frost-proof stoneware clay from the Westerwald.',
  ],
  [
    'Can you make a custom name plate for my door?',
    'Yes, custom name plates start at €35 and take about three weeks.',
  ],
  ['Are gift vouchers available?', 'Gift vouchers come in €20, €50 and €100 and never expire.'],
  [
    'Why is my teapot lid wobbly?',
    'Handmade lids can sit loosely; send us a photo and we’ll swap it for a better fit.',
  ],
  [
    'Do you sell seconds or B-stock?',
    'Our B-stock shelf is 30% off and restocked every first Monday of the month.',
  ],
  [
    'Will the matte black vase hold water?',
    'The matte black vase is glazed inside, so it holds water perfectly.',
  ],
  [
    'Can I order twenty espresso cups for my café?',
    'Café orders of 20+ cups get 15% off; we’ll email you a quote within a day.',
  ],
  ['Is the studio wheelchair accessible?', 'Yes, the studio is step-free with an accessible restroom.'],
]
const example = ([u, a]: [string, string]): Example => ({
  messages: [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: u },
    { role: 'assistant', content: a },
  ],
})
const jsonl = (rows: unknown[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`

async function upload(client: OpenAI, text: string, name = 'train.jsonl') {
  return client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'fine-tune' })
}

async function waitForJob(client: OpenAI, id: string, timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs
  const seen: string[] = []
  for (;;) {
    const job = await client.fineTuning.jobs.retrieve(id)
    if (seen[seen.length - 1] !== job.status) seen.push(job.status)
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return { job, seen }
    if (Date.now() > until) throw new Error(`job ${id} still ${job.status}`)
    await new Promise((r) => setTimeout(r, 15))
  }
}

const chat = (client: OpenAI, model: string, content: string) =>
  client.chat.completions.create({
    model,
    messages: [
      { role: 'system', content: SYSTEM },
      { role: 'user', content },
    ],
  })

describe('openai-local fine-tuning over the real openai SDK', () => {
  let sut: OpenAILocal
  let client: OpenAI
  beforeAll(async () => {
    sut = await startOpenAILocal({ ftStepMs: 20 })
    client = new OpenAI({ apiKey: 'any', baseURL: sut.baseURL, maxRetries: 0 })
  })
  afterAll(async () => {
    await sut.close()
  })

  describe('when the training file is valid', () => {
    it('uploads, fine-tunes to succeeded, lists the ft model, answers trained prompts, and 404s once deleted', async () => {
      const file = await upload(client, jsonl(PAIRS.map(example)))
      expect(file).toMatchObject({
        object: 'file',
        purpose: 'fine-tune',
        filename: 'train.jsonl',
        status: 'processed',
      })

      const created = await client.fineTuning.jobs.create({
        training_file: file.id,
        model: FT_BASE,
        hyperparameters: { n_epochs: 2 },
        suffix: 'pottery',
      })
      expect(created.status).toBe('validating_files')
      const { job, seen } = await waitForJob(client, created.id)
      expect(job.status, JSON.stringify(job.error)).toBe('succeeded')
      expect(seen[seen.length - 1]).toBe('succeeded')
      expect(job.fine_tuned_model).toMatch(/^ft:gpt-4\.1-mini-2025-04-14:loopdm:pottery:[A-Za-z0-9]+$/)
      const tokens = PAIRS.map(example).reduce((s, e) => s + countChatTokens(e.messages), 0)
      expect(job.trained_tokens).toBe(tokens * 2)
      expect(job.hyperparameters.n_epochs).toBe(2)

      const events = []
      for await (const e of client.fineTuning.jobs.listEvents(job.id, { limit: 3 })) events.push(e.message)
      const inOrder = [...events].reverse()
      const at = (s: string) => inOrder.findIndex((m) => m.includes(s))
      expect(at('Validating training file')).toBeGreaterThanOrEqual(0)
      expect(at('Files validated')).toBeGreaterThan(at('Validating training file'))
      expect(at('Fine-tuning job started')).toBeGreaterThan(at('Files validated'))
      expect(at(`New fine-tuned model created: ${job.fine_tuned_model}`)).toBeGreaterThan(at('started'))
      expect(at('successfully completed')).toBe(inOrder.length - 1)

      const model = job.fine_tuned_model as string
      const ids = []
      for await (const m of client.models.list()) ids.push(m.id)
      expect(ids).toContain(model)
      expect((await client.models.retrieve(model)).id).toBe(model)

      const [prompt, answer] = PAIRS[3] as [string, string]
      const tuned = await chat(client, model, prompt)
      expect(tuned.choices[0]?.message.content).toBe(answer)
      expect(tuned.model).toBe(model)
      const base = await chat(client, FT_BASE, prompt)
      expect(base.choices[0]?.message.content).not.toBe(answer)
      // A near-verbatim prompt still finds its example; an unrelated one falls back to the base policy.
      expect(
        (await chat(client, model, 'do you still have the blue ceramic mug')).choices[0]?.message.content,
      ).toBe(PAIRS[0]?.[1])
      expect((await chat(client, model, 'What is the capital of Peru?')).choices[0]?.message.content).toBe(
        DEFAULT_REPLY,
      )

      const jobs = []
      for await (const j of client.fineTuning.jobs.list()) jobs.push(j.id)
      expect(jobs).toContain(job.id)

      expect(await client.models.delete(model)).toMatchObject({ id: model, deleted: true })
      await expect(chat(client, model, prompt)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
      await expect(client.models.retrieve(model)).rejects.toMatchObject({ status: 404 })
      await expect(client.models.delete(model)).rejects.toMatchObject({ status: 404 })
    })
  })

  describe('when the training file is invalid', () => {
    const cases: Array<[string, string, RegExp]> = [
      [
        'only 3 examples',
        jsonl(PAIRS.slice(0, 3).map(example)),
        /3 example\(s\), but must have at least 10 examples/,
      ],
      [
        'a missing assistant turn',
        jsonl([
          ...PAIRS.slice(0, 5).map(example),
          {
            messages: [
              { role: 'system', content: SYSTEM },
              { role: 'user', content: 'hello?' },
            ],
          },
          ...PAIRS.slice(5).map(example),
        ]),
        /line 6 has no assistant message/,
      ],
      [
        'a non-JSON line',
        `${jsonl(PAIRS.slice(0, 8).map(example))}{"messages": [oops\n${jsonl(PAIRS.slice(8).map(example))}`,
        /line 9 is not valid JSON/,
      ],
      [
        'an extra key',
        jsonl([{ ...example(PAIRS[0] as [string, string]), prompt: 'x' }, ...PAIRS.slice(1).map(example)]),
        /line 1 has unexpected key\(s\) "prompt"/,
      ],
      [
        'an unknown role',
        jsonl([
          {
            messages: [
              { role: 'robot', content: 'x' },
              { role: 'assistant', content: 'y' },
            ],
          },
          ...PAIRS.map(example),
        ]),
        /line 1, message 1 has an invalid role "robot"/,
      ],
      [
        'empty content',
        jsonl([...PAIRS.slice(0, 11).map(example), example(['   ', 'ok'])]),
        /line 12, message 2 \(user\) has missing or empty content/,
      ],
      [
        'an example over the token limit',
        jsonl([...PAIRS.map(example), example([`${'pottery '.repeat(66_000)}?`, 'ok'])]),
        /line 13 has \d+ tokens, over the 65536-token limit per example for gpt-4\.1-mini-2025-04-14/,
      ],
    ]
    for (const [name, text, expected] of cases) {
      it(`ends failed naming the problem: ${name}`, async () => {
        const file = await upload(client, text)
        const created = await client.fineTuning.jobs.create({ training_file: file.id, model: FT_BASE })
        const { job } = await waitForJob(client, created.id)
        expect(job.status).toBe('failed')
        expect(job.fine_tuned_model).toBeNull()
        expect(job.error?.code).toBe('invalid_training_file')
        expect(job.error?.param).toBe('training_file')
        expect(job.error?.message).toMatch(expected)
        const events = await client.fineTuning.jobs.listEvents(job.id)
        expect(events.data.some((e) => e.level === 'error' && expected.test(e.message))).toBe(true)
      })
    }

    it('accepts an example the 16,385-token limit of older bases would have refused', async () => {
      const file = await upload(
        client,
        jsonl([...PAIRS.map(example), example([`${'pottery '.repeat(17_000)}?`, 'ok'])]),
      )
      const created = await client.fineTuning.jobs.create({ training_file: file.id, model: FT_BASE_LARGE })
      const { job } = await waitForJob(client, created.id)
      expect(job.status).toBe('succeeded')
      expect(job.fine_tuned_model).toMatch(/^ft:gpt-4\.1-2025-04-14:loopdm::/)
    })
  })

  describe('when a job request itself is wrong', () => {
    it('answers 400 for an unknown file, a wrong purpose or a model that cannot be fine-tuned', async () => {
      await expect(
        client.fineTuning.jobs.create({ training_file: 'file-nope', model: FT_BASE }),
      ).rejects.toMatchObject({ status: 400, param: 'training_file' })
      const file = await upload(client, jsonl(PAIRS.map(example)))
      await expect(
        client.fineTuning.jobs.create({ training_file: file.id, model: 'text-embedding-3-small' }),
      ).rejects.toMatchObject({
        status: 400,
        param: 'model',
      })
      for (const model of ['gpt-4o-mini', 'gpt-4.1-mini', 'o4-mini'])
        await expect(client.fineTuning.jobs.create({ training_file: file.id, model })).rejects.toMatchObject({
          status: 400,
          param: 'model',
          code: 'model_not_available',
        })
      await expect(client.fineTuning.jobs.retrieve('ftjob-nope')).rejects.toMatchObject({ status: 404 })
    })
    it('refuses a fine-tune upload that is not .jsonl', async () => {
      await expect(upload(client, 'x', 'train.txt')).rejects.toMatchObject({ status: 400 })
    })
  })

  describe('files API', () => {
    it('lists, retrieves, downloads and deletes a file', async () => {
      const text = jsonl(PAIRS.map(example))
      const file = await upload(client, text)
      expect(file.bytes).toBe(Buffer.byteLength(text))
      expect((await client.files.retrieve(file.id)).filename).toBe('train.jsonl')
      const ids = []
      for await (const f of client.files.list()) ids.push(f.id)
      expect(ids).toContain(file.id)
      expect(await (await client.files.content(file.id)).text()).toBe(text)
      expect(await client.files.delete(file.id)).toMatchObject({ id: file.id, deleted: true })
      await expect(client.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 })
    })
  })
})

describe('openai-local fine-tuning lifecycle', () => {
  const dirs: string[] = []
  const servers: OpenAILocal[] = []
  const start = async (opts: Parameters<typeof startOpenAILocal>[0]) => {
    const s = await startOpenAILocal(opts)
    servers.push(s)
    return { s, client: new OpenAI({ apiKey: 'any', baseURL: s.baseURL, maxRetries: 0 }) }
  }
  afterAll(async () => {
    for (const s of servers) await s.close()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it('cancels a running job', async () => {
    const { client } = await start({ ftStepMs: 60_000 })
    const file = await upload(client, jsonl(PAIRS.map(example)))
    const created = await client.fineTuning.jobs.create({ training_file: file.id, model: FT_BASE_LARGE })
    const cancelled = await client.fineTuning.jobs.cancel(created.id)
    expect(cancelled.status).toBe('cancelled')
    await expect(client.fineTuning.jobs.cancel(created.id)).rejects.toMatchObject({ status: 400 })
    const events = await client.fineTuning.jobs.listEvents(created.id)
    expect(events.data[0]?.message).toContain('cancelled')
  })

  it('keeps files, jobs and models across a restart, and resumes a job in progress', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openai-local-'))
    dirs.push(dir)
    const a = await start({ dataDir: dir, ftStepMs: 20 })
    const file = await upload(a.client, jsonl(PAIRS.map(example)))
    const first = (
      await waitForJob(
        a.client,
        (
          await a.client.fineTuning.jobs.create({ training_file: file.id, model: FT_BASE })
        ).id,
      )
    ).job
    expect(first.status).toBe('succeeded')
    await a.s.close()

    // A job created on a slow server, then the server stops before it finishes …
    const b = await start({ dataDir: dir, ftStepMs: 60_000 })
    const pending = await b.client.fineTuning.jobs.create({
      training_file: file.id,
      model: FT_BASE_LARGE,
      suffix: 'resumed',
    })
    await b.s.close()

    // … resumes on the next start and finishes.
    const c = await start({ dataDir: dir, ftStepMs: 20 })
    expect((await c.client.files.retrieve(file.id)).id).toBe(file.id)
    expect((await c.client.fineTuning.jobs.retrieve(first.id)).fine_tuned_model).toBe(first.fine_tuned_model)
    const resumed = (await waitForJob(c.client, pending.id)).job
    expect(resumed.status).toBe('succeeded')
    expect(resumed.fine_tuned_model).toMatch(/^ft:gpt-4\.1-2025-04-14:loopdm:resumed:/)
    const [prompt, answer] = PAIRS[6] as [string, string]
    expect((await chat(c.client, first.fine_tuned_model as string, prompt)).choices[0]?.message.content).toBe(
      answer,
    )
    await c.client.models.delete(resumed.fine_tuned_model as string)
    await c.s.close()

    const d = await start({ dataDir: dir, ftStepMs: 20 })
    const ids = []
    for await (const m of d.client.models.list()) ids.push(m.id)
    expect(ids).toContain(first.fine_tuned_model)
    expect(ids).not.toContain(resumed.fine_tuned_model)
    expect(await (await d.client.files.content(file.id)).text()).toBe(jsonl(PAIRS.map(example)))
  })

  it('answers 404 "not yet available" until callableAfterMs has passed', async () => {
    const { client } = await start({ ftStepMs: 20, callableAfterMs: 60_000 })
    const file = await upload(client, jsonl(PAIRS.map(example)))
    const { job } = await waitForJob(
      client,
      (await client.fineTuning.jobs.create({ training_file: file.id, model: FT_BASE_LARGE })).id,
    )
    const err = await chat(client, job.fine_tuned_model as string, 'hi').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.NotFoundError)
    expect((err as Error).message).toContain('not yet available')
  })
})
