import { randomBytes } from 'node:crypto'
import type { Logger } from '@loopdm/platform/logger'
import { baseModel, fineTunedId, ORG, parseFineTunedId } from '../model/catalog.js'
import {
  type JobEvent,
  type JobRecord,
  type JobStatus,
  type Store,
  TERMINAL,
  type TrainingPair,
} from '../state/store.js'
import { validateFineTuneFile } from './validate.js'

/** Max tokens per example for Together jobs (its smallest `max_seq_length_sft` among served bases). */
export const TOGETHER_TOKEN_LIMIT = 32_768

/**
 * Walks fine-tuning jobs through `validating_files → queued → running → succeeded | failed |
 * cancelled`, one state every `stepMs`, writing each state and event to the store. Jobs found
 * unfinished at start (after a restart) resume their timers.
 */
export interface FineTuneRunnerOptions {
  store: Store
  /** Time between states; default 1000 ms. */
  stepMs?: number
  /** A new model answers 404 "not yet available" for this long after success; default 0. */
  callableAfterMs?: number
  now?: () => number
  logger?: Logger | undefined
}

export interface FineTuneRunner {
  /** Starts walking a freshly created job. */
  start(job: JobRecord): void
  /** Cancels a job that has not finished; returns the updated job. */
  cancel(job: JobRecord): JobRecord
  /** Stops every timer (state stays where it is and resumes on the next start). */
  close(): void
}

/** `n_epochs: "auto"` resolves to this (OpenAI picks by dataset size; 3 is its usual pick). */
const AUTO_EPOCHS = 3

const rid = (n: number) =>
  randomBytes(n * 2)
    .toString('base64')
    .replace(/[^a-zA-Z0-9]/g, '')
    .slice(0, n)
    .padEnd(n, '0')

export const newJobId = () => `ftjob-${rid(24)}`

