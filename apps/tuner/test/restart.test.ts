import { type ChildProcess, spawn } from 'node:child_process'
import type { Pool } from '@loopdm/db/pool'
import { evaluateJobId, TUNE_JOB, TUNE_JOB_OPTIONS, tuneJobId } from '@loopdm/queues/contracts'
import { testPool } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha256File } from '../src/services/training-data.service.js'
import { dropQueue, makeDeps, tmpExportDir, tunerTestConfig, until, writeTrainingFile } from './helpers.js'

const ROOT = new URL('../../..', import.meta.url).pathname

let local: OpenAILocal
let pool: Pool
const children: ChildProcess[] = []

/** The real tuner composition root (apps/tuner/src/main.ts) as a child process. */
function startTuner(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  let out = ''
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/tuner/src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout?.on('data', (d) => {
    out += d
  })
  child.stderr?.on('data', (d) => {
    out += d
  })
  children.push(child)
  return { child, output: () => out }
}

const exited = (c: ChildProcess) =>
  new Promise<number | null>((r) =>
    c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code)),
  )

beforeAll(async () => {
  // Slow enough steps that the job is surely still running when the tuner dies.
  local = await startOpenAILocal({ port: 0, ftStepMs: 1500 })
  pool = await testPool()
})

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  await pool.end()
  await local.close()
})

describe('tuner process', () => {
  describe('when SIGKILLed while the fine-tune runs', () => {
    it('a restarted tuner resumes polling from the table and finishes the job', async () => {
      const dir = tmpExportDir()
      const config = tunerTestConfig(local.baseURL, dir, { FT_POLL_INTERVAL_MS: '700' })
      const deps = makeDeps(config, pool)
      const env = {
        DATABASE_URL: process.env.DATABASE_URL as string,
        REDIS_URL: config.redis.url,
        QUEUE_PREFIX: config.redis.prefix,
        OPENAI_BASE_URL: local.baseURL,
        EXPORT_DIR: dir,
        FT_POLL_INTERVAL_MS: '700',
        LEARNING_BACKEND: 'fine-tune',
        LOG_LEVEL: 'info',
        LOG_FILE: '',
      }
      const file = writeTrainingFile(dir, 12)
      const sha = await sha256File(file)
      try {
        const first = startTuner(env)
        await until(async () => first.output().includes('tuner ready'), 60_000)
        await deps.tuneQueue.add(TUNE_JOB.tune, { file }, { ...TUNE_JOB_OPTIONS, jobId: tuneJobId(sha) })
        const running = await until(async () => {
          const r = await deps.finetunes.findBySha(sha)
          return r?.providerJobId && r.pollCount >= 1 ? r : null
        }, 60_000)
        expect(running.status).not.toBe('succeeded')
        first.child.kill('SIGKILL')
        await exited(first.child)
        // While no tuner runs, nothing advances the row.
        const frozen = (await deps.finetunes.findBySha(sha))?.pollCount
        await new Promise((r) => setTimeout(r, 1500))
        expect((await deps.finetunes.findBySha(sha))?.pollCount).toBe(frozen)

        const second = startTuner(env)
        await until(async () => second.output().includes('fine-tunes resumed'), 60_000)
        const done = await until(
          async () => {
            const r = await deps.finetunes.findBySha(sha)
            return r?.status === 'succeeded' ? r : null
          },
          90_000,
          250,
        )
        expect(done.providerJobId).toBe(running.providerJobId)
        expect(await deps.registry.findByIdOrModel(done.fineTunedModel as string)).toMatchObject({
          status: 'candidate',
        })
        expect(await deps.evaluateQueue.getJob(evaluateJobId(done.fineTunedModel as string))).toBeTruthy()
        second.child.kill('SIGTERM')
        expect(await exited(second.child)).toBe(0)
        await pool.query('delete from models where model = $1', [done.fineTunedModel])
        await pool.query(`delete from cost_ledger where operation = 'fine_tune' and ref = $1`, [
          done.providerJobId,
        ])
      } finally {
        await pool.query('delete from finetune_jobs where file_sha256 = $1', [sha])
        await dropQueue(deps.tuneQueue)
        await dropQueue(deps.evaluateQueue)
        await deps.close()
      }
    }, 180_000)
  })
})
