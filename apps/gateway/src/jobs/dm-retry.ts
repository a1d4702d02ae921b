import { LockTimeoutError } from '@loopdm/platform/errors'
import type { Logger } from '@loopdm/platform/logger'
import type { DmMessagePayload } from '@loopdm/queues/contracts'
import { DelayedError, type Job, UnrecoverableError } from 'bullmq'

/**
 * The `dm` job's retry policy: time, not attempts. A provider or send error (anything but
 * UnrecoverableError) delays the job by the message's current age — so the gap doubles each time —
 * between `retryBaseDelayMs` and `retryMaxDelayMs`, and never past the message's deadline
 * (`receivedAt + maxAgeMs`), where the processor records it `expired`. A busy user lock delays the
 * job by `lockBusyDelayMs`. Both use `job.moveToDelayed` + DelayedError, so BullMQ spends no
 * attempt: a 3-minute (or 3-hour) outage fails nothing, and the job id keeps de-duplicating.
 */
export interface DmRetryPolicy {
  maxAgeMs: number
  retryBaseDelayMs: number
  retryMaxDelayMs: number
  lockBusyDelayMs: number
}

/** The delay before the next try of a DM that is `ageMs` old (capped exponential in time). */
export function retryDelayMs(ageMs: number, policy: DmRetryPolicy): number {
  const delay = Math.min(Math.max(ageMs, policy.retryBaseDelayMs), policy.retryMaxDelayMs)
  // The last try lands at the deadline, where the DM is expired (recorded, never silent).
  return Math.max(0, Math.min(delay, policy.maxAgeMs - ageMs))
}

/** Runs one try of a message job; on a retryable error moves the job to delayed (no attempt spent). */
export async function withDmRetry<R>(
  job: Job,
  token: string | undefined,
  payload: DmMessagePayload,
  opts: {
    policy: DmRetryPolicy
    logger: Logger
    now?: () => number
    /** A delay of its own for some errors (e.g. a reply held by a Send API token block). */
    delayFor?: (err: unknown) => number | undefined
  },
  run: () => Promise<R>,
): Promise<R> {
  try {
    return await run()
  } catch (err) {
    if (err instanceof UnrecoverableError || !token) throw err
    const now = (opts.now ?? Date.now)()
    const busy = err instanceof LockTimeoutError
    const own = opts.delayFor?.(err)
    const delay =
      own ??
      (busy ? opts.policy.lockBusyDelayMs : retryDelayMs(Math.max(0, now - payload.receivedAt), opts.policy))
    if (!busy && own === undefined)
      opts.logger.warn(
        { mid: payload.mid, err: (err as Error).message, retryInMs: delay },
        'dm reply failed; retrying later',
      )
    await job.moveToDelayed(now + delay, token)
    throw new DelayedError()
  }
}
