import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import { createWorker } from '@loopdm/queues/bullmq'
import { DM_JOB, DM_QUEUE, DmMessagePayloadSchema, DmReactionPayloadSchema } from '@loopdm/queues/contracts'
import { type Job, UnrecoverableError, type Worker } from 'bullmq'
import { type DmDeps, processDmMessage, processDmReaction } from './dm.processor.js'

/** Binds the `dm` processors to a BullMQ Worker (payload parsed first; bad input is unrecoverable). */
export function createDmWorker(opts: {
  config: Config
  logger: Logger
  deps: DmDeps
  /** Jobs in flight; per-user order holds at any value. Default DM_CONCURRENCY (4). */
  concurrency?: number
  autorun?: boolean
}): Worker {
  return createWorker(
    DM_QUEUE,
    async (job: Job) => {
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
      const finalAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1)
      return processDmMessage(p.data, opts.deps, { finalAttempt })
    },
    {
      config: opts.config,
      logger: opts.logger,
      workerOptions: {
        concurrency: opts.concurrency ?? opts.config.gateway.dmConcurrency,
        autorun: opts.autorun ?? false,
      },
    },
  )
}
