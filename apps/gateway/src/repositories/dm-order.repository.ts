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

/**
 * KEYS[1] the arrival counter, KEYS[2..] one order zset per user; ARGV[1] the TTL, then per user
 * (in KEYS order) the number of its mids and the mids, in arrival order. A known mid keeps its
 * place (re-delivery).
 */
const NOTE_ARRIVALS = `
local a = 2
for k = 2, #KEYS do
  local last = a + tonumber(ARGV[a])
  for i = a + 1, last do
    if not redis.call('ZSCORE', KEYS[k], ARGV[i]) then
      redis.call('ZADD', KEYS[k], redis.call('INCR', KEYS[1]), ARGV[i])
    end
  end
  redis.call('PEXPIRE', KEYS[k], ARGV[1])
  a = last + 1
end
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
    loopdmNoteArrivals(numKeys: number, ...args: Array<string | number>): Promise<unknown>
  }
  if (!('loopdmNoteArrivals' in redis)) redis.defineCommand('loopdmNoteArrivals', { lua: NOTE_ARRIVALS })

  /** Records arrivals (idempotent per mid) for several users in one command, each user's in order. */
  const noteArrivals = async (byUser: Iterable<readonly [string, readonly string[]]>): Promise<void> => {
    const keys: string[] = [seqKey]
    const args: Array<string | number> = [orderTtlMs]
    for (const [igUserId, mids] of byUser) {
      keys.push(dmOrderKeys(prefix, igUserId).order)
      args.push(mids.length, ...mids)
    }
    if (keys.length > 1) await r.loopdmNoteArrivals(keys.length, ...keys, ...args)
  }

  return {
    noteArrivals,

    /** Records arrivals (idempotent per mid) for one user, in the given order. */
    async noteArrival(igUserId: string, mids: string[]): Promise<void> {
      await noteArrivals([[igUserId, mids]])
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
