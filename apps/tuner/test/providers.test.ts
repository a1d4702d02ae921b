import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { COPY_TRAINER_COMMAND } from '@loopdm/platform/config'
import { endpointClientFor } from '@loopdm/platform/openai'
import { testPool } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runPoll } from '../src/jobs/poll.processor.js'
import { runTune } from '../src/jobs/tune.processor.js'
import { readRun, trainerState } from '../src/providers/trainer-process.js'
import { retireModels } from '../src/services/retirement.service.js'
import { makeDeps, silentLogger, tmpExportDir, tunerTestConfig, until, writeTrainingFile } from './helpers.js'

/**
 * Every provider through its real contract against openai-local: OpenAI (openai SDK), Together
 * (together-ai SDK) and vLLM (TRAINER_COMMAND + the runtime LoRA HTTP API). The state machine is
 * driven step by step (runTune, then runPoll until terminal), as the worker does.
 */
let local: OpenAILocal
/** A server whose jobs take seconds per state: a deadline test cancels a job that really runs. */
let slow: OpenAILocal
let pool: Pool
const shas: string[] = []

beforeAll(async () => {
  local = await startOpenAILocal({ port: 0, ftStepMs: 20 })
  slow = await startOpenAILocal({ port: 0, ftStepMs: 10_000 })
  pool = await testPool()
})
afterEach(() => local.faults.reset())
afterAll(async () => {
  await pool.query('delete from finetune_jobs where file_sha256 = any($1)', [shas])
  await pool.end()
  await local.close()
  await slow.close()
})

type Name = 'openai' | 'together' | 'vllm'
const envFor = (
  name: Name,
  extra: Record<string, string> = {},
  server: OpenAILocal = local,
): Record<string, string> => ({
  FT_PROVIDER: name,
  LEARNING_BACKEND: 'fine-tune',
  ...(name === 'together' ? { TOGETHER_BASE_URL: server.togetherBaseURL } : {}),
  ...(name === 'vllm'
    ? { VLLM_BASE_URL: server.url, VLLM_ADAPTER_DIR: tmpExportDir(), TRAINER_COMMAND: COPY_TRAINER_COMMAND }
    : {}),
  ...extra,
})
/** Where each provider's upload and status requests go (for fault injection). */
const PATHS: Record<Name, { upload: string; poll: string }> = {
  openai: { upload: '/v1/files', poll: '/fine_tuning/jobs/' },
  together: { upload: '/together/v1/files/upload', poll: '/together/v1/fine-tunes/' },
  // vLLM: staging is a local copy and status a local process; its HTTP calls are the LoRA API.
  vllm: { upload: '/load_lora_adapter', poll: '/load_lora_adapter' },
}

function setup(name: Name, extra: Record<string, string> = {}, server: OpenAILocal = local) {
  const dir = tmpExportDir()
  const config = tunerTestConfig(server.baseURL, dir, envFor(name, extra, server))
  return { dir, config, deps: makeDeps(config, pool) }
}

async function pollToEnd(deps: ReturnType<typeof makeDeps>, jobId: string) {
  return until(
    async () => {
      const r = await runPoll({ finetuneJobId: jobId }, deps)
      return r.done ? r : undefined
    },
    60_000,
    30,
  )
}

async function servingOf(model: string) {
  const r = await pool.query<{
    endpoint: { provider: 'openai' | 'together' | 'vllm'; baseURL?: string } | null
    serving_model: string
    status: string
  }>('select endpoint, serving_model, status from models where model = $1', [model])
  return r.rows[0]
}

