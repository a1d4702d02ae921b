import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, rmSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FinetuneEvent } from '../repositories/finetune-jobs.repository.js'
import { classifyHttpError, type FineTuneProvider, ProviderHttpError, type ProviderJob } from './provider.js'
import {
  killTrainer,
  listRuns,
  readRun,
  startTrainer,
  type TrainerRun,
  trainerLog,
  trainerState,
} from './trainer-process.js'

/** The repository root: TRAINER_COMMAND runs there (so `node scripts/trainers/…` resolves). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..')
/** A per-example bound for LoRA SFT on a small GPU; the trainer's max_seq_length should match. */
export const VLLM_TOKEN_LIMIT = 32_768

export interface VllmProviderOptions {
  /** The vLLM server's root (no `/v1`). */
  baseURL: string
  apiKey?: string | undefined
  /** Where staged files and adapters live; vLLM must see the same absolute path. */
  adapterDir: string
  trainerCommand: string
  cwd?: string
  fetchImpl?: typeof fetch
  timeoutMs?: number
}

/**
 * Self-hosted LoRA: "upload" stages the file under VLLM_ADAPTER_DIR, a job is one run of
 * TRAINER_COMMAND (its output and exit code are the job's events and result), and a trained
 * adapter is registered with vLLM's runtime LoRA API (`POST /v1/load_lora_adapter`), served under
 * its name by vLLM's OpenAI-compatible chat, and unloaded on retirement.
 */
export function createVllmProvider(opts: VllmProviderOptions): FineTuneProvider {
  const root = resolve(opts.adapterDir)
  const staged = join(root, 'staged')
  const fetchImpl = opts.fetchImpl ?? fetch
  const runDir = (id: string) => join(root, id)
  const mustRun = (id: string): TrainerRun => {
    const run = readRun(runDir(id))
    if (!run) throw new ProviderHttpError(`no trainer run ${id} under ${root}`, 404)
    return run
  }
  const post = vllmPost(opts, fetchImpl)
  return {
    name: 'vllm',
    refusal: () => null,
    limits: () => ({ tokenLimit: VLLM_TOKEN_LIMIT, minExamples: 1 }),
    async upload(filePath) {
      mkdirSync(staged, { recursive: true })
      const to = join(staged, `${randomBytes(4).toString('hex')}-${basename(filePath)}`)
      copyFileSync(filePath, to)
      return { fileId: to, bytes: null }
    },
    async deleteFile(fileId) {
      if (fileId.startsWith(staged)) rmSync(fileId, { force: true })
    },
    async findJobForFile(fileId) {
      const run = listRuns(root).find((r) => r.fileId === fileId)
      return run ? runToJob(run) : null
    },
    async createJob(input) {
      const id = `${input.suffix}-${randomBytes(3).toString('hex')}`
      const run = startTrainer({
        template: opts.trainerCommand,
        run: {
          id,
          fileId: input.fileId,
          baseModel: input.baseModel,
          nEpochs: input.nEpochs,
          outputDir: runDir(id),
        },
        trainFile: input.fileId,
        cwd: opts.cwd ?? REPO_ROOT,
      })
      return runToJob(run)
    },
    getJob: async (id) => runToJob(mustRun(id)),
    events: async (id) => runEvents(mustRun(id)),
    async cancel(id) {
      killTrainer(mustRun(id))
    },
    async publish(job) {
      try {
        await post('/v1/load_lora_adapter', { lora_name: job.id, lora_path: runDir(job.id) })
      } catch (err) {
        // A second poll after a crash: the adapter is already there, the goal is reached.
        if (!(err instanceof ProviderHttpError && /already been loaded/.test(err.message))) throw err
      }
    },
    async listModels() {
      const res = await fetchImpl(`${opts.baseURL}/v1/models`, {
        headers: opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {},
        signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000),
      })
      if (!res.ok) throw new ProviderHttpError(`vLLM /v1/models answered ${res.status}`, res.status)
      const body = (await res.json()) as {
        data?: Array<{ id: string; created?: number; parent?: string | null }>
      }
      return (body.data ?? [])
        .filter((m) => m.parent && m.id.startsWith('loopdm-'))
        .map((m) => ({ id: m.id, createdMs: (m.created ?? 0) * 1000 }))
    },
    async deleteModel(model) {
      try {
        await post('/v1/unload_lora_adapter', { lora_name: model })
      } catch (err) {
        if (!(err instanceof ProviderHttpError && err.status === 404)) throw err
      }
      if (/^loopdm-[A-Za-z0-9-]+$/.test(model)) rmSync(runDir(model), { recursive: true, force: true })
    },
    serving: (model) => ({
      endpoint: { provider: 'vllm', baseURL: `${opts.baseURL}/v1` },
      servingModel: model,
    }),
    classify(err) {
      if (err instanceof ProviderHttpError) return classifyHttpError(err)
      const code = (err as NodeJS.ErrnoException).code
      // A missing staged file or an unwritable adapter directory will not fix itself.
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EROFS') return 'permanent'
      return 'transient'
    },
  }
}

/** POST to the vLLM server; a non-2xx answer → ProviderHttpError with vLLM's message. */
function vllmPost(opts: VllmProviderOptions, fetchImpl: typeof fetch) {
  return async (path: string, body: unknown): Promise<string> => {
    const res = await fetchImpl(`${opts.baseURL}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000),
    })
    const text = await res.text()
    if (!res.ok) {
      let message = text
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text
      } catch {}
      throw new ProviderHttpError(`vLLM ${path} answered ${res.status}: ${message}`, res.status)
    }
    return text
  }
}

/** A trainer run as a provider job: exit code 0 = succeeded (the adapter is named after the run). */
function runToJob(run: TrainerRun): ProviderJob {
  const s = trainerState(run)
  const last = s.state === 'exited' && s.code !== 0 ? trainerLog(run, 1) : []
  const tokens = trainerLog(run)
    .map((l) => /trained_tokens[=:]\s*(\d+)/.exec(l)?.[1])
    .filter(Boolean)
    .at(-1)
  const base = {
    id: run.id,
    fineTunedModel: null,
    trainedTokens: tokens ? Number(tokens) : null,
    error: null,
  }
  if (s.state === 'running') return { ...base, status: 'running' }
  if (s.state === 'cancelled') return { ...base, status: 'cancelled', error: 'trainer cancelled' }
  if (s.state === 'vanished')
    return { ...base, status: 'failed', error: 'trainer process ended without an exit code' }
  if (s.code === 0) return { ...base, status: 'succeeded', fineTunedModel: run.id }
  return {
    ...base,
    status: 'failed',
    error: `TRAINER_COMMAND exited with code ${s.code}${last[0] ? `: ${last[0].slice(0, 300)}` : ''}`,
  }
}

/** The run's events: start, every output line (stdout + stderr), and the exit. */
function runEvents(run: TrainerRun): FinetuneEvent[] {
  const s = trainerState(run)
  const events: FinetuneEvent[] = [
    {
      id: `${run.id}-start`,
      createdAt: run.createdAt,
      level: 'info',
      message: `trainer started (pid ${run.pid})`,
    },
    ...trainerLog(run).map((message, i) => ({
      id: `${run.id}-log-${String(i).padStart(6, '0')}`,
      createdAt: run.createdAt,
      level: /error|traceback|exception/i.test(message) ? 'error' : 'info',
      message,
    })),
  ]
  if (s.state === 'exited')
    events.push({
      id: `${run.id}-exit`,
      createdAt: run.createdAt + 1,
      level: s.code === 0 ? 'info' : 'error',
      message: `trainer exited with code ${s.code}`,
    })
  return events
}
