import type { Pool } from '@loopdm/db/pool'
import { decodeActiveModelMessage } from '@loopdm/models/hotswap'
import { createRegistryRepository } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import { createLogger } from '@loopdm/platform/logger'
import { createAiClient } from '@loopdm/platform/openai'
import { createQueue, createWorker } from '@loopdm/queues/bullmq'
import { EVALUATE_JOB_OPTIONS, EVALUATE_QUEUE, evaluateJobId } from '@loopdm/queues/contracts'
import { createRedis, type Redis } from '@loopdm/redis/client'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { snapshotRegistry } from '@loopdm/testing/registry-fixture'
import { QueueEvents, UnrecoverableError } from 'bullmq'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { processEvaluate } from '../src/jobs/evaluate.processor.js'
import { createEvalRepository } from '../src/repositories/eval.repository.js'
import { createEvaluationService } from '../src/services/evaluation.service.js'
import { type GoldItem, parseGold } from '../src/services/gold.js'
import { type FakeOpenAI, type Responder, startFakeOpenAI } from './support/fake-openai.js'

const GOLD = parseGold(
  [
    {
      id: 'g1',
      category: 'prices',
      messages: ['How much is the merino beanie?'],
      ideal: 'The merino beanie is €29, one size, 12 colours.',
      facts: ['€29'],
    },
    {
      id: 'g2',
      category: 'shipping',
      messages: ['How long does shipping to Germany take?'],
      ideal: 'Delivery in Germany takes 3–5 business days and costs €4.90, free over €60.',
      facts: ['3-5 business days', '€4.90'],
    },
    {
      id: 'g3',
      category: 'hours',
      messages: ['Are you open on Saturday?'],
      ideal: 'Yes, on Saturday we are open from 10:00 to 16:00.',
      facts: ['16:00'],
    },
    {
      id: 'g4',
      category: 'returns',
      messages: ['What is your return policy?'],
      ideal: 'You can return unworn items with the tag within 30 days of delivery.',
      facts: ['30 days'],
    },
    {
      id: 'g5',
      category: 'small_talk',
      messages: ['Hello!'],
      ideal: 'Hi! Welcome to Linden & Loom. How can I help you today?',
    },
    {
      id: 'g6',
      category: 'order_status',
      messages: ['Where is my order?'],
      ideal: 'Happy to check! Please send me your order number and I will look it up.',
      facts: ['order number'],
    },
  ]
    .map((x) => JSON.stringify(x))
    .join('\n'),
  'test-gold.jsonl',
)
const lastUser = (ms: Array<{ role: string; content: string }>) =>
  [...ms].reverse().find((m) => m.role === 'user')?.content ?? ''
const idealFor = (prompt: string) =>
  GOLD.items.find((i: GoldItem) => lastUser(i.messages) === prompt)?.ideal ?? 'pong'
const GENERIC = 'Thanks for your message! Our team will get back to you soon.'

