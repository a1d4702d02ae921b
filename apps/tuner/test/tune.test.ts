import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { basename } from 'node:path'
import { promisify } from 'node:util'
import type { Pool } from '@loopdm/db/pool'
import { createCostLedger, FINE_TUNE_OPERATION } from '@loopdm/models/cost-ledger'
import { listFinetuneJobs } from '@loopdm/models/finetune-jobs'
import { createOpenAISdk, type OpenAI } from '@loopdm/platform/openai'
import {
  EVALUATE_QUEUE,
  evaluateJobId,
  TUNE_JOB,
  TUNE_JOB_OPTIONS,
  tuneJobId,
  tunePollJobId,
} from '@loopdm/queues/contracts'
import { testPool } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { waitFor } from '@loopdm/testing/wait'
import {
  readUploadedMarker,
  type UploadedMarker,
  writeUploadedMarker,
} from '@loopdm/training-data/provider-copies'
import type { Worker } from 'bullmq'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runPoll } from '../src/jobs/poll.processor.js'
import { runTune } from '../src/jobs/tune.processor.js'
import { createTunerDeps, createTuneWorker, resumePolls } from '../src/jobs/tune.worker.js'
import { createOpenAIProvider } from '../src/providers/openai.provider.js'
import { sha256File } from '../src/services/training-data.service.js'
import {
  capturingLogger,
  dropQueue,
  jobState,
  makeDeps,
  silentLogger,
  tmpExportDir,
  tunerTestConfig,
  until,
  writeTrainingFile,
} from './helpers.js'

const exec = promisify(execFile)

let local: OpenAILocal
let pool: Pool
let sdk: OpenAI
const shas: string[] = []

async function fileCount(): Promise<number> {
  const page = await sdk.files.list()
  return page.data.length
}

/** Provider jobs trained on an upload of `file` (matched by the uploaded file's name). */
async function providerJobsFor(file: string): Promise<OpenAI.FineTuning.FineTuningJob[]> {
  const name = basename(file)
  const ids = new Set((await sdk.files.list()).data.filter((f) => f.filename === name).map((f) => f.id))
  const out: OpenAI.FineTuning.FineTuningJob[] = []
  for await (const j of sdk.fineTuning.jobs.list({ limit: 100 })) if (ids.has(j.training_file)) out.push(j)
  return out
}

beforeAll(async () => {
  local = await startOpenAILocal({ port: 0, ftStepMs: 30 })
  pool = await testPool()
  sdk = createOpenAISdk({ config: tunerTestConfig(local.baseURL, tmpExportDir()), maxRetries: 0 })
})

afterEach(() => local.faults.reset())

afterAll(async () => {
  if (shas.length) {
    const r = await pool.query<{ provider_job_id: string | null; fine_tuned_model: string | null }>(
      'delete from finetune_jobs where file_sha256 = any($1) returning provider_job_id, fine_tuned_model',
      [shas],
    )
    const refs = r.rows.map((x) => x.provider_job_id).filter(Boolean)
    const models = r.rows.map((x) => x.fine_tuned_model).filter(Boolean)
    await pool.query(`delete from cost_ledger where operation = $1 and ref = any($2)`, [
      FINE_TUNE_OPERATION,
      refs,
    ])
    await pool.query(`delete from models where model = any($1) or finetune_job_id = any($2)`, [models, refs])
  }
  await pool.end()
  await local.close()
})

