import type { Redis } from '@loopdm/redis/client'
import type { Queue } from 'bullmq'
import { createDmOrderRepository, dmOrderKeys } from './dm-order.repository.js'

/**
 * The GDPR side of the `dm` queue: finished jobs are kept in Redis (completed ≥ 48 h so their id —
 * the Instagram mid — keeps de-duplicating Meta's re-deliveries; failed 7 days), and their payload
 * holds the user's id and words. Scrubbing replaces the payload with `{ erased: true }` and clears
 * the return value and job logs; the job itself stays, so its id still de-duplicates. Jobs not
 * answered yet (waiting, delayed, active) are scrubbed too: the reply worker completes an erased
 * job without storing or answering anything.
 */

/** Every state a `dm` job can be in while it still holds a payload. */
const SCRUB_STATES = ['completed', 'failed', 'waiting', 'prioritized', 'delayed', 'active'] as const

const PAGE = 500

/** Rejects when `p` takes longer than `ms` (BullMQ waits for a connection indefinitely). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

export function createDmJobsRepository(queue: Queue, opts: { connectTimeoutMs?: number } = {}) {
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5000
  return {
    /**
     * Runs `fn` holding the user's reply lock (the one the reply worker answers under, see
     * dm-order.repository), so no reply of this user is half-way through while `fn` runs. Fails fast
     * when Redis is unreachable, before `fn` starts.
     */
    async withUserLock<T>(igUserId: string, fn: () => Promise<T>): Promise<T> {
      await within(queue.getJobCountByTypes('completed'), connectTimeoutMs, 'Redis')
      const order = createDmOrderRepository({
        // BullMQ's connection is an ioredis client.
        redis: (await queue.getBackend().client) as unknown as Redis,
        prefix: queue.opts.prefix ?? 'bull',
      })
      return order.withUserLock(igUserId, fn)
    },

    /** Returns how many jobs were scrubbed. Jobs already scrubbed do not match again. */
    async scrubUser(igUserId: string): Promise<number> {
      // Fail fast (before anything is erased anywhere) when Redis is unreachable.
      await within(queue.getJobCountByTypes('completed'), connectTimeoutMs, 'Redis')
      let scrubbed = 0
      for (const state of SCRUB_STATES) {
        const total = await queue.getJobCountByTypes(state)
        for (let start = 0; start < total; start += PAGE) {
          const jobs = await queue.getJobs([state], start, start + PAGE - 1, true)
          for (const job of jobs) {
            const data = job?.data as { igUserId?: unknown } | undefined
            if (!job?.id || data?.igUserId !== igUserId) continue
            await job.updateData({ erased: true })
            // The return value and logs may carry reply text or ids: keep the job hash, drop those.
            const client = await queue.getBackend().client
            await client.hset(queue.toKey(job.id), { returnvalue: 'null' })
            await job.clearLogs()
            scrubbed++
          }
        }
      }
      // The reply worker's per-user arrival set is keyed by the user's id (see dm-order.repository).
      const client = await queue.getBackend().client
      const keys = dmOrderKeys(queue.opts.prefix ?? 'bull', igUserId)
      // …and so is the user lock's fencing counter (see @loopdm/redis/lock).
      await client.del(keys.order, `${keys.lock}:fence`)
      return scrubbed
    },
  }
}

export type DmJobsRepository = ReturnType<typeof createDmJobsRepository>
