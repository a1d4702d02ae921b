import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import type { OpenAI } from '@loopdm/platform/openai'
import { createWorker } from '@loopdm/queues/bullmq'
import {
  RETIREMENT_JOB,
  RETIREMENT_JOB_OPTIONS,
  RETIREMENT_QUEUE,
  RetirementPayloadSchema,
  SCHEDULERS,
} from '@loopdm/queues/contracts'
import { type Job, type Queue, UnrecoverableError, type Worker } from 'bullmq'
import type { FineTuneProvider } from '../providers/provider.js'
import { runModelCleanup } from '../services/model-cleanup.service.js'

export interface RetirementDeps {
  db: Pool
  sdk: OpenAI
  /** Who lists and deletes trained models (FT_PROVIDER); default OpenAI through `sdk`. */
  provider?: FineTuneProvider
  config: Config
  logger: Logger
  /** Where the monthly report goes; default `reports`. */
  reportsDir?: string
}

/** The `retirement` queue's processor: model retirement, then the monthly report. */
export async function processRetirement(
  job: Pick<Job, 'name' | 'data' | 'id'>,
  deps: RetirementDeps,
): Promise<Awaited<ReturnType<typeof runModelCleanup>>> {
  if (job.name !== RETIREMENT_JOB.retireModels)
    throw new UnrecoverableError(
      `unknown retirement job "${job.name}" (expected ${RETIREMENT_JOB.retireModels})`,
    )
  const parsed = RetirementPayloadSchema.safeParse(job.data ?? {})
  if (!parsed.success) throw new UnrecoverableError(`invalid retirement payload: ${parsed.error.message}`)
  return runModelCleanup({
    db: deps.db,
    sdk: deps.sdk,
    ...(deps.provider ? { provider: deps.provider } : {}),
    config: deps.config,
    logger: deps.logger,
    dryRun: parsed.data.dryRun,
    now: new Date(),
    reportsDir: deps.reportsDir,
  })
}

/** The `retirement` Worker of the tuner process. */
export function createRetirementWorker(deps: RetirementDeps): Worker {
  return createWorker(RETIREMENT_QUEUE, (job) => processRetirement(job, deps), {
    config: deps.config,
    logger: deps.logger,
    workerOptions: { lockDuration: 300_000 },
  })
}

/** Upserts the monthly retirement scheduler (CLEANUP_CRON; the exporter schedules retention on it). */
export async function upsertRetirementSchedule(q: { retirementQueue: Queue; config: Config }): Promise<void> {
  const { cleanupCron, tz } = q.config.schedules
  await q.retirementQueue.upsertJobScheduler(
    SCHEDULERS.retireModels,
    tz ? { pattern: cleanupCron, tz } : { pattern: cleanupCron },
    {
      name: RETIREMENT_JOB.retireModels,
      data: { trigger: 'cron' },
      opts: RETIREMENT_JOB_OPTIONS,
    },
  )
}
