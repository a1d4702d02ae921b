import type { Pool } from '@loopdm/db/pool'
import { processEvaluate } from '@loopdm/evaluator/jobs/evaluate.processor'
import { createEvaluationService } from '@loopdm/evaluator/services/evaluation.service'
import { createRegistryRepository } from '@loopdm/models/registry'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/openai-local/server'
import type { Config } from '@loopdm/platform/config'
import { createLogger } from '@loopdm/platform/logger'
import { createAiClient, createOpenAISdk } from '@loopdm/platform/openai'
import { createQueue, createWorker } from '@loopdm/queues/bullmq'
import { EVALUATE_QUEUE } from '@loopdm/queues/contracts'
import { createRedis } from '@loopdm/redis/client'
import { fineTuneModel } from '@loopdm/testing/fine-tune'
import { testConfig, testDatabaseUrl, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runScript } from './lib/stack-proc.js'

/** `npm run evaluate -- --inline`, `npm run promote -- <model>` and `npm run rollback` as processes. */
describe('evaluate / promote / rollback CLIs', () => {
  let db: Pool
  let openai: OpenAILocal
  let config: Config
  let model: string
  let activeBefore: string | null
  let maxPromotion = 0
  const run = async (script: string, args: string[]) => {
    const r = await runScript(script, args, {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DATABASE_URL: testDatabaseUrl(),
      REDIS_URL: config.redis.url,
      QUEUE_PREFIX: config.redis.prefix,
      MODEL_CHANNEL: config.models.channel,
      OPENAI_BASE_URL: openai.baseURL,
      EVAL_HOLDOUT_SIZE: '0',
      PROMOTE_PROBE_DEADLINE_MS: '2000',
    })
    return { code: r.code, out: r.output }
  }

  beforeAll(async () => {
    db = await testPool()
    activeBefore = (await createRegistryRepository(db).findActive())?.model ?? null
    maxPromotion = Number(
      (await db.query('select coalesce(max(id), 0)::int8 as id from model_promotions')).rows[0]?.id,
    )
    openai = await startOpenAILocal({ port: 0, ftStepMs: 10 })
    config = testConfig({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: openai.baseURL })
    model = await fineTuneModel(createOpenAISdk({ config }), {
      suffix: uniqueId('cli'),
      pairs: Array.from({ length: 10 }, (_, i) => [`q${i}`, `a${i}`]),
      system: null,
      timeoutMs: 60_000,
      intervalMs: 50,
    })
  }, 60_000)
  afterAll(async () => {
    await db.query(`update models set status = 'inactive' where status = 'active'`)
    await db.query('delete from model_promotions where id > $1', [maxPromotion])
    await db.query('delete from eval_runs where candidate_model = $1', [model])
    await db.query('delete from models where model = $1', [model])
    if (activeBefore) await db.query(`update models set status = 'active' where model = $1`, [activeBefore])
    await openai.close()
    await db.end()
  })

  it('evaluates inline and prints the summary table and the decision', async () => {
    const r = await run('evaluate', ['--inline', '--candidate', model])
    expect(r.code, r.out).toBe(0)
    expect(r.out).toMatch(/model\s+role\s+score\s+Δ vs current/)
    expect(r.out).toMatch(/decision: (approved_pending|rejected)/)
  }, 120_000)

  describe('when evaluate enqueues the job (no --inline)', () => {
    it('waits for the evaluator worker and prints its decision', async () => {
      const logger = createLogger({ level: 'silent' })
      const workerConfig = testConfig({
        OPENAI_BASE_URL: openai.baseURL,
        QUEUE_PREFIX: config.redis.prefix,
        EVAL_HOLDOUT_SIZE: '0',
      })
      const redis = createRedis({ url: config.redis.url, role: 'producer' })
      const registry = createRegistryRepository(db)
      const evaluation = createEvaluationService({
        db,
        redis,
        ai: createAiClient({ config: workerConfig }),
        config: workerConfig,
        logger,
        registry,
      })
      const worker = createWorker(
        EVALUATE_QUEUE,
        (job) => processEvaluate(job.data, { evaluation, registry }),
        { config: workerConfig, logger },
      )
      try {
        await worker.waitUntilReady()
        const r = await run('evaluate', ['--candidate', model])
        expect(r.code, r.out).toBe(0)
        expect(r.out).toMatch(/enqueued evaluate job \S+ for /)
        expect(r.out).toMatch(/✓ eval run \d+: .* scored \d\.\d{3} against \d\.\d{3}/)
        expect(r.out).toMatch(/decision: (approved_pending|rejected)/)
        const runs = await db.query('select count(*)::int as n from eval_runs where candidate_model = $1', [
          model,
        ])
        expect(runs.rows[0]?.n).toBeGreaterThanOrEqual(1)
      } finally {
        await worker.close()
        redis.disconnect()
      }
    }, 120_000)

    it('with no evaluator connected, says so at once and enqueues nothing', async () => {
      const prefix = uniqueId('noeval')
      const r = await runScript('evaluate', ['--candidate', model], {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        DATABASE_URL: testDatabaseUrl(),
        REDIS_URL: config.redis.url,
        QUEUE_PREFIX: prefix,
        OPENAI_BASE_URL: openai.baseURL,
      })
      expect(r.code, r.output).toBe(1)
      expect(r.output).toContain(`✗ no evaluator is connected to the "evaluate" queue (prefix "${prefix}"`)
      expect(r.output).toContain('--inline')
      const queue = createQueue(EVALUATE_QUEUE, { config: testConfig({ QUEUE_PREFIX: prefix }) })
      try {
        expect(await queue.count()).toBe(0)
      } finally {
        await queue.close()
      }
    }, 60_000)
  })

  it('promotes a model, then rolls back', async () => {
    const p = await run('promote', [model, '--reason', 'cli test'])
    expect(p.code, p.out).toBe(0)
    expect(p.out).toContain(`✓ ${model} is now active`)
    expect((await createRegistryRepository(db).findActive())?.model).toBe(model)
    const rb = await run('rollback', [])
    expect(rb.code, rb.out).toBe(0)
    expect(rb.out).toMatch(/is now active/)
    expect((await createRegistryRepository(db).findActive())?.model).not.toBe(model)
  }, 120_000)

  it('starts a canary with --canary, and refuses a second one or a bad number', async () => {
    await db.query('delete from canary_runs')
    const r = await run('promote', [model, '--canary', '10', '--min-replies', '50', '--max-hours', '2'])
    expect(r.code, r.out).toBe(0)
    expect(r.out).toMatch(/✓ canary \d+: 10% of customers on /)
    const live = await db.query('select candidate_model, percent, min_replies, status from canary_runs')
    expect(live.rows).toEqual([{ candidate_model: model, percent: 10, min_replies: 50, status: 'running' }])
    const again = await run('promote', [model, '--canary', '10'])
    expect(again.code).toBe(1)
    expect(again.out).toMatch(/already running/)
    const bad = await run('promote', [model, '--canary', 'lots'])
    expect(bad.code).toBe(2)
    expect(bad.out).toContain('--canary needs a number, got "lots"')
    await db.query('delete from canary_runs')
  }, 60_000)

  it('refuses an uncallable model with a clear error and exit code 1', async () => {
    const r = await run('promote', [`ft:gpt-3.5-turbo-0125:loopdm::${uniqueId('nope')}`])
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/✗ model .* is not callable/)
  }, 60_000)
})
