import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { createOpenAISdk, type OpenAI } from '@loopdm/platform/openai'
import { testPool, uniqueId } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { waitFor } from '@loopdm/testing/wait'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runPoll } from '../src/jobs/poll.processor.js'
import { runTune } from '../src/jobs/tune.processor.js'
import { writeMonthlyReport } from '../src/services/report.service.js'
import { retireModels } from '../src/services/retirement.service.js'
import { sha256File } from '../src/services/training-data.service.js'
import {
  capturingLogger,
  dropQueue,
  makeDeps,
  silentLogger,
  tmpExportDir,
  tunerTestConfig,
  writeTrainingFile,
} from './helpers.js'

let local: OpenAILocal
let pool: Pool
let sdk: OpenAI
let deps: ReturnType<typeof makeDeps>
const models: string[] = []
const shas: string[] = []
/** Registry state we must give back (the active model is a global singleton). */
let savedOthers: Array<{ model: string; status: string; retired_at: Date | null }> = []

async function tuneOne(dir: string): Promise<string> {
  const file = writeTrainingFile(dir, 10)
  shas.push(await sha256File(file))
  const r = await runTune({ file }, deps)
  const id = r.finetune?.providerJobId
  const p = await waitFor(
    async () => {
      const poll = await runPoll({ finetuneJobId: id }, deps)
      return poll.done && poll
    },
    { what: `fine-tune ${id} to finish`, timeoutMs: 30_000, intervalMs: 30 },
  )
  if (p.status !== 'succeeded' || !p.fineTunedModel) throw new Error(`tune failed: ${p.error}`)
  models.push(p.fineTunedModel)
  return p.fineTunedModel
}

async function providerModels(): Promise<string[]> {
  const out: string[] = []
  for await (const m of sdk.models.list()) out.push(m.id)
  return out
}

beforeAll(async () => {
  local = await startOpenAILocal({ port: 0, ftStepMs: 20 })
  pool = await testPool()
  const dir = tmpExportDir()
  const config = tunerTestConfig(local.baseURL, dir)
  sdk = createOpenAISdk({ config })
  deps = makeDeps(config, pool)
  savedOthers = (
    await pool.query(
      `select model, status, retired_at from models where kind = 'fine_tuned' and status <> 'retired'`,
    )
  ).rows
})

afterAll(async () => {
  // Give the registry back: drop our rows, then every other row's status exactly as it was
  // (the previously active model included: it is a global singleton).
  await pool.query('delete from model_promotions where to_model = any($1) or from_model = any($1)', [models])
  await pool.query('delete from models where model = any($1)', [models])
  for (const o of savedOthers)
    await pool.query('update models set status = $2, retired_at = $3 where model = $1', [
      o.model,
      o.status,
      o.retired_at,
    ])
  const refs = await pool.query<{ provider_job_id: string }>(
    'delete from finetune_jobs where file_sha256 = any($1) returning provider_job_id',
    [shas],
  )
  await pool.query(`delete from cost_ledger where operation = 'fine_tune' and ref = any($1)`, [
    refs.rows.map((r) => r.provider_job_id),
  ])
  await dropQueue(deps.tuneQueue)
  await dropQueue(deps.evaluateQueue)
  await deps.close()
  await pool.end()
  await local.close()
})

