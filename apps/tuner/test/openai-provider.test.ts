import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Pool } from '@loopdm/db/pool'
import { createOpenAISdk, type OpenAI } from '@loopdm/platform/openai'
import { testPool } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FineTuneRefusedError } from '../src/errors.js'
import { runPoll } from '../src/jobs/poll.processor.js'
import { runTune } from '../src/jobs/tune.processor.js'
import { createTunerDeps } from '../src/jobs/tune.worker.js'
import { createOpenAIProvider } from '../src/providers/openai.provider.js'
import { retireModels } from '../src/services/retirement.service.js'
import { makeDeps, silentLogger, tmpExportDir, tunerTestConfig, until, writeTrainingFile } from './helpers.js'

/** OpenAI's last weeks, against openai-local over the real `openai` SDK. */
let local: OpenAILocal
let pool: Pool
let sdk: OpenAI
let hook: Server
let hookURL: string
const alerts: Array<Record<string, unknown>> = []
const shas: string[] = []

beforeAll(async () => {
  local = await startOpenAILocal({ port: 0, ftStepMs: 20 })
  pool = await testPool()
  sdk = createOpenAISdk({ config: tunerTestConfig(local.baseURL, tmpExportDir()), maxRetries: 0 })
  hook = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => {
      body += d
    })
    req.on('end', () => {
      alerts.push(JSON.parse(body) as Record<string, unknown>)
      res.end('ok')
    })
  })
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r))
  hookURL = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`
})
afterEach(() => local.faults.reset())
afterAll(async () => {
  await pool.query('delete from finetune_jobs where file_sha256 = any($1)', [shas])
  await pool.end()
  await local.close()
  await new Promise((r) => hook.close(r))
})

const fileIds = async () => (await sdk.files.list()).data.map((f) => f.id)

describe('openai provider', () => {
  describe('when the base is retired or the cutoff has passed', () => {
    it('refuses a retired base before uploading anything, naming the date and the other providers', async () => {
      const dir = tmpExportDir()
      const deps = makeDeps(
        tunerTestConfig(local.baseURL, dir, { FT_BASE_MODEL: 'gpt-3.5-turbo-0125' }),
        pool,
      )
      const before = local.faults.snapshot().requests
      const err = await runTune({ file: writeTrainingFile(dir, 12) }, deps).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(FineTuneRefusedError)
      expect((err as Error).message).toMatch(/2026-10-23/)
      expect((err as Error).message).toMatch(/FT_PROVIDER=together.*FT_PROVIDER=vllm/)
      expect(local.faults.snapshot().requests).toBe(before)
      await deps.close()
    })

    it('refuses any job on or after 2027-01-06 before uploading anything', async () => {
      const dir = tmpExportDir()
      const config = tunerTestConfig(local.baseURL, dir)
      const deps = createTunerDeps({
        config,
        logger: silentLogger,
        pool,
        now: () => new Date('2027-01-06T09:00:00Z'),
      })
      const before = local.faults.snapshot().requests
      const err = await runTune({ file: writeTrainingFile(dir, 12) }, deps).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(FineTuneRefusedError)
      expect((err as Error).message).toMatch(/no new fine-tuning jobs since 2027-01-06/)
      expect(local.faults.snapshot().requests).toBe(before)
      // A dry run says the same without failing.
      const dry = await runTune({ file: writeTrainingFile(dir, 12), dryRun: true }, deps)
      expect(dry.refusal).toMatch(/2027-01-06/)
      await deps.close()
    })
  })

  describe('when job creation answers 403 training_not_available', () => {
    it('deletes the uploaded file at once, marks the attempt rejected, alerts, and does not retry until the config changes', async () => {
      const dir = tmpExportDir()
      // A key of its own: the rejection is tied to provider + base + key.
      const config = tunerTestConfig(local.baseURL, dir, {
        OPENAI_API_KEY: `sk-test-${Math.random()}`,
        BUDGET_ALERT_WEBHOOK_URL: hookURL,
      })
      const deps = makeDeps(config, pool)
      const before = await fileIds()
      local.faults.failNext(1, 403, {
        paths: '/fine_tuning/jobs',
        method: 'POST',
        code: 'training_not_available',
      })
      const file = writeTrainingFile(dir, 12)
      const err = await runTune({ file }, deps).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(FineTuneRefusedError)
      expect((err as FineTuneRefusedError).reason).toBe('training_not_available')
      expect(local.faults.snapshot().remaining).toBe(0)
      // No customer DMs left at the provider.
      expect(await fileIds()).toEqual(before)
      const row = await deps.finetunes.findBySha((await runTune({ file, dryRun: true }, deps)).report.sha256)
      shas.push(row?.fileSha256 as string)
      expect(row).toMatchObject({ status: 'rejected', providerFileId: null, providerJobId: null })
      expect(row?.error).toMatch(/training_not_available/)
      await until(async () => alerts.find((a) => a.kind === 'training_not_available'), 5000)
      // Next week's data: refused without uploading, until the configuration changes.
      const requests = local.faults.snapshot().requests
      const next = await runTune({ file: writeTrainingFile(dir, 12) }, deps).catch((e: unknown) => e)
      expect((next as FineTuneRefusedError).reason).toBe('rejected_before')
      expect((next as Error).message).toMatch(/change FT_PROVIDER, FT_BASE_MODEL or the provider key/)
      expect(local.faults.snapshot().requests).toBe(requests)
      // Another base is another configuration: it is tried.
      const other = makeDeps(
        tunerTestConfig(local.baseURL, dir, {
          OPENAI_API_KEY: config.openai.apiKey as string,
          FT_BASE_MODEL: 'gpt-4.1-2025-04-14',
        }),
        pool,
      )
      const retried = await runTune({ file }, other)
      expect(retried.outcome).toBe('created')
      await deps.close()
      await other.close()
    })
  })

  describe('when job creation answers 429 insufficient_quota', () => {
    it('fails fast, without the SDK retrying, with a clear message', async () => {
      const dir = tmpExportDir()
      const deps = makeDeps(tunerTestConfig(local.baseURL, dir, { OPENAI_MAX_RETRIES: '3' }), pool)
      local.faults.failNext(5, 429, {
        paths: '/fine_tuning/jobs',
        method: 'POST',
        code: 'insufficient_quota',
      })
      const file = writeTrainingFile(dir, 12)
      const err = await runTune({ file }, deps).catch((e: unknown) => e)
      expect((err as FineTuneRefusedError).reason).toBe('insufficient_quota')
      expect((err as Error).message).toMatch(/out of quota.*billing/)
      // One attempt consumed, not OPENAI_MAX_RETRIES + 1.
      expect(local.faults.snapshot().remaining).toBe(4)
      shas.push((await runTune({ file, dryRun: true }, deps)).report.sha256)
      await deps.close()
    })
  })

  describe('when a job is created', () => {
    it('sends method: supervised with n_epochs, not the deprecated top-level hyperparameters', async () => {
      const bodies: Array<Record<string, unknown>> = []
      const dir = tmpExportDir()
      const config = tunerTestConfig(local.baseURL, dir, { FT_N_EPOCHS: '2' })
      const recording = createOpenAISdk({ config })
      const spy = new (recording.constructor as typeof OpenAI)({
        apiKey: 'x',
        baseURL: local.baseURL,
        fetch: async (input, init) => {
          if (String(input).endsWith('/fine_tuning/jobs') && init?.method === 'POST')
            bodies.push(JSON.parse(String(init.body)) as Record<string, unknown>)
          return fetch(input, init)
        },
      })
      const deps = createTunerDeps({
        config,
        logger: silentLogger,
        pool,
        provider: createOpenAIProvider({ sdk: spy }),
      })
      const r = await runTune({ file: writeTrainingFile(dir, 12) }, deps)
      shas.push(r.report.sha256)
      expect(bodies).toHaveLength(1)
      expect(bodies[0]).toMatchObject({
        model: 'gpt-4.1-mini-2025-04-14',
        method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 2 } } },
      })
      expect(bodies[0]).not.toHaveProperty('hyperparameters')
      const job = await sdk.fineTuning.jobs.retrieve(r.finetune?.providerJobId as string)
      expect(job.method).toMatchObject({
        type: 'supervised',
        supervised: { hyperparameters: { n_epochs: 2 } },
      })
      await deps.close()
    })
  })

  describe('when retirement meets a 403 on one model', () => {
    it('reports that model and deletes the others', async () => {
      const dir = tmpExportDir()
      const config = tunerTestConfig(local.baseURL, dir)
      const deps = makeDeps(config, pool)
      const models: string[] = []
      for (let i = 0; i < 2; i++) {
        const r = await runTune({ file: writeTrainingFile(dir, 12) }, deps)
        shas.push(r.report.sha256)
        const done = await until(async () => {
          const p = await runPoll({ finetuneJobId: r.finetune?.providerJobId as string }, deps)
          return p.done ? p : undefined
        })
        models.push(done.done ? (done.fineTunedModel as string) : '')
      }
      const real = createOpenAIProvider({ sdk })
      const provider = {
        listModels: async () => (await real.listModels()).filter((m) => models.includes(m.id)),
        deleteModel: real.deleteModel,
      }
      local.faults.failNext(1, 403, { paths: '/v1/models/', method: 'DELETE' })
      const sut = await retireModels({
        db: pool,
        sdk,
        provider,
        config,
        logger: silentLogger,
        now: new Date(Date.now() + 200 * 24 * 3600_000),
      })
      expect(sut.failed).toHaveLength(1)
      expect(sut.failed[0]?.reason).toMatch(/403/)
      expect(sut.deleted).toHaveLength(1)
      expect([...sut.deleted, sut.failed[0]?.model].sort()).toEqual([...models].sort())
      const left = (await sdk.models.list()).data.map((m) => m.id)
      expect(left).toContain(sut.failed[0]?.model)
      expect(left).not.toContain(sut.deleted[0])
      await pool.query('delete from models where model = any($1)', [models])
      await deps.close()
    })
  })

  describe('when estimating and budgeting', () => {
    it('prices gpt-4.1 and gpt-4.1-mini differently, refuses only the one over budget, and honours FT_PRICE_PER_1K_TOKENS', async () => {
      const dir = tmpExportDir()
      const file = writeTrainingFile(dir, 40)
      const dry = async (extra: Record<string, string>) => {
        const deps = makeDeps(tunerTestConfig(local.baseURL, dir, extra), pool)
        const r = await runTune({ file, dryRun: true }, deps)
        await deps.close()
        return r
      }
      const mini = await dry({ FT_BASE_MODEL: 'gpt-4.1-mini-2025-04-14' })
      const full = await dry({ FT_BASE_MODEL: 'gpt-4.1-2025-04-14' })
      expect(mini.pricePer1k).toBe(0.005)
      expect(full.pricePer1k).toBe(0.025)
      expect(full.estimateUsd).toBeCloseTo(mini.estimateUsd * 5, 6)
      expect(mini.estimateUsd).toBeCloseTo((mini.report.tokens * 0.005) / 1000, 6)
      // A budget between the two: the month's spend so far plus each estimate decides.
      const spent = mini.budget?.monthToDateUsd ?? 0
      const budget = String(spent + (mini.estimateUsd + full.estimateUsd) / 2)
      const miniB = await dry({ FT_BASE_MODEL: 'gpt-4.1-mini-2025-04-14', FT_BUDGET_USD_MONTHLY: budget })
      const fullB = await dry({ FT_BASE_MODEL: 'gpt-4.1-2025-04-14', FT_BUDGET_USD_MONTHLY: budget })
      expect(miniB.refusal).toBeNull()
      expect(fullB.refusal).toMatch(/over FT_BUDGET_USD_MONTHLY/)
      const flat = await dry({ FT_BASE_MODEL: 'gpt-4.1-2025-04-14', FT_PRICE_PER_1K_TOKENS: '0.001' })
      expect(flat.pricePer1k).toBe(0.001)
      expect(flat.estimateUsd).toBeCloseTo((flat.report.tokens * 0.001) / 1000, 6)
    })
  })
})
