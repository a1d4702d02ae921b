import { existsSync } from 'node:fs'
import type { Pool } from '@loopdm/db/pool'
import { createCostLedger } from '@loopdm/models/cost-ledger'
import { createRegistryRepository } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import { LoopDmError } from '@loopdm/platform/errors'
import type { Logger } from '@loopdm/platform/logger'
import { createOpenAISdk, type OpenAI } from '@loopdm/platform/openai'
import { createQueue, createWorker } from '@loopdm/queues/bullmq'
import { EVALUATE_QUEUE, TUNE_JOB, TUNE_QUEUE, tuneJobId } from '@loopdm/queues/contracts'
import { DelayedError, type Job, UnrecoverableError, type Worker } from 'bullmq'
import { type LearnerResult, learnerFor } from '../learners/learner.js'
import { createFineTuneProvider } from '../providers/create-provider.js'
import type { FineTuneProvider } from '../providers/provider.js'
import { createFinetuneJobsRepository } from '../repositories/finetune-jobs.repository.js'
import { sha256File } from '../services/training-data.service.js'
import type { TunerDeps } from './deps.js'
import { type PollResult, runPoll } from './poll.processor.js'
import { ensurePoll } from './schedule-poll.js'
import { isPermanentProviderError } from './tune.processor.js'

const PERMANENT_CODES = new Set([
  'TRAINING_DATA_REFUSED',
  'BUDGET_EXCEEDED',
  'FINE_TUNE_FAILED',
  'VALIDATION',
  'FINE_TUNE_REFUSED',
])

/** Permanent failures end the BullMQ job at once, with the reason as its failedReason (Bull Board). */
function asBullError(err: unknown, deps: TunerDeps): unknown {
  if (err instanceof LoopDmError && PERMANENT_CODES.has(err.code))
    return new UnrecoverableError(`${err.name}: ${err.message}`)
  if (isPermanentProviderError(err, deps)) return new UnrecoverableError((err as Error).message)
  return err
}

/** Builds the processors' dependencies from the composition root's pieces. */
export function createTunerDeps(opts: {
  config: Config
  logger: Logger
  pool: Pool
  sdk?: OpenAI
  /** Default: the one FT_PROVIDER names. */
  provider?: FineTuneProvider
  now?: () => Date
  fetchImpl?: typeof fetch
}): TunerDeps & { close(): Promise<void> } {
  const sdk = opts.sdk ?? createOpenAISdk({ config: opts.config, logger: opts.logger })
  const tuneQueue = createQueue(TUNE_QUEUE, { config: opts.config, logger: opts.logger })
  const evaluateQueue = createQueue(EVALUATE_QUEUE, { config: opts.config, logger: opts.logger })
  return {
    config: opts.config,
    logger: opts.logger,
    sdk,
    provider:
      opts.provider ?? createFineTuneProvider({ config: opts.config, sdk, fetchImpl: opts.fetchImpl }),
    pool: opts.pool,
    finetunes: createFinetuneJobsRepository(opts.pool),
    ledger: createCostLedger({
      db: opts.pool,
      prices: opts.config.openai.prices,
      fallbackTrainingPer1k: opts.config.finetune.pricePer1kTokens,
      logger: opts.logger,
    }),
    registry: createRegistryRepository(opts.pool),
    tuneQueue,
    evaluateQueue,
    now: opts.now,
    fetchImpl: opts.fetchImpl,
    async close() {
      await tuneQueue.close().catch(() => {})
      await evaluateQueue.close().catch(() => {})
    },
  }
}

/**
 * The `tune` queue's processor: `tune` jobs run the configured learner (exemplars → a new
 * exemplar set; fine-tune → `runTune`); `poll` jobs run one `runPoll` step and,
 * while the provider job is not terminal, move themselves back to delayed (one BullMQ job per
 * fine-tune, no blocking loop). A failed or cancelled fine-tune fails its poll job with the reason.
 */
export function tuneQueueProcessor(deps: TunerDeps) {
  return async (job: Job, token?: string): Promise<LearnerResult | PollResult> => {
    try {
      if (job.name === TUNE_JOB.poll) {
        const r = await runPoll(job.data, deps)
        if (!r.done) {
          await job.updateProgress({ status: r.status, polledAt: new Date().toISOString() })
          await job.moveToDelayed(Date.now() + r.nextDelayMs, token)
          throw new DelayedError()
        }
        if (r.status !== 'succeeded')
          throw new UnrecoverableError(
            `fine-tuning job ${r.providerJobId} ${r.status}: ${r.error ?? 'no reason given'}`,
          )
        return r
      }
      // The configured learner builds the candidate policy (LEARNING_BACKEND).
      return await learnerFor(deps.config.learning.backend).tune(job.data, deps, { owner: `job-${job.id}` })
    } catch (err) {
      if (err instanceof DelayedError || err instanceof UnrecoverableError) throw err
      throw asBullError(err, deps)
    }
  }
}

export function createTuneWorker(
  deps: TunerDeps,
  opts: { concurrency?: number; lockDurationMs?: number; stalledIntervalMs?: number } = {},
): Worker {
  return createWorker(TUNE_QUEUE, tuneQueueProcessor(deps), {
    config: deps.config,
    logger: deps.logger,
    workerOptions: {
      // A long upload must not hold back the polls of other fine-tunes.
      concurrency: opts.concurrency ?? 2,
      ...(opts.lockDurationMs ? { lockDuration: opts.lockDurationMs } : {}),
      ...(opts.stalledIntervalMs ? { stalledInterval: opts.stalledIntervalMs } : {}),
    },
  })
}

/**
 * At start: every fine-tune the table still owns gets its poll back (a restart, a crash, or a
 * Redis that lost its data never orphans a provider job). Rows stuck before job creation get their
 * tune job back (it resumes after the last recorded step).
 */
export async function resumePolls(deps: TunerDeps): Promise<{ polls: number; tunes: number }> {
  const rows = await deps.finetunes.listNonTerminal()
  let polls = 0
  let tunes = 0
  for (const row of rows) {
    if (row.providerJobId) {
      if (await ensurePoll(deps.tuneQueue, row, 0)) polls++
      continue
    }
    const sameFile = existsSync(row.filePath) && (await sha256File(row.filePath)) === row.fileSha256
    if (!sameFile) {
      await deps.finetunes.fail(
        row.id,
        'cancelled',
        `training file ${row.filePath} changed or vanished before upload`,
      )
      continue
    }
    const jobId = tuneJobId(row.fileSha256)
    const existing = await deps.tuneQueue.getJob(jobId)
    const state = existing ? await existing.getState() : 'missing'
    if (state === 'completed' || state === 'failed') await existing?.remove().catch(() => {})
    if (state === 'completed' || state === 'failed' || state === 'missing' || state === 'unknown') {
      await deps.tuneQueue.add(
        TUNE_JOB.tune,
        { trigger: row.trigger as 'manual', file: row.filePath, dryRun: false },
        { jobId, attempts: 5, backoff: { type: 'exponential', delay: 5_000 } },
      )
      tunes++
    }
  }
  deps.logger.info({ nonTerminal: rows.length, polls, tunes }, 'fine-tunes resumed')
  return { polls, tunes }
}
