import { randomBytes } from 'node:crypto'
import type { Redis } from '@loopdm/shared/redis'

/**
 * Per-user arrival order and per-user mutual exclusion for the reply worker, in Redis (so it holds
 * across worker concurrency and across gateway replicas).
 *
 * The webhook records each message's arrival in a per-user sorted set, scored by a global Redis
 * counter (strict arrival order as Redis saw it), in the same round trip that precedes the enqueue.
 * A worker answering message M of user U holds U's lock and first answers every earlier message of
 * U that is still pending (loading its payload from its own job), then M. So two DMs from one user
 * are answered in arrival order even when their jobs run concurrently, and an earlier job that
 * later gets the lock finds its reply already sent.
 *
 * Keys (under the queue prefix, so `{loopdm}` keeps them in one Cluster slot):
 *   `<prefix>:dm-order:<igUserId>`  zset mid → arrival sequence (pending messages; expires)
 *   `<prefix>:dm-lock:<igUserId>`   the user's lock (token, TTL renewed while held)
 *   `<prefix>:dm-seq`               the arrival counter
 */
export const dmOrderKeys = (prefix: string, igUserId: string) => ({
  order: `${prefix}:dm-order:${igUserId}`,
  lock: `${prefix}:dm-lock:${igUserId}`,
})

const NOTE_ARRIVAL = `
for i = 3, #ARGV do
  if not redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), ARGV[i])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`

const PENDING_BEFORE = `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s then return {} end
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. s)`

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`

export class UserLockTimeoutError extends Error {
  override name = 'UserLockTimeoutError'
}

export interface DmOrderOptions {
  redis: Redis
  prefix: string
  /** How long pending arrivals are remembered; default 7 days (Meta retries for 36 h). */
  orderTtlMs?: number
  /** Lock TTL, renewed every third of it while held; default 30 000 ms. */
  lockTtlMs?: number
  /** How long to wait for a busy user's lock before the job is retried; default 60 000 ms. */
  lockWaitMs?: number
}

export function createDmOrderRepository(opts: DmOrderOptions) {
  const { redis, prefix } = opts
  const orderTtlMs = opts.orderTtlMs ?? 7 * 24 * 3600_000
  const lockTtlMs = opts.lockTtlMs ?? 30_000
  const lockWaitMs = opts.lockWaitMs ?? 60_000
  const seqKey = `${prefix}:dm-seq`

  return {
    /** Records arrivals (idempotent per mid) for one user, in the given order. */
    async noteArrival(igUserId: string, mids: string[]): Promise<void> {
      await redis.eval(NOTE_ARRIVAL, 2, dmOrderKeys(prefix, igUserId).order, seqKey, orderTtlMs, 0, ...mids)
    },

    /** Pending mids of this user that arrived before `mid`, oldest first. */
    async pendingBefore(igUserId: string, mid: string): Promise<string[]> {
      return (await redis.eval(PENDING_BEFORE, 1, dmOrderKeys(prefix, igUserId).order, mid)) as string[]
    },

    async done(igUserId: string, mids: string[]): Promise<void> {
      if (mids.length) await redis.zrem(dmOrderKeys(prefix, igUserId).order, ...mids)
    },

    /** Runs `fn` holding the user's lock (waits for it; renews it; always releases it). */
    async withUserLock<T>(igUserId: string, fn: () => Promise<T>): Promise<T> {
      const key = dmOrderKeys(prefix, igUserId).lock
      const token = randomBytes(8).toString('hex')
      const deadline = Date.now() + lockWaitMs
      let wait = 5
      while ((await redis.set(key, token, 'PX', lockTtlMs, 'NX')) !== 'OK') {
        if (Date.now() > deadline) throw new UserLockTimeoutError(`user ${igUserId} is busy; retrying later`)
        await new Promise((r) => setTimeout(r, wait))
        wait = Math.min(wait * 2, 100)
      }
      const renew = setInterval(() => {
        redis.eval(RENEW, 1, key, token, lockTtlMs).catch(() => {})
      }, lockTtlMs / 3)
      try {
        return await fn()
      } finally {
        clearInterval(renew)
        await redis.eval(RELEASE, 1, key, token).catch(() => {})
      }
    },
  }
}

export type DmOrderRepository = ReturnType<typeof createDmOrderRepository>
