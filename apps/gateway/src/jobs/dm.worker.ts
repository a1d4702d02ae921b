import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import { createWorker } from '@loopdm/queues/bullmq'
import { DM_JOB, DM_QUEUE, DmMessagePayloadSchema, DmReactionPayloadSchema } from '@loopdm/queues/contracts'
import { type Job, UnrecoverableError, type Worker } from 'bullmq'
import { type DmDeps, processDmMessage, processDmReaction } from './dm.processor.js'
import { withDmRetry } from './dm-retry.js'

/** How long a job waits for its user's lock before it is delayed instead (no attempt spent). */
const LOCK_WAIT_MS = 2000

/** Binds the `dm` processors to a BullMQ Worker (payload parsed first; bad input is unrecoverable). */
export function createDmWorker(opts: {
  config: Config
  logger: Logger
  deps: DmDeps
  /** Jobs in flight; per-user order holds at any value. Default DM_CONCURRENCY (4). */
  concurrency?: number
  autorun?: boolean
}): Worker {
  const policy = opts.config.gateway.delivery
  return createWorker(
    DM_QUEUE,
    async (job: Job, token?: string) => {
      // A GDPR erase scrubbed this job before it was answered: nothing to store or send.
      if ((job.data as { erased?: unknown } | undefined)?.erased === true) return 'erased'
      if (job.name === DM_JOB.reaction) {
        const r = DmReactionPayloadSchema.safeParse(job.data)
        if (!r.success)
          throw new UnrecoverableError(`invalid reaction payload: ${r.error.issues[0]?.message}`)
        return processDmReaction(r.data, opts.deps, job.timestamp)
      }
      const p = DmMessagePayloadSchema.safeParse(job.data)
      if (!p.success) throw new UnrecoverableError(`invalid message payload: ${p.error.issues[0]?.message}`)
      return withDmRetry(job, token, p.data, { policy, logger: opts.logger }, () =>
        processDmMessage(p.data, opts.deps, { lockWaitMs: LOCK_WAIT_MS }),
      )
    },
    {
      config: opts.config,
      logger: opts.logger,
      workerOptions: {
        concurrency: opts.concurrency ?? opts.config.gateway.dmConcurrency,
        autorun: opts.autorun ?? false,
        // A gateway killed mid-reply leaves its jobs stalled; they are picked up again, not failed
        // (the outbox claim makes the re-run safe: see services/delivery.ts).
        maxStalledCount: 1000,
        lockDuration: policy.jobLockMs,
        stalledInterval: policy.jobLockMs,
      },
    },
  )
}