describe('tune', () => {
  describe('when run as a dry run', () => {
    it('reports the data and the estimate and uploads nothing', async () => {
      const dir = tmpExportDir()
      const config = tunerTestConfig(local.baseURL, dir)
      const deps = makeDeps(config, pool)
      const file = writeTrainingFile(dir, 12)
      const before = await fileCount()
      const sut = await runTune({ dryRun: true, file }, deps)
      expect(sut.outcome).toBe('dry-run')
      expect(sut.report.examples).toBe(12)
      expect(sut.report.tokens).toBeGreaterThan(12 * 20)
      expect(sut.report.longest).toBeGreaterThan(20)
      expect(sut.report.problems).toBe(0)
      // gpt-4.1-mini-2025-04-14 (FT_BASE_MODEL's default) trains at $5 per 1M tokens.
      expect(sut.pricePer1k).toBe(0.005)
      expect(sut.estimateUsd).toBeCloseTo((sut.report.tokens * 1 * 0.005) / 1000, 6)
      expect(sut.refusal).toBeNull()
      expect(await fileCount()).toBe(before)
      expect(await deps.finetunes.findBySha(sut.report.sha256)).toBeNull()
      await deps.close()
    })

    it('scripts/run_finetune.sh --dry-run prints the report and the estimate, uploading nothing', async () => {
      const dir = tmpExportDir()
      const file = writeTrainingFile(dir, 11)
      const before = await fileCount()
      const config = tunerTestConfig(local.baseURL, dir)
      const { stdout } = await exec('bash', ['scripts/run_finetune.sh', '--dry-run', '--file', file], {
        cwd: new URL('../../..', import.meta.url).pathname,
        env: {
          ...process.env,
          DATABASE_URL: process.env.DATABASE_URL,
          OPENAI_BASE_URL: local.baseURL,
          QUEUE_PREFIX: config.redis.prefix,
          EXPORT_DIR: dir,
          LEARNING_BACKEND: 'fine-tune',
          LOG_LEVEL: 'silent',
        },
        timeout: 60_000,
      })
      expect(stdout).toMatch(/examples\s+11/)
      expect(stdout).toMatch(/tokens\s+\d+/)
      expect(stdout).toMatch(/longest\s+\d+ tokens \(limit 65536\)/)
      expect(stdout).toMatch(/problems\s+0/)
      expect(stdout).toMatch(/cost estimate\s+\$0\.\d{4}/)
      expect(stdout).toContain('dry run: OK, nothing uploaded')
      expect(await fileCount()).toBe(before)
    })

    it('names the problems by kind and the refusal a real run would get', async () => {
      const dir = tmpExportDir()
      const deps = makeDeps(tunerTestConfig(local.baseURL, dir), pool)
      const file = writeTrainingFile(dir, 10)
      const { appendFileSync } = await import('node:fs')
      appendFileSync(file, 'not json\n{"messages":[{"role":"user","content":"hi"}]}\n')
      const sut = await runTune({ dryRun: true, file }, deps)
      expect(sut.report.problemsByKind).toMatchObject({ invalid_json: 1, no_assistant: 1 })
      expect(sut.refusal).toMatch(/2 invalid line\(s\)/)
      await expect(runTune({ file }, deps)).rejects.toThrow(/invalid line/)
      await deps.close()
    })
  })

  describe('when the data is too small or too large', () => {
    it('refuses fewer than FT_MIN_EXAMPLES and files over EXPORT_MAX_BYTES, before any upload', async () => {
      const dir = tmpExportDir()
      const before = await fileCount()
      const small = makeDeps(tunerTestConfig(local.baseURL, dir), pool)
      await expect(runTune({ file: writeTrainingFile(dir, 4) }, small)).rejects.toMatchObject({
        name: 'TrainingDataRefusedError',
        message: expect.stringMatching(/4 example\(s\), fewer than FT_MIN_EXAMPLES \(10\)/),
      })
      const big = makeDeps(tunerTestConfig(local.baseURL, dir, { EXPORT_MAX_BYTES: '1KB' }), pool)
      await expect(runTune({ file: writeTrainingFile(dir, 20) }, big)).rejects.toThrow(
        /over EXPORT_MAX_BYTES \(1024\)/,
      )
      expect(await fileCount()).toBe(before)
      await small.close()
      await big.close()
    })
  })

  describe('when the data is good (happy path through the queue)', () => {
    let worker: Worker | undefined
    afterEach(async () => {
      await worker?.close()
    })

    it('uploads, tunes, registers a candidate and enqueues evaluate; a second trigger joins the first', async () => {
      const dir = tmpExportDir()
      // The provider's files are counted below: keep them (provider-copies.test.ts tests deletion).
      const config = tunerTestConfig(local.baseURL, dir, { FT_DELETE_TRAINING_FILES: 'false' })
      const deps = makeDeps(config, pool)
      worker = createTuneWorker(deps)
      const file = writeTrainingFile(dir, 12)
      const sha = await sha256File(file)
      shas.push(sha)
      // Two triggers for the same data: same BullMQ job id, and the second sees the first's row.
      await deps.tuneQueue.add(TUNE_JOB.tune, { file }, { ...TUNE_JOB_OPTIONS, jobId: tuneJobId(sha) })
      await deps.tuneQueue.add(TUNE_JOB.tune, { file }, { ...TUNE_JOB_OPTIONS, jobId: tuneJobId(sha) })
      const row = await until(async () => {
        const r = await deps.finetunes.findBySha(sha)
        return r?.status === 'succeeded' ? r : null
      })
      expect(row.fineTunedModel).toMatch(/^ft:gpt-4\.1-mini-2025-04-14:.*loopdm-/)
      expect(row.trainedTokens).toBeGreaterThan(0)
      expect(row.events.length).toBeGreaterThan(0)
      expect(row.providerFileId).toBeTruthy()
      // The exporter's GDPR erase reads this marker to report files the provider already holds.
      expect(JSON.parse(readFileSync(`${file}.uploaded`, 'utf8'))).toMatchObject({
        fileId: row.providerFileId,
        sha256: sha,
      })
      const model = await deps.registry.findByIdOrModel(row.fineTunedModel as string)
      expect(model).toMatchObject({
        status: 'candidate',
        kind: 'fine_tuned',
        finetuneJobId: row.providerJobId,
      })
      const evaluate = await deps.evaluateQueue.getJob(evaluateJobId(row.fineTunedModel as string))
      expect(evaluate?.data).toEqual({ trigger: 'tune', candidate: row.fineTunedModel })
      // The poll job ends completed with the model as its return value (Bull Board shows it).
      const poll = await until(async () => {
        const s = await jobState(deps.tuneQueue, tunePollJobId(sha))
        return s.state === 'completed' ? s.job : null
      })
      expect(poll?.returnvalue).toMatchObject({ status: 'succeeded', fineTunedModel: row.fineTunedModel })
      // The ledger holds the billed cost of this job.
      const ledger = await pool.query(
        'select cost_usd::float8 as usd, trained_tokens from cost_ledger where ref = $1',
        [row.providerJobId],
      )
      expect(ledger.rows).toHaveLength(1)
      expect(ledger.rows[0].trained_tokens).toBe(row.trainedTokens)
      // A later trigger for the same data (e.g. inline) creates nothing new.
      const again = await runTune({ file }, deps)
      expect(again.outcome).toBe('existing')
      expect(again.finetune?.providerJobId).toBe(row.providerJobId)
      expect(await providerJobsFor(file)).toHaveLength(1)
      await dropQueue(deps.tuneQueue)
      await dropQueue(deps.evaluateQueue)
      await worker.close()
      await deps.close()
    })
  })

  describe('when two triggers race for the same data', () => {
    it('creates one provider job', async () => {
      const dir = tmpExportDir()
      const deps = makeDeps(tunerTestConfig(local.baseURL, dir), pool)
      const file = writeTrainingFile(dir, 12)
      shas.push(await sha256File(file))
      // Slow uploads widen the race window.
      local.faults.setLatency(150)
      const results = await Promise.all([
        runTune({ file }, deps),
        runTune({ file }, deps),
        runTune({ file }, deps),
      ])
      local.faults.reset()
      expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1)
      expect(results.filter((r) => r.outcome === 'existing')).toHaveLength(2)
      expect(await providerJobsFor(file)).toHaveLength(1)
      await dropQueue(deps.tuneQueue)
      await deps.close()
    })
  })

  describe('when the provider answers 429/500', () => {
    it('retries the upload and the polls and recovers', async () => {
      const dir = tmpExportDir()
      // One SDK retry only, so the poll's own re-delay has to absorb the rest of the outage.
      const config = tunerTestConfig(local.baseURL, dir, {
        OPENAI_MAX_RETRIES: '1',
        FT_POLL_INTERVAL_MS: '50',
      })
      const deps = makeDeps(config, pool)
      const file = writeTrainingFile(dir, 12)
      const sha = await sha256File(file)
      shas.push(sha)
      const before = await fileCount()
      local.faults.failNext(1, 429, { paths: '/files', retryAfterMs: 10 })
      const r = await runTune({ file }, deps)
      expect(r.outcome).toBe('created')
      expect(await fileCount()).toBe(before + 1)
      local.faults.failNext(5, 500, { paths: '/fine_tuning/jobs/', retryAfterMs: 10 })
      const p = await waitFor(
        async () => {
          const poll = await runPoll({ finetuneJobId: r.finetune?.providerJobId }, deps)
          return poll.done && poll
        },
        { what: 'the retried polls to finish the job', timeoutMs: 20_000, intervalMs: 30 },
      )
      expect(p).toMatchObject({ done: true, status: 'succeeded' })
      const row = await deps.finetunes.findBySha(sha)
      expect(row?.pollErrors).toBeGreaterThanOrEqual(1)
      expect(await deps.registry.findByIdOrModel(row?.fineTunedModel as string)).toMatchObject({
        status: 'candidate',
      })
      await dropQueue(deps.tuneQueue)
      await dropQueue(deps.evaluateQueue)
      await deps.close()
    })
  })

  describe('when the upload keeps failing with 500 beyond the SDK retries', () => {
    it('the BullMQ retry of the same job resumes and creates one provider job', async () => {
      const dir = tmpExportDir()
      const config = tunerTestConfig(local.baseURL, dir, {
        OPENAI_MAX_RETRIES: '1',
        FT_DELETE_TRAINING_FILES: 'false',
      })
      const deps = makeDeps(config, pool)
      const worker = createTuneWorker(deps)
      const file = writeTrainingFile(dir, 12)
      const sha = await sha256File(file)
      shas.push(sha)
      const before = await fileCount()
      // 2 requests per attempt (1 SDK retry): attempts 1 and 2 fail, attempt 3 uploads.
      local.faults.failNext(4, 500, { paths: '/files', retryAfterMs: 10 })
      const job = await deps.tuneQueue.add(
        TUNE_JOB.tune,
        { file },
        { attempts: 5, backoff: { type: 'fixed', delay: 50 }, jobId: tuneJobId(sha) },
      )
      const row = await until(async () => {
        const r = await deps.finetunes.findBySha(sha)
        return r?.status === 'succeeded' ? r : null
      })
      const done = await deps.tuneQueue.getJob(job.id as string)
      expect(done?.attemptsMade).toBe(3)
      expect(await fileCount()).toBe(before + 1)
      expect(await providerJobsFor(file)).toHaveLength(1)
      expect(row.fineTunedModel).toMatch(/^ft:/)
      await worker.close()
      await dropQueue(deps.tuneQueue)
      await dropQueue(deps.evaluateQueue)
      await deps.close()
    })
  })

  describe('when the provider fails the job', () => {
    it('records the reason, registers no candidate, and fails the poll job with the reason', async () => {
      const dir = tmpExportDir()
      // Our gate lets 3 examples through (a provider whose own minimum we do not know: limits
      // say 1); openai-local (like OpenAI) requires at least 10 and fails the job.
      const config = tunerTestConfig(local.baseURL, dir, { FT_MIN_EXAMPLES: '1' })
      const openai = createOpenAIProvider({ sdk: createOpenAISdk({ config }) })
      const provider = { ...openai, limits: () => ({ tokenLimit: 65_536, minExamples: 1 }) }
      const deps = createTunerDeps({ config, logger: silentLogger, pool, provider })
      const worker = createTuneWorker(deps)
      const file = writeTrainingFile(dir, 3)
      const sha = await sha256File(file)
      shas.push(sha)
      await deps.tuneQueue.add(TUNE_JOB.tune, { file }, { ...TUNE_JOB_OPTIONS, jobId: tuneJobId(sha) })
      const row = await until(async () => {
        const r = await deps.finetunes.findBySha(sha)
        return r?.status === 'failed' ? r : null
      })
      expect(row.error).toMatch(/10/)
      expect(row.fineTunedModel).toBeNull()
      // No candidate; the registry (what GET /admin/models lists) shows the failure and its reason.
      const rows = (await deps.registry.list()).filter((m) => m.finetuneJobId === row.providerJobId)
      expect(rows).toEqual([
        expect.objectContaining({
          model: row.providerJobId,
          status: 'rejected',
          reason: `fine-tune failed: ${row.error}`,
        }),
      ])
      expect(await deps.registry.listByStatus(['candidate', 'approved_pending'])).not.toContainEqual(
        expect.objectContaining({ finetuneJobId: row.providerJobId }),
      )
      await pool.query('delete from models where model = $1', [row.providerJobId])
      const poll = await until(async () => {
        const s = await jobState(deps.tuneQueue, tunePollJobId(sha))
        return s.state === 'failed' ? s.job : null
      })
      expect(poll?.failedReason).toContain(row.error as string)
      const ledger = await pool.query('select cost_usd::float8 as usd from cost_ledger where ref = $1', [
        row.providerJobId,
      ])
      expect(ledger.rows[0]?.usd).toBe(0)
      // What GET /admin/models reads to list failed fine-tunes with their reason.
      const failed = await listFinetuneJobs(pool, { status: ['failed', 'cancelled'], limit: 100 })
      expect(failed.find((f) => f.providerJobId === row.providerJobId)).toMatchObject({
        status: 'failed',
        error: row.error,
      })
      await worker.close()
      await dropQueue(deps.tuneQueue)
      await deps.close()
    })
  })

  describe('when the job would exceed the monthly budget', () => {
    let hook: Server
    const posts: Array<Record<string, unknown>> = []
    beforeAll(async () => {
      hook = createServer((req, res) => {
        let body = ''
        req.on('data', (c) => {
          body += c
        })
        req.on('end', () => {
          posts.push(JSON.parse(body))
          res.end('ok')
        })
      })
      await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r))
    })
    afterAll(() => new Promise<void>((r) => hook.close(() => r())))

    it('refuses it before upload with BudgetExceededError, alerting at 100 %', async () => {
      const dir = tmpExportDir()
      const file = writeTrainingFile(dir, 12)
      const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alert`
      const probe = makeDeps(tunerTestConfig(local.baseURL, dir), pool)
      const dry = await runTune({ file, dryRun: true }, probe)
      const mtd = await createCostLedger({ db: pool }).monthToDateUsd(FINE_TUNE_OPERATION)
      // Room for half of this job.
      const budget = (mtd + dry.estimateUsd / 2).toFixed(6)
      const { logger, lines } = capturingLogger()
      const config = tunerTestConfig(local.baseURL, dir, {
        FT_BUDGET_USD_MONTHLY: budget,
        BUDGET_ALERT_WEBHOOK_URL: hookUrl,
      })
      const deps = makeDeps(config, pool, logger)
      const before = await fileCount()
      posts.length = 0
      await expect(runTune({ file }, deps)).rejects.toMatchObject({
        name: 'BudgetExceededError',
        message: expect.stringMatching(/over FT_BUDGET_USD_MONTHLY/),
      })
      expect(await fileCount()).toBe(before)
      expect(await deps.finetunes.findBySha(dry.report.sha256)).toBeNull()
      expect(lines.some((l) => l.msg === 'budget alert' && l.thresholdPct === 100 && l.level === 50)).toBe(
        true,
      )
      expect(posts).toHaveLength(1)
      expect(posts[0]).toMatchObject({ level: 100, refused: true, source: 'loopdm-tuner' })
      // Through the queue the job fails at once (no retries) and says why.
      const worker = createTuneWorker(deps)
      const job = await deps.tuneQueue.add(
        TUNE_JOB.tune,
        { file },
        { ...TUNE_JOB_OPTIONS, jobId: tuneJobId(dry.report.sha256) },
      )
      const failed = await until(async () => {
        const s = await jobState(deps.tuneQueue, job.id as string)
        return s.state === 'failed' ? s.job : null
      })
      expect(failed?.failedReason).toMatch(/^BudgetExceededError: /)
      expect(failed?.attemptsMade).toBe(1)
      expect(await fileCount()).toBe(before)
      await worker.close()
      await dropQueue(deps.tuneQueue)
      await deps.close()
      await probe.close()
    })

    it('lets a job through at 80-100 % of the budget with an 80 % alert', async () => {
      const dir = tmpExportDir()
      const file = writeTrainingFile(dir, 12)
      shas.push(await sha256File(file))
      const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alert`
      const probe = makeDeps(tunerTestConfig(local.baseURL, dir), pool)
      const dry = await runTune({ file, dryRun: true }, probe)
      const mtd = await createCostLedger({ db: pool }).monthToDateUsd(FINE_TUNE_OPERATION)
      const budget = ((mtd + dry.estimateUsd) / 0.9).toFixed(6)
      const config = tunerTestConfig(local.baseURL, dir, {
        FT_BUDGET_USD_MONTHLY: budget,
        BUDGET_ALERT_WEBHOOK_URL: hookUrl,
      })
      const deps = makeDeps(config, pool)
      posts.length = 0
      const r = await runTune({ file }, deps)
      expect(r.outcome).toBe('created')
      expect(r.budget?.alerts).toEqual([80])
      expect(posts).toHaveLength(1)
      expect(posts[0]).toMatchObject({ level: 80, refused: false })
      // The estimate now counts against the month.
      const after = await createCostLedger({ db: pool }).monthToDateUsd(FINE_TUNE_OPERATION)
      expect(after).toBeCloseTo(mtd + dry.estimateUsd, 5)
      await dropQueue(deps.tuneQueue)
      await deps.close()
      await probe.close()
    })
  })

  describe('when a GDPR erase asked for the provider copy to go once the job ends', () => {
    it('deletes the training file at the provider on the terminal poll', async () => {
      const dir = tmpExportDir()
      const deps = makeDeps(tunerTestConfig(local.baseURL, dir), pool)
      const file = writeTrainingFile(dir, 12)
      const sha = await sha256File(file)
      shas.push(sha)
      await runTune({ file }, deps)
      const row = await deps.finetunes.findBySha(sha)
      const fileId = row?.providerFileId as string
      expect((await deps.sdk.files.retrieve(fileId)).id).toBe(fileId)
      // What the erase writes while the job still reads the file (gateway gdpr.service).
      const marker = readUploadedMarker(file)
      expect(marker?.fileId).toBe(fileId)
      writeUploadedMarker(file, { ...(marker as UploadedMarker), deleteWhenDone: true })
      let r = await runPoll({ finetuneJobId: row?.providerJobId }, deps)
      while (!r.done) {
        // Still running: the copy stays until the job is over.
        expect((await deps.sdk.files.retrieve(fileId)).id).toBe(fileId)
        await new Promise((res) => setTimeout(res, 30))
        r = await runPoll({ finetuneJobId: row?.providerJobId }, deps)
      }
      expect(r.status).toBe('succeeded')
      await expect(deps.sdk.files.retrieve(fileId)).rejects.toMatchObject({ status: 404 })
      expect(existsSync(`${file}.uploaded`)).toBe(false)
      await dropQueue(deps.tuneQueue)
      await dropQueue(deps.evaluateQueue)
      await deps.close()
    })
  })

  describe('when the tuner restarts or the job hangs', () => {
    it('resumes polling from the table when Redis lost the poll job', async () => {
      const dir = tmpExportDir()
      const deps = makeDeps(tunerTestConfig(local.baseURL, dir), pool)
      const file = writeTrainingFile(dir, 12)
      const sha = await sha256File(file)
      shas.push(sha)
      await runTune({ file }, deps)
      await (await deps.tuneQueue.getJob(tunePollJobId(sha)))?.remove()
      expect((await jobState(deps.tuneQueue, tunePollJobId(sha))).state).toBe('missing')
      const resumed = await resumePolls(deps)
      expect(resumed.polls).toBeGreaterThanOrEqual(1)
      expect((await jobState(deps.tuneQueue, tunePollJobId(sha))).state).toMatch(
        /waiting|delayed|prioritized/,
      )
      const worker = createTuneWorker(deps)
      await until(async () => (await deps.finetunes.findBySha(sha))?.status === 'succeeded')
      await worker.close()
      await dropQueue(deps.tuneQueue)
      await dropQueue(deps.evaluateQueue)
      await deps.close()
    })

    it('cancels a job stuck past FT_DEADLINE_MS', async () => {
      const slow = await startOpenAILocal({ port: 0, ftStepMs: 60_000 })
      try {
        const dir = tmpExportDir()
        const deps = makeDeps(tunerTestConfig(slow.baseURL, dir, { FT_DEADLINE_MS: '1000' }), pool)
        const file = writeTrainingFile(dir, 12)
        const sha = await sha256File(file)
        shas.push(sha)
        const r = await runTune({ file }, deps)
        await new Promise((res) => setTimeout(res, 1100))
        const p = await runPoll({ finetuneJobId: r.finetune?.providerJobId }, deps)
        expect(p).toMatchObject({
          done: true,
          status: 'cancelled',
          error: expect.stringMatching(/deadline exceeded/),
        })
        const provider = await createOpenAISdk({ config: deps.config }).fineTuning.jobs.retrieve(
          r.finetune?.providerJobId as string,
        )
        expect(provider.status).toBe('cancelled')
        await dropQueue(deps.tuneQueue)
        await deps.close()
      } finally {
        await slow.close()
      }
    })
  })
})

// Keep the linter honest about imports used only in some branches.
void EVALUATE_QUEUE
void silentLogger
