import type { Pool } from '@loopdm/db/pool'
import { probeModel } from '@loopdm/models/promotion'
import { createAiClient } from '@loopdm/platform/openai'
import { buildExemplarPolicy } from '@loopdm/testing/exemplars'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { snapshotRegistry } from '@loopdm/testing/registry-fixture'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEvaluationService } from '../src/services/evaluation.service.js'
import { parseGold } from '../src/services/gold.js'
import { judgeReply } from '../src/services/judge.js'
import { decide, summarize } from '../src/services/scoring.js'

/**
 * openai-local enforces OpenAI's reasoning-model rules (no `max_tokens`, no temperature but 1):
 * the probe, the evaluator's completions and the judge must build requests those models accept.
 * A judge that errors is reported as "judge unavailable" and fails the gate — never dropped.
 */
const GOLD = parseGold(
  [
    {
      id: 'r1',
      category: 'shipping',
      messages: ['do you ship to austria'],
      ideal: 'Yes, 3-5 days to Austria.',
      facts: ['3-5 days'],
    },
    {
      id: 'r2',
      category: 'returns',
      messages: ['can i return a scarf'],
      ideal: 'Yes, within 30 days.',
      facts: ['30 days'],
    },
  ]
    .map((x) => JSON.stringify(x))
    .join('\n'),
  'reasoning-gold.jsonl',
)

describe('reasoning models and the judge', () => {
  let db: Pool
  let openai: OpenAILocal
  let registryState: Awaited<ReturnType<typeof snapshotRegistry>>
  const created: string[] = []
  const config = (env: Record<string, string> = {}) =>
    testConfig({ OPENAI_BASE_URL: openai.baseURL, OPENAI_MAX_RETRIES: '0', EVAL_HOLDOUT_SIZE: '0', ...env })

  beforeAll(async () => {
    db = await testPool()
    registryState = await snapshotRegistry(db)
    await registryState.clearActive()
    openai = await startOpenAILocal({ port: 0 })
  })
  afterAll(async () => {
    await registryState?.restore(created)
    await openai?.close()
    await db?.end()
  })

  it('probes a reasoning model and asks the judge on one without a refused parameter', async () => {
    const ai = createAiClient({ config: config() })
    expect(await probeModel(ai.sdk, 'o4-mini', { deadlineMs: 0 })).toBe(1)
    const judged = await judgeReply(ai, 'o4-mini', { prompt: 'hi', ideal: 'Hello!', reply: 'Hello!' })
    expect(judged.error).toBeNull()
  })

  describe('when an exemplar policy served by a reasoning model is evaluated with a reasoning judge', () => {
    it('scores every item without an error and the judge answers every call', async () => {
      const c = config({ BASE_MODEL: 'o4-mini', EVAL_JUDGE_MODEL: 'o4-mini' })
      const ai = createAiClient({ config: c })
      const { policy } = await buildExemplarPolicy({
        db,
        sdk: ai.sdk,
        servingModel: 'o4-mini',
        pairs: [
          { prompt: 'do you ship to austria', answer: 'Yes, 3-5 days to Austria.' },
          { prompt: 'can i return a scarf', answer: 'Yes, within 30 days.' },
        ],
      })
      created.push(policy.model)
      const sut = createEvaluationService({ db, ai, config: c, gold: GOLD, probe: { deadlineMs: 0 } })
      const r = await sut.evaluate({ candidate: policy.model })
      expect(r.summaries.candidate.errors).toBe(0)
      expect(r.summaries.base.errors).toBe(0)
      expect(r.summaries.candidate.judgeUnavailable).toBe(0)
      expect(r.summaries.candidate.factRecall).toBe(1)
      expect(r.summaries.candidate.mean).toBeGreaterThan(r.summaries.base.mean)
      // The judge answered every call (openai-local's judge replies carry no usable score, so the
      // judge gate is simply absent — not failed as "unavailable").
      expect(r.summaries.current.judgeUnavailable).toBe(0)
      expect(r.decision.reason).not.toMatch(/judge unavailable/)
    })
  })

  describe('when the judge call fails', () => {
    it('reports "judge unavailable" and fails the gate instead of scoring without the judge', async () => {
      // A shut-down judge model: every judge call answers 404 model_not_found.
      const c = config({ EVAL_JUDGE_MODEL: 'gpt-3.5-turbo-0125' })
      const ai = createAiClient({ config: c })
      const { policy } = await buildExemplarPolicy({
        db,
        sdk: ai.sdk,
        servingModel: c.models.base,
        pairs: [{ prompt: `do you ship to austria ${uniqueId()}`, answer: 'Yes, 3-5 days to Austria.' }],
      })
      created.push(policy.model)
      const sut = createEvaluationService({ db, ai, config: c, gold: GOLD, probe: { deadlineMs: 0 } })
      const r = await sut.evaluate({ candidate: policy.model })
      expect(r.summaries.candidate.judgeUnavailable).toBe(GOLD.items.length)
      const judge = r.decision.gates.find((g) => g.gate === 'judge')
      expect(judge).toMatchObject({
        pass: false,
        detail: expect.stringMatching(/^judge unavailable: \d+ judge call/),
      })
      expect(r.decision.approved).toBe(false)
      expect(r.outcome).toBe('rejected')
      expect(r.decision.reason).toMatch(/judge unavailable/)
    })

    it('never lets a judge outage pass the gate even when the other gates pass (pure gate)', () => {
      const row = { similarity: 1, factRecall: 1, lengthOk: true, piiOk: true, judge: null, score: 1 }
      const candidate = summarize('c', [{ ...row, judgeError: '503 upstream' }])
      const current = summarize('b', [{ ...row, score: 0.2 }])
      const d = decide(candidate, current, 0.02)
      expect(d.approved).toBe(false)
      expect(d.reason).toMatch(/judge unavailable: 1 judge call\(s\) failed \(503 upstream\)/)
    })
  })
})