describe.each(['openai', 'together', 'vllm'] as const)('fine-tune provider %s', (name) => {
  describe('when the data is good', () => {
    it('trains to a candidate policy that answers trained prompts at its endpoint, through 429/5xx on upload and polling', async () => {
      const { dir, config, deps } = setup(name)
      const file = writeTrainingFile(dir, 12)
      local.faults.failNext(1, name === 'vllm' ? 503 : 429, { paths: PATHS[name].upload })
      const created = await runTune({ file }, deps)
      shas.push(created.report.sha256)
      expect(created.outcome).toBe('created')
      expect(created.provider).toBe(name)
      const jobId = created.finetune?.providerJobId as string
      local.faults.failNext(1, 503, { paths: PATHS[name].poll })
      const r = await pollToEnd(deps, jobId)
      expect(r).toMatchObject({ status: 'succeeded' })
      expect(local.faults.snapshot().remaining).toBe(0)
      const model = r.done ? (r.fineTunedModel as string) : ''
      const served = await servingOf(model)
      expect(served?.status).toBe('candidate')
      expect(served?.endpoint?.provider ?? 'openai').toBe(name)
      const client = endpointClientFor(served?.endpoint ?? null, { config })
      const lines = (await import('node:fs')).readFileSync(file, 'utf8').trim().split('\n')
      const ex = JSON.parse(lines[3] as string).messages as Array<{ role: string; content: string }>
      const res = await client.chat.completions.create({
        model: served?.serving_model as string,
        messages: [{ role: 'user', content: ex[1]?.content as string }],
      })
      expect(res.choices[0]?.message.content).toBe(ex[2]?.content)
      await deps.close()
    })
  })

  describe('when the trained model is retired', () => {
    it('deletes it at the provider (vLLM: unloads the adapter) and it stops answering', async () => {
      const { dir, config, deps } = setup(name)
      const file = writeTrainingFile(dir, 12)
      const created = await runTune({ file }, deps)
      shas.push(created.report.sha256)
      const r = await pollToEnd(deps, created.finetune?.providerJobId as string)
      const model = r.done ? (r.fineTunedModel as string) : ''
      expect((await deps.provider.listModels()).map((m) => m.id)).toContain(model)
      const provider = {
        listModels: async () => (await deps.provider.listModels()).filter((m) => m.id === model),
        deleteModel: deps.provider.deleteModel,
      }
      const sut = await retireModels({
        db: pool,
        sdk: deps.sdk,
        provider,
        config,
        logger: silentLogger,
        now: new Date(Date.now() + 200 * 24 * 3600_000),
      })
      expect(sut.deleted).toEqual([model])
      expect((await deps.provider.listModels()).map((m) => m.id)).not.toContain(model)
      const served = await servingOf(model)
      expect(served?.status).toBe('retired')
      const client = endpointClientFor(served?.endpoint ?? null, { config })
      await expect(
        client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hello' }] }),
      ).rejects.toMatchObject({ status: 404 })
      await pool.query('delete from models where model = $1', [model])
      await deps.close()
    })
  })

  describe('when a line is bad', () => {
    it('refuses before uploading, naming the line', async () => {
      const { dir, deps } = setup(name)
      const file = writeTrainingFile(dir, 12)
      const text = (await import('node:fs')).readFileSync(file, 'utf8').split('\n')
      text[4] = '{"messages": [{"role": "user", "content": "no answer"}'
      writeFileSync(file, text.join('\n'))
      const before = local.faults.snapshot().requests
      await expect(runTune({ file }, deps)).rejects.toThrow(/line 5/)
      expect(local.faults.snapshot().requests).toBe(before)
      await deps.close()
    })
  })

  describe('when the tuner restarts mid-job', () => {
    it('a fresh process (new deps, new provider) resumes polling the same job to success', async () => {
      const first = setup(
        name,
        name === 'vllm' ? { TRAINER_COMMAND: `COPY_TRAINER_DELAY_MS=400 ${COPY_TRAINER_COMMAND}` } : {},
      )
      const file = writeTrainingFile(first.dir, 12)
      const created = await runTune({ file }, first.deps)
      shas.push(created.report.sha256)
      const jobId = created.finetune?.providerJobId as string
      await first.deps.close()
      const second = makeDeps(first.config, pool)
      const r = await pollToEnd(second, jobId)
      expect(r).toMatchObject({ status: 'succeeded', providerJobId: jobId })
      const again = await runTune({ file }, second)
      expect(again.outcome).toBe('existing')
      await second.close()
    })
  })

  describe('when the deadline passes', () => {
    it('cancels at the provider and records why', async () => {
      const extra: Record<string, string> =
        name === 'vllm' ? { TRAINER_COMMAND: `COPY_TRAINER_DELAY_MS=60000 ${COPY_TRAINER_COMMAND}` } : {}
      const { dir, config, deps } = setup(name, { FT_DEADLINE_MS: '1000', ...extra }, slow)
      const file = writeTrainingFile(dir, 12)
      const created = await runTune({ file }, deps)
      shas.push(created.report.sha256)
      const jobId = created.finetune?.providerJobId as string
      const late = makeDeps(config, pool)
      Object.assign(late, { now: () => new Date(Date.now() + 3_600_000) })
      const r = await runPoll({ finetuneJobId: jobId }, late)
      expect(r).toMatchObject({ done: true, status: 'cancelled' })
      expect(r.done && r.error).toMatch(/deadline exceeded/)
      await until(async () => (await deps.provider.getJob(jobId)).status === 'cancelled', 10_000)
      if (name === 'vllm') {
        const run = readRun(join(config.finetune.vllm.adapterDir, jobId))
        expect(run).not.toBeNull()
        // The trainer's whole process group is gone: no adapter was ever written.
        await until(async () => {
          try {
            process.kill(run?.pid as number, 0)
            return false
          } catch {
            return true
          }
        }, 10_000)
        expect(trainerState(run as NonNullable<typeof run>).state).toBe('cancelled')
        expect(existsSync(join(run?.outputDir as string, 'train.jsonl'))).toBe(false)
      }
      await late.close()
      await deps.close()
    })
  })
})
