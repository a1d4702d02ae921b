import type { Redis } from '@loopdm/redis/client'
import { type Lease, withRedisLock } from '@loopdm/redis/lock'

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
  // EVALSHA after the first call: the webhook's hot path sends the script's hash, not its text.
  const r = redis as Redis & {
    loopdmNoteArrival(
      order: string,
      seq: string,
      ttlMs: number,
      pad: number,
      ...mids: string[]
    ): Promise<unknown>
  }
  if (!('loopdmNoteArrival' in redis))
    redis.defineCommand('loopdmNoteArrival', { numberOfKeys: 2, lua: NOTE_ARRIVAL })

  return {
    /** Records arrivals (idempotent per mid) for one user, in the given order. */
    async noteArrival(igUserId: string, mids: string[]): Promise<void> {
      await r.loopdmNoteArrival(dmOrderKeys(prefix, igUserId).order, seqKey, orderTtlMs, 0, ...mids)
    },

    /** Pending mids of this user that arrived before `mid`, oldest first. */
    async pendingBefore(igUserId: string, mid: string): Promise<string[]> {
      return (await redis.eval(PENDING_BEFORE, 1, dmOrderKeys(prefix, igUserId).order, mid)) as string[]
    },

    async done(igUserId: string, mids: string[]): Promise<void> {
      if (mids.length) await redis.zrem(dmOrderKeys(prefix, igUserId).order, ...mids)
    },

    /**
     * Runs `fn` holding the user's lock (waits up to `waitMs`, default lockWaitMs, then
     * LockTimeoutError; renews it; always releases it). `fn` gets the lease: its fence and a signal
     * that aborts when the lease is lost.
     */
    async withUserLock<T>(
      igUserId: string,
      fn: (lease: Lease) => Promise<T>,
      o: { waitMs?: number } = {},
    ): Promise<T> {
      return withRedisLock(redis, dmOrderKeys(prefix, igUserId).lock, fn, {
        ttlMs: lockTtlMs,
        waitMs: o.waitMs ?? lockWaitMs,
        busyMessage: `user ${igUserId} is busy; retrying later`,
      })
    },
  }
}

export type DmOrderRepository = ReturnType<typeof createDmOrderRepository>