export function createFineTuneRunner(opts: FineTuneRunnerOptions): FineTuneRunner {
  const { store } = opts
  const stepMs = opts.stepMs ?? 1000
  const now = opts.now ?? Date.now
  const timers = new Map<string, NodeJS.Timeout>()
  const validated = new Map<string, { tokens: number; pairs: TrainingPair[] }>()
  let closed = false

  const sec = () => Math.floor(now() / 1000)
  const event = (job: JobRecord, message: string, extra: Partial<JobEvent> = {}) => {
    job.events.push({
      object: 'fine_tuning.job.event',
      id: `ftevent-${rid(24)}`,
      created_at: sec(),
      level: 'info',
      message,
      data: {},
      type: 'message',
      ...extra,
    })
  }
  const save = (job: JobRecord) => store.putJob(job)

  const baseOf = (model: string) => parseFineTunedId(model)?.base ?? model

  const fail = (job: JobRecord, error: NonNullable<JobRecord['error']>) => {
    job.status = 'failed'
    job.error = error
    job.finished_at = sec()
    event(job, error.message, { level: 'error' })
    event(job, `The job failed (${error.code}).`, { level: 'error' })
    opts.logger?.info({ job: job.id, code: error.code }, 'fine-tuning job failed')
  }

  /** Reads and validates the job's files; undefined on success (the job is failed otherwise). */
  const validate = (job: JobRecord) => {
    const base = baseOf(job.model)
    const limit =
      job.provider === 'together' ? TOGETHER_TOKEN_LIMIT : (baseModel(base)?.ftExampleTokenLimit ?? 16_385)
    const files: Array<['training_file' | 'validation_file', string]> = [['training_file', job.training_file]]
    if (job.validation_file) files.push(['validation_file', job.validation_file])
    let result: { tokens: number; pairs: TrainingPair[] } | undefined
    for (const [param, id] of files) {
      const content = store.fileContent(id)
      if (!content) {
        fail(job, { code: 'file_not_found', message: `The ${param} ${id} no longer exists.`, param })
        return undefined
      }
      const r = validateFineTuneFile(content, {
        param,
        tokenLimit: limit,
        model: base,
        // Together trains on a single example; OpenAI wants at least 10.
        ...(job.provider === 'together' ? { minExamples: 1 } : {}),
      })
      if (!r.ok) {
        fail(job, r.error)
        return undefined
      }
      if (param === 'training_file') result = { tokens: r.tokens, pairs: r.pairs }
    }
    return result
  }

  const step = (id: string) => {
    timers.delete(id)
    const job = store.jobs.get(id)
    if (!job || TERMINAL.has(job.status) || closed) return
    const next: Record<Exclude<JobStatus, 'succeeded' | 'failed' | 'cancelled'>, () => void> = {
      validating_files: () => {
        const v = validate(job)
        if (!v) return
        validated.set(job.id, v)
        job.status = 'queued'
        event(job, 'Files validated, moving job to queued state')
      },
      queued: () => {
        const hp = job.hyperparameters
        if (hp.n_epochs === 'auto') hp.n_epochs = AUTO_EPOCHS
        if (hp.batch_size === 'auto') hp.batch_size = 1
        if (hp.learning_rate_multiplier === 'auto') hp.learning_rate_multiplier = 2
        job.method.supervised.hyperparameters = hp
        job.status = 'running'
        job.estimated_finish = sec() + Math.ceil(stepMs / 1000)
        event(job, 'Fine-tuning job started')
      },
      running: () => {
        const v = validated.get(job.id) ?? validate(job)
        if (!v) return
        const epochs = Number(job.hyperparameters.n_epochs) || 1
        for (let e = 1; e <= epochs; e++) {
          // Not a real loss: a decreasing, deterministic curve so dashboards have something to draw.
          const loss = Number((1.5 / (1 + e)).toFixed(4))
          event(job, `Step ${e}/${epochs}: training loss=${loss}`, {
            type: 'metrics',
            data: { step: e, total_steps: epochs, train_loss: loss },
          })
        }
        const base = baseOf(job.model)
        const modelId = job.outputModel ?? fineTunedId(base, job.user_provided_suffix, rid(8))
        const parent = store.models.get(job.model)
        store.putModel({
          id: modelId,
          object: 'model',
          created: sec(),
          owned_by: `user-${ORG}`,
          base,
          jobId: job.id,
          callableAt: now() + (opts.callableAfterMs ?? 0),
          // Continued fine-tuning keeps what the parent model learned.
          pairs: [...(parent?.pairs ?? []), ...v.pairs],
        })
        job.status = 'succeeded'
        job.fine_tuned_model = modelId
        job.trained_tokens = v.tokens * epochs
        job.finished_at = sec()
        job.estimated_finish = null
        event(job, `New fine-tuned model created: ${modelId}`)
        event(job, 'The job has successfully completed')
        validated.delete(job.id)
        opts.logger?.info(
          { job: job.id, model: modelId, trainedTokens: job.trained_tokens },
          'fine-tuning job succeeded',
        )
      },
    }
    next[job.status as keyof typeof next]()
    save(job)
    schedule(job)
  }

  const schedule = (job: JobRecord) => {
    if (closed || TERMINAL.has(job.status) || timers.has(job.id)) return
    timers.set(
      job.id,
      setTimeout(() => step(job.id), stepMs),
    )
  }

  // Resume jobs a previous process left unfinished.
  for (const job of store.jobs.values()) schedule(job)

  return {
    start(job) {
      event(
        job,
        `Validating training file: ${job.training_file}${job.validation_file ? ` and validation file: ${job.validation_file}` : ''}`,
      )
      event(job, `Created fine-tuning job: ${job.id}`)
      save(job)
      schedule(job)
    },
    cancel(job) {
      const t = timers.get(job.id)
      if (t) clearTimeout(t)
      timers.delete(job.id)
      // OpenAI bills a cancelled job for what it trained: a running one here counts half its tokens.
      const v = validated.get(job.id)
      if (job.status === 'running' && v)
        job.trained_tokens = Math.floor((v.tokens * (Number(job.hyperparameters.n_epochs) || 1)) / 2)
      validated.delete(job.id)
      job.status = 'cancelled'
      job.estimated_finish = null
      event(job, 'Fine-tuning job cancelled')
      save(job)
      return job
    },
    close() {
      closed = true
      for (const t of timers.values()) clearTimeout(t)
      timers.clear()
    },
  }
}
