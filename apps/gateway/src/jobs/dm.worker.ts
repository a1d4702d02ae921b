import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import { createWorker } from '@loopdm/queues/bullmq'
import {
  DM_JOB,
  DM_QUEUE,
  DmChangePayloadSchema,
  DmEchoPayloadSchema,
  DmMessagePayloadSchema,
  DmReactionPayloadSchema,
} from '@loopdm/queues/contracts'
import { type Job, UnrecoverableError, type Worker } from 'bullmq'
import { SendHeldError } from '../services/send-gate.js'
import { type DmDeps, processDmMessage, processDmReaction } from './dm.processor.js'
import { withDmRetry } from './dm-retry.js'

/** How long a job waits for its user's lock before it is delayed instead (no attempt spent). */
const LOCK_WAIT_MS = 2000

import { type DmEventDeps, processDmChange, processDmEcho } from './dm-events.processor.js'

/** How long a reply held by a Send API token block waits before it is looked at again. */
export const HELD_RETRY_MS = 60_000

function eventDeps(deps: DmDeps): DmEventDeps {
  const takeover = deps.takeover ?? { humanReplied: async (_u: string, at: number) => at }
  return { ...deps, takeover }
}

/** Binds the `dm` processors to a BullMQ Worker (payload parsed first; bad input is unrecoverable). */
export function createDmWorker(opts: {
  config: Config
  logger: Logger
  deps: DmDeps
  /** Jobs in flight; per-user order holds at any value. Default DM_CONCURRENCY (4). */
  concurrency?: number
  /** Delay of a reply held because the Send API refused the token; default HELD_RETRY_MS. */
  heldRetryMs?: number
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
      if (job.name === DM_JOB.echo) {
        const e = DmEchoPayloadSchema.safeParse(job.data)
        if (!e.success) throw new UnrecoverableError(`invalid echo payload: ${e.error.issues[0]?.message}`)
        return processDmEcho(e.data, eventDeps(opts.deps))
      }
      if (job.name === DM_JOB.change) {
        const c = DmChangePayloadSchema.safeParse(job.data)
        if (!c.success) throw new UnrecoverableError(`invalid change payload: ${c.error.issues[0]?.message}`)
        return processDmChange(c.data, eventDeps(opts.deps))
      }
      const p = DmMessagePayloadSchema.safeParse(job.data)
      if (!p.success) throw new UnrecoverableError(`invalid message payload: ${p.error.issues[0]?.message}`)
      return withDmRetry(
        job,
        token,
        p.data,
        {
          policy,
          logger: opts.logger,
          // Held, not failed: the job waits (no attempt used) until the token is replaced.
          delayFor: (err) => (err instanceof SendHeldError ? (opts.heldRetryMs ?? HELD_RETRY_MS) : undefined),
        },
        () => processDmMessage(p.data, opts.deps, { lockWaitMs: LOCK_WAIT_MS }),
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
