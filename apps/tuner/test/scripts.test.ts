import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Pool } from '@loopdm/db/pool'
import { testPool } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTuneWorker } from '../src/jobs/tune.worker.js'
import { sha256File } from '../src/services/training-data.service.js'
import { dropQueue, makeDeps, tmpExportDir, tunerTestConfig, writeTrainingFile } from './helpers.js'

const exec = promisify(execFile)
const ROOT = new URL('../../..', import.meta.url).pathname

let local: OpenAILocal
let pool: Pool
const shas: string[] = []

function run(script: string, args: string[], env: Record<string, string>) {
  return exec(process.execPath, ['--import', 'tsx', `scripts/${script}`, ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'silent', ...env },
    timeout: 90_000,
  })
}

beforeAll(async () => {
  local = await startOpenAILocal({ port: 0, ftStepMs: 30 })
  pool = await testPool()
})

afterAll(async () => {
  const r = await pool.query<{ provider_job_id: string; fine_tuned_model: string | null }>(
    'delete from finetune_jobs where file_sha256 = any($1) returning provider_job_id, fine_tuned_model',
    [shas],
  )
  await pool.query(`delete from cost_ledger where operation = 'fine_tune' and ref = any($1)`, [
    r.rows.map((x) => x.provider_job_id),
  ])
  await pool.query('delete from models where model = any($1)', [r.rows.map((x) => x.fine_tuned_model)])
  await pool.end()
  await local.close()
})

describe('npm run tune', () => {
  describe('when a tuner worker is running', () => {
    it('enqueues the job, waits for the fine-tune and prints the candidate', async () => {
      const dir = tmpExportDir()
      const config = tunerTestConfig(local.baseURL, dir)
      const deps = makeDeps(config, pool)
      const worker = createTuneWorker(deps)
      await worker.waitUntilReady()
      const file = writeTrainingFile(dir, 12)
      shas.push(await sha256File(file))
      try {
        const { stdout } = await run('tune.ts', ['--file', file], {
          OPENAI_BASE_URL: local.baseURL,
          QUEUE_PREFIX: config.redis.prefix,
          EXPORT_DIR: dir,
          FT_POLL_INTERVAL_MS: '100',
          LEARNING_BACKEND: 'fine-tune',
        })
        expect(stdout).toMatch(/enqueued tune job tune-[0-9a-f]{64}/)
        expect(stdout).toMatch(/examples\s+12/)
        expect(stdout).toMatch(/fine-tune succeeded: ft:gpt-4\.1-mini-2025-04-14:\S+ \(\d+ trained tokens\)/)
      } finally {
        await worker.close()
        await dropQueue(deps.tuneQueue)
        await dropQueue(deps.evaluateQueue)
        await deps.close()
      }
    })
  })

  describe('with --inline', () => {
    it('tunes in-process and polls until the fine-tune ends', async () => {
      const dir = tmpExportDir()
      const config = tunerTestConfig(local.baseURL, dir)
      const file = writeTrainingFile(dir, 10)
      shas.push(await sha256File(file))
      const { stdout } = await run('tune.ts', ['--inline', '--file', file], {
        OPENAI_BASE_URL: local.baseURL,
        QUEUE_PREFIX: config.redis.prefix,
        EXPORT_DIR: dir,
        FT_POLL_INTERVAL_MS: '100',
        LEARNING_BACKEND: 'fine-tune',
      })
      expect(stdout).toMatch(/fine-tune\s+#\d+ provider job ftjob-\S+/)
      expect(stdout).toMatch(/fine-tune succeeded: ft:/)
      const deps = makeDeps(config, pool)
      await dropQueue(deps.tuneQueue)
      await dropQueue(deps.evaluateQueue)
      await deps.close()
    })
  })
})

describe('npm run cleanup:models -- --dry-run', () => {
  it('lists retirement, writes the monthly report and names who handles data retention', async () => {
    const dir = tmpExportDir()
    const config = tunerTestConfig(local.baseURL, dir)
    const { stdout } = await run(
      'cleanup-models.ts',
      ['--dry-run', '--reports-dir', dir, '--month', '2026-01'],
      {
        OPENAI_BASE_URL: local.baseURL,
        QUEUE_PREFIX: config.redis.prefix,
      },
    )
    expect(stdout).toContain('model retirement (dry run)')
    expect(stdout).toMatch(/would delete: /)
    expect(stdout).toContain(`monthly report ${join(dir, '2026-01.md')}`)
    expect(stdout).toContain('data retention (dry run)')
    expect(existsSync(join(dir, '2026-01.md'))).toBe(true)
    expect(readFileSync(join(dir, '2026-01.md'), 'utf8')).toContain('# Loop DM monthly report — 2026-01')
  })
})