describe('retireModels', () => {
  describe('when fine-tuned models are older than 90 days', () => {
    it('deletes the old ones, keeps the active and rollback models, and is idempotent', async () => {
      const dir = tmpExportDir()
      const [rollback, active, old1, old2] = [
        await tuneOne(dir),
        await tuneOne(dir),
        await tuneOne(dir),
        await tuneOne(dir),
      ]
      await deps.registry.promote({ model: rollback as string, actor: 'test', reason: 'first' })
      await deps.registry.promote({ model: active as string, actor: 'test', reason: 'second' })
      expect(await deps.registry.findPrevious()).toBe(rollback)
      const later = new Date(Date.now() + 100 * 24 * 3600_000)
      const base = { db: pool, sdk, config: deps.config, logger: silentLogger, now: later }

      const dry = await retireModels({ ...base, dryRun: true })
      expect(dry.wouldDelete).toEqual(expect.arrayContaining([old1, old2]))
      expect(dry.wouldDelete).not.toContain(active)
      expect(dry.wouldDelete).not.toContain(rollback)
      expect(dry.deleted).toEqual([])
      expect(await providerModels()).toEqual(expect.arrayContaining([old1, old2]))

      // Today nothing is old enough.
      const today = await retireModels({ ...base, now: new Date() })
      expect(today.deleted).toEqual([])
      expect(today.kept).toEqual(
        expect.arrayContaining([{ model: old1, reason: expect.stringMatching(/younger/) }]),
      )

      const sut = await retireModels(base)
      expect(sut.deleted).toEqual(expect.arrayContaining([old1, old2]))
      expect(sut.kept).toEqual(
        expect.arrayContaining([
          { model: active, reason: 'active' },
          { model: rollback, reason: expect.stringMatching(/rollback/) },
        ]),
      )
      const left = await providerModels()
      expect(left).toContain(active)
      expect(left).toContain(rollback)
      expect(left).not.toContain(old1)
      expect(left).not.toContain(old2)
      expect(await deps.registry.findByIdOrModel(old1 as string)).toMatchObject({ status: 'retired' })
      expect((await deps.registry.findByIdOrModel(old1 as string))?.retiredAt).toBeInstanceOf(Date)
      expect(await deps.registry.findByIdOrModel(active as string)).toMatchObject({ status: 'active' })

      const again = await retireModels(base)
      expect(again.deleted).toEqual([])
      expect(again.retired).toEqual([])
      expect(await deps.registry.findByIdOrModel(rollback as string)).toMatchObject({ status: 'inactive' })
    })
  })
})

describe('writeMonthlyReport', () => {
  it('writes reports/YYYY-MM.md with costs, fine-tunes and models, and logs a summary', async () => {
    const dir = tmpExportDir()
    const { logger, lines } = capturingLogger()
    const month = new Date().toISOString().slice(0, 7)
    const user = uniqueId('u')
    const model = uniqueId('report-model')
    await pool.query(
      `insert into conversation_messages (ig_user_id, role, content, model, ig_message_id)
       values ($1, 'user', 'hi', null, $3), ($1, 'assistant', 'hello', $2, $4)`,
      [user, model, uniqueId('mid'), uniqueId('mid')],
    )
    const sut = await writeMonthlyReport({ db: pool, config: deps.config, logger, month, dir }).finally(() =>
      pool.query('delete from conversation_messages where ig_user_id = $1', [user]),
    )
    expect(sut.path).toBe(join(dir, `${month}.md`))
    expect(existsSync(sut.path)).toBe(true)
    const md = readFileSync(sut.path, 'utf8')
    expect(md).toContain(`# Loop DM monthly report — ${month}`)
    expect(md).toMatch(/## Cost analysis[\s\S]*\| fine_tune \|/)
    expect(md).toContain('## Fine-tuning')
    expect(md).toContain(models[0] as string)
    expect(md).toMatch(/### Retired \(\d+\)/)
    expect(md).toContain('## Evaluation')
    expect(md).toMatch(/conversation completion \d+% \(\d+\/\d+ users' last turn answered\)/)
    // Reactions, completion and fallbacks per model (the evaluator's quality signals).
    expect(md).toContain('## Quality signals from production')
    expect(md).toContain(`| ${model} | 1 |`)
    expect(sut.totals.finetunes).toBeGreaterThanOrEqual(4)
    expect(sut.totals.fineTuneUsd).toBeGreaterThan(0)
    expect(lines.some((l) => l.msg === 'monthly report written' && l.month === month)).toBe(true)
  })
})
