import type { Pool } from '@loopdm/db/pool'
import { reservationRef } from '@loopdm/models/budget-reservation'
import { createCostLedger, FINE_TUNE_OPERATION } from '@loopdm/models/cost-ledger'
import { testPool } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runPoll } from '../src/jobs/poll.processor.js'
import { runTune } from '../src/jobs/tune.processor.js'
import { sha256File } from '../src/services/training-data.service.js'
import { dropQueue, makeDeps, tmpExportDir, tunerTestConfig, until, writeTrainingFile } from './helpers.js'

/**
 * The fine-tuning budget under concurrency (issue 17): the estimate is reserved in the cost ledger
 * before the upload, so two tunes at once cannot both pass a budget that holds one; a cancelled job
 * is settled at what the provider billed, not $0.
 */
let local: OpenAILocal
let pool: Pool
const shas: string[] = []

beforeAll(async () => {
  local = await startOpenAILocal({ port: 0, ftStepMs: 20 })
  pool = await testPool()
})
afterAll(async () => {
  const r = await pool.query<{ provider_job_id: string | null }>(
    'delete from finetune_jobs where file_sha256 = any($1) returning provider_job_id',
    [shas],
  )
  const refs = [...r.rows.map((x) => x.provider_job_id).filter(Boolean), ...shas.map(reservationRef)]
  await pool.query('delete from cost_ledger where operation = $1 and ref = any($2)', [
    FINE_TUNE_OPERATION,
    refs,
  ])
  await pool.end()
  await local.close()
})

const mtd = () => createCostLedger({ db: pool }).monthToDateUsd(FINE_TUNE_OPERATION)

describe('fine-tune budget reservations', () => {
  describe('when two tunes start at once against a budget that holds one', () => {
    it('one is created, the other refused with a clear reason, and only one file is uploaded', async () => {
      const dir = tmpExportDir()
      const [a, b] = [writeTrainingFile(dir, 12), writeTrainingFile(dir, 12)]
      shas.push(await sha256File(a), await sha256File(b))
      const probe = makeDeps(tunerTestConfig(local.baseURL, dir), pool)
      const dry = await runTune({ file: a, dryRun: true }, probe)
      await probe.close()
      const before = await mtd()
      const budget = (before + dry.estimateUsd * 1.5).toFixed(6)
      const deps = makeDeps(tunerTestConfig(local.baseURL, dir, { FT_BUDGET_USD_MONTHLY: budget }), pool)
      const filesBefore = (await deps.sdk.files.list()).data.length
      try {
        const results = await Promise.allSettled([runTune({ file: a }, deps), runTune({ file: b }, deps)])
        const created = results.filter((r) => r.status === 'fulfilled')
        const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
        expect(created).toHaveLength(1)
        expect(refused).toHaveLength(1)
        expect(refused[0]?.reason).toMatchObject({
          name: 'BudgetExceededError',
          statusCode: 402,
          message: expect.stringMatching(/spend and reservations .* over FT_BUDGET_USD_MONTHLY/),
        })
        expect((await deps.sdk.files.list()).data.length).toBe(filesBefore + 1)
        // The month counts the one job at its estimate: nothing reserved twice, nothing lost.
        expect(await mtd()).toBeCloseTo(before + dry.estimateUsd, 5)
      } finally {
        await dropQueue(deps.tuneQueue)
        await dropQueue(deps.evaluateQueue)
        await deps.close()
      }
    })
  })

  describe('when a running job is cancelled at the provider', () => {
    it('settles the ledger at the tokens the provider billed, not at $0', async () => {
      const slow = await startOpenAILocal({ port: 0, ftStepMs: 400 })
      const dir = tmpExportDir()
      const deps = makeDeps(tunerTestConfig(slow.baseURL, dir), pool)
      try {
        const file = writeTrainingFile(dir, 12)
        shas.push(await sha256File(file))
        const r = await runTune({ file }, deps)
        const id = r.finetune?.providerJobId as string
        await until(
          async () => (await deps.sdk.fineTuning.jobs.retrieve(id)).status === 'running',
          10_000,
          50,
        )
        const cancelled = await deps.sdk.fineTuning.jobs.cancel(id)
        expect(cancelled.trained_tokens).toBeGreaterThan(0)
        const p = await runPoll({ finetuneJobId: id }, deps)
        expect(p).toMatchObject({ done: true, status: 'cancelled' })
        const row = await pool.query<{ usd: number; trained: number }>(
          'select cost_usd::float8 as usd, trained_tokens as trained from cost_ledger where operation = $1 and ref = $2',
          [FINE_TUNE_OPERATION, id],
        )
        expect(row.rows).toHaveLength(1)
        expect(row.rows[0]?.trained).toBe(cancelled.trained_tokens)
        expect(row.rows[0]?.usd).toBeGreaterThan(0)
        expect(row.rows[0]?.usd).toBeLessThan(r.estimateUsd)
      } finally {
        await dropQueue(deps.tuneQueue)
        await dropQueue(deps.evaluateQueue)
        await deps.close()
        await slow.close()
      }
    })
  })
})