describe('evaluation service', () => {
  let db: Pool
  let fake: FakeOpenAI
  let config: Config
  let redis: Redis
  const created: string[] = []
  let registryState: Awaited<ReturnType<typeof snapshotRegistry>>
  const good = `ft:gpt-3.5-turbo-0125:loopdm::${uniqueId('good')}`
  const bad = `ft:gpt-3.5-turbo-0125:loopdm::${uniqueId('bad')}`
  const leaky = `ft:gpt-3.5-turbo-0125:loopdm::${uniqueId('leaky')}`
  const defaultResponder: Responder = (model, messages) => {
    const prompt = lastUser(messages)
    if (model === good) return idealFor(prompt)
    if (model === leaky)
      return prompt.startsWith('Hello') ? 'Hi! Write to mira.k@example.com' : idealFor(prompt)
    return GENERIC
  }

  const build = (overrides: Record<string, string> = {}) => {
    config = testConfig({
      OPENAI_API_KEY: 'test-key',
      OPENAI_BASE_URL: fake.baseURL,
      OPENAI_MAX_RETRIES: '0',
      EVAL_HOLDOUT_SIZE: '0',
      EVAL_MIN_IMPROVEMENT: '0.05',
      ...overrides,
    })
    const ai = createAiClient({ config })
    return createEvaluationService({ db, redis, ai, config, gold: GOLD, probe: { deadlineMs: 0 } })
  }

  beforeAll(async () => {
    db = await testPool()
    registryState = await snapshotRegistry(db)
    await registryState.clearActive()
    fake = await startFakeOpenAI(defaultResponder)
    redis = createRedis({ url: testConfig().redis.url })
  })
  beforeEach(() => {
    created.push(good, bad, leaky)
  })
  afterAll(async () => {
    await registryState.restore([...new Set(created)])
    await redis.quit()
    await fake.close()
    await db.end()
  })

  describe('when the candidate beats the current model', () => {
    it('marks it approved_pending for manual review and stores every scored reply', async () => {
      const sut = build()
      const registry = createRegistryRepository(db)
      await registry.upsertModel({ model: good, status: 'candidate' })
      const r = await sut.evaluate({ candidate: good, trigger: 'tune' })

      expect(r.outcome).toBe('approved_pending')
      expect(r.current).toBe(config.models.base)
      expect(r.summaries.candidate.mean).toBeGreaterThan(r.summaries.current.mean + 0.05)
      expect(r.summaries.candidate.factRecall).toBe(1)
      expect(r.decision.gates.every((g) => g.pass)).toBe(true)
      const row = await registry.findByIdOrModel(good)
      expect(row?.status).toBe('approved_pending')
      expect(row?.metrics?.evalRunId).toBe(r.runId)
      const evals = createEvalRepository(db)
      expect(await evals.countItems(r.runId)).toEqual({ candidate: 6, current: 6, base: 6 })
      const run = await evals.findRun(r.runId)
      expect(run?.status).toBe('succeeded')
      expect(run?.decision).toBe('approved_pending')
      expect(r.table).toMatch(/model\s+role\s+score\s+Δ vs current/)
      expect(r.table).toContain(good)
      expect(r.table).toContain('decision: approved_pending')
      process.stdout.write(`${r.table}\n`)
    })
  })

  describe('when EVAL_JUDGE_MODEL is set', () => {
    const JUDGE = 'gpt-4o-judge'
    const inventive = `ft:gpt-3.5-turbo-0125:loopdm::${uniqueId('inventive')}`
    const judgeCalls: Array<Array<{ role: string; content: string }>> = []
    // A judge that reads the rubric's MESSAGE / IDEAL / REPLY sections: 5 for the ideal reply, 1 for
    // an invented policy, 2 otherwise — plus, for one gold item, an answer it cannot parse.
    const judged =
      (answer: (m: string) => string) =>
      (model: string, messages: Array<{ role: string; content: string }>) => {
        const prompt = lastUser(messages)
        if (model === JUDGE) {
          judgeCalls.push(messages)
          const reply = /\nREPLY:\n([\s\S]*)$/.exec(prompt)?.[1] ?? ''
          const ideal = /\nIDEAL:\n([\s\S]*?)\n\nREPLY:/.exec(prompt)?.[1] ?? ''
          if (prompt.includes('Are you open on Saturday?')) return 'Looks fine to me.'
          if (reply.includes('closing forever')) return '{"score": 1}'
          return reply === ideal ? '{"score": 5}' : '{"score": 2}'
        }
        return answer(prompt)
      }
    afterAll(() => {
      created.push(inventive)
    })

    it('judges every reply, stores the scores, shows them and gates on them', async () => {
      judgeCalls.length = 0
      fake.setResponder((model, messages) =>
        judged(() => (model === good ? idealFor(lastUser(messages)) : GENERIC))(model, messages),
      )
      try {
        const sut = build({ EVAL_JUDGE_MODEL: JUDGE })
        const r = await sut.evaluate({ candidate: good })
        // Candidate and current × 6 items (the current model is the base one here, scored once),
        // with the rubric as the system turn.
        expect(r.current).toBe(config.models.base)
        expect(judgeCalls).toHaveLength(12)
        expect(judgeCalls[0]?.[0]).toMatchObject({ role: 'system' })
        expect(judgeCalls[0]?.[0]?.content).toContain('Answer with JSON only: {"score": <1-5>}')
        // The unparseable answer is no judgment (null), not a zero: 5 judged items each.
        expect(r.summaries.candidate.judge).toBe(1)
        expect(r.summaries.current.judge).toBe(0.25)
        expect(r.decision.gates.find((g) => g.gate === 'judge')).toMatchObject({ pass: true })
        expect(r.table).toMatch(/judge/)
        expect(r.table).toContain('1.000')
        const items = await db.query<{ judge_score: number | null }>(
          `select judge_score from eval_items where run_id = $1 and model = $2 order by id`,
          [r.runId, good],
        )
        expect(items.rows.map((x) => x.judge_score)).toEqual([1, 1, null, 1, 1, 1])
      } finally {
        fake.setResponder(defaultResponder)
      }
    })

    it('rejects a candidate the judge finds worse even when its similarity is higher', async () => {
      fake.setResponder((model, messages) =>
        judged(() =>
          model === inventive ? `${idealFor(lastUser(messages))} Also, we are closing forever.` : GENERIC,
        )(model, messages),
      )
      try {
        const sut = build({ EVAL_JUDGE_MODEL: JUDGE })
        const r = await sut.evaluate({ candidate: inventive })
        expect(r.summaries.candidate.similarity).toBeGreaterThan(r.summaries.current.similarity)
        expect(r.summaries.candidate.judge).toBe(0)
        expect(r.outcome).toBe('rejected')
        expect(r.decision.gates.find((g) => g.gate === 'judge')?.pass).toBe(false)
        expect(r.decision.reason).toMatch(/judge/)
      } finally {
        fake.setResponder(defaultResponder)
      }
    })

    it('reports "judge unavailable" and fails the gate when the judge model fails (never drops it)', async () => {
      fake.setResponder((model, messages) =>
        model === JUDGE
          ? { status: 500, message: 'judge exploded' }
          : model === good
            ? idealFor(lastUser(messages))
            : GENERIC,
      )
      try {
        const sut = build({ EVAL_JUDGE_MODEL: JUDGE })
        const r = await sut.evaluate({ candidate: good })
        expect(r.summaries.candidate.judge).toBeNull()
        expect(r.summaries.candidate.judgeUnavailable).toBeGreaterThan(0)
        expect(r.decision.gates.find((g) => g.gate === 'judge')).toMatchObject({
          pass: false,
          detail: expect.stringMatching(/^judge unavailable: \d+ judge call\(s\) failed \(.*judge exploded/),
        })
        expect(r.outcome).toBe('rejected')
      } finally {
        fake.setResponder(defaultResponder)
      }
    })
  })

  describe('when the candidate is worse than the current model', () => {
    it('rejects it with the reason', async () => {
      const sut = build()
      const r = await sut.evaluate({ candidate: bad })
      expect(r.outcome).toBe('rejected')
      const row = await createRegistryRepository(db).findByIdOrModel(bad)
      expect(row?.status).toBe('rejected')
      expect(row?.reason).toMatch(/improvement/)
    })
  })

  describe('when the candidate scores higher but leaks PII', () => {
    it('rejects it for the pii gate regression', async () => {
      const sut = build()
      const r = await sut.evaluate({ candidate: leaky })
      expect(r.summaries.candidate.mean).toBeGreaterThan(r.summaries.current.mean + 0.05)
      expect(r.outcome).toBe('rejected')
      expect(r.decision.gates.find((g) => g.gate === 'pii')?.pass).toBe(false)
      expect(r.decision.reason).toMatch(/pii/)
    })
  })

  describe('when EVAL_AUTO_PROMOTE=true', () => {
    it('promotes the approved candidate and publishes the new version', async () => {
      const sut = build({ EVAL_AUTO_PROMOTE: 'true', EVAL_MIN_GOLD: '6' })
      const registry = createRegistryRepository(db)
      await registry.setStatus(good, 'candidate')
      const sub = createRedis({ url: config.redis.url, role: 'subscriber' })
      const got: string[] = []
      sub.on('message', (_ch, m) => got.push(m))
      await sub.subscribe(config.models.channel)
      try {
        const r = await sut.evaluate({ candidate: good })
        expect(r.outcome).toBe('promoted')
        expect((await registry.findActive())?.model).toBe(good)
        await expect.poll(() => got.length).toBe(1)
        const msg = decodeActiveModelMessage(got[0] as string)
        expect(msg?.model).toBe(good)
        expect(msg?.version).toBe(r.promotion?.version)
      } finally {
        await sub.quit()
        await registryState.clearActive()
      }
    })
  })

  describe('evaluate worker (as main.ts binds it)', () => {
    it('consumes the tuner’s evaluate job and gates the candidate', async () => {
      const sut = build()
      const registry = createRegistryRepository(db)
      const fresh = `ft:gpt-3.5-turbo-0125:loopdm::${uniqueId('queued')}`
      created.push(fresh)
      fake.setResponder((model, messages) => {
        const prompt = lastUser(messages)
        return model === fresh || model === good ? idealFor(prompt) : GENERIC
      })
      await registry.upsertModel({ model: fresh, status: 'candidate' })
      const worker = createWorker(
        EVALUATE_QUEUE,
        (job) => processEvaluate(job.data, { evaluation: sut, registry }),
        {
          config,
          logger: createLogger({ level: 'silent' }),
        },
      )
      const queue = createQueue(EVALUATE_QUEUE, { config })
      const events = new QueueEvents(EVALUATE_QUEUE, {
        connection: { url: config.redis.url } as never,
        prefix: config.redis.prefix,
      })
      try {
        await events.waitUntilReady()
        const job = await queue.add(
          'evaluate',
          { trigger: 'tune', candidate: fresh },
          { ...EVALUATE_JOB_OPTIONS, jobId: evaluateJobId(fresh) },
        )
        const result = (await job.waitUntilFinished(events, 30_000)) as { outcome: string }
        expect(result.outcome).toBe('approved_pending')
        expect((await registry.findByIdOrModel(fresh))?.status).toBe('approved_pending')
      } finally {
        await worker.close()
        await events.close()
        await queue.obliterate({ force: true })
        await queue.close()
      }
    })
  })

  describe('evaluate processor', () => {
    it('skips a candidate that was already decided when re-triggered by the tuner', async () => {
      const sut = build()
      const r = await processEvaluate(
        { trigger: 'tune', candidate: bad },
        { evaluation: sut, registry: createRegistryRepository(db) },
      )
      expect(r.skipped).toMatch(/rejected/)
    })
    it('treats a bad payload as unrecoverable', async () => {
      const sut = build()
      await expect(
        processEvaluate({ candidate: '' }, { evaluation: sut, registry: createRegistryRepository(db) }),
      ).rejects.toBeInstanceOf(UnrecoverableError)
    })
  })
})
