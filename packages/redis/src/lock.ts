import { randomBytes } from 'node:crypto'
import { LockTimeoutError, LoopDmError } from '@loopdm/platform/errors'
import type { Redis } from './client.js'

/**
 * A lease in Redis: `SET key token PX ttl NX`, renewed every third of the TTL while held, released
 * only by its holder (compare-and-delete). Holds across processes and gateway replicas; a holder
 * that dies lets it expire after `ttlMs`. (Single Redis; not Redlock.)
 *
 * A lease can be lost while `fn` runs (a Redis stall ≥ the TTL, a renewal that finds another
 * holder): then `lease.signal` aborts and `lease.assertHeld()` throws LeaseLostError, so the holder
 * stops before its next side effect. Each acquisition also gets a fencing token (`lease.fence`, a
 * per-key counter that only grows), for stores that must refuse a stale holder's writes.
 */

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`
// The fence counter outlives any holder by far (a week), then starts over (its key names the lock).
const ACQUIRE = `if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  local f = redis.call('INCR', KEYS[2]) redis.call('PEXPIRE', KEYS[2], 604800000) return f end return 0`

/** The lease ended before its holder finished (renewal failed or found another holder). Retry. */
export class LeaseLostError extends LoopDmError {
  constructor(message: string) {
    super(message, { code: 'LEASE_LOST', statusCode: 503 })
  }
}

export interface Lease {
  /** Grows with every acquisition of the key: a larger fence is a later holder. */
  fence: number
  /** Aborted as soon as the lease may have been lost. */
  signal: AbortSignal
  /** Throws LeaseLostError when the lease may have been lost. */
  assertHeld(): void
}

export interface RedisLockOptions {
  /** Lease length, renewed while held; default 30 000 ms. */
  ttlMs?: number
}

async function acquire(redis: Redis, key: string, token: string, ttlMs: number): Promise<number> {
  return Number(await redis.eval(ACQUIRE, 2, key, `${key}:fence`, token, ttlMs))
}

async function holding<T>(
  redis: Redis,
  key: string,
  token: string,
  ttlMs: number,
  fence: number,
  fn: (lease: Lease) => Promise<T>,
) {
  const ac = new AbortController()
  const lose = (why: string) => {
    if (!ac.signal.aborted) ac.abort(new LeaseLostError(`${key}: ${why}`))
  }
  // Counted from before the SET: the lease certainly ends ttlMs after that, unless renewed.
  let expiresAt = Date.now() + ttlMs
  let expiry = setTimeout(() => lose('lease expired (renewal did not answer in time)'), ttlMs * 0.9)
  const renew = setInterval(() => {
    const sentAt = Date.now()
    redis
      .eval(RENEW, 1, key, token, ttlMs)
      .then((ok) => {
        if (ac.signal.aborted) return
        if (Number(ok) !== 1) return lose('lease taken over by another holder')
        expiresAt = sentAt + ttlMs
        clearTimeout(expiry)
        expiry = setTimeout(
          () => lose('lease expired (renewal did not answer in time)'),
          Math.max(0, expiresAt - Date.now()) * 0.9,
        )
      })
      .catch(() => {})
  }, ttlMs / 3)
  const lease: Lease = {
    fence,
    signal: ac.signal,
    assertHeld() {
      if (ac.signal.aborted) throw ac.signal.reason
    },
  }
  try {
    return await fn(lease)
  } finally {
    clearInterval(renew)
    clearTimeout(expiry)
    if (!ac.signal.aborted) await redis.eval(RELEASE, 1, key, token).catch(() => {})
  }
}

/** Runs `fn` holding `key`, waiting up to `waitMs` for it (then LockTimeoutError with `busyMessage`). */
export async function withRedisLock<T>(
  redis: Redis,
  key: string,
  fn: (lease: Lease) => Promise<T>,
  opts: RedisLockOptions & { waitMs?: number; busyMessage?: string } = {},
): Promise<T> {
  const ttlMs = opts.ttlMs ?? 30_000
  const token = randomBytes(8).toString('hex')
  const deadline = Date.now() + (opts.waitMs ?? 60_000)
  let wait = 5
  let fence = await acquire(redis, key, token, ttlMs)
  while (fence === 0) {
    if (Date.now() > deadline) throw new LockTimeoutError(opts.busyMessage ?? `${key} is busy`)
    await new Promise((r) => setTimeout(r, wait))
    wait = Math.min(wait * 2, 100)
    fence = await acquire(redis, key, token, ttlMs)
  }
  return holding(redis, key, token, ttlMs, fence, fn)
}

/** Runs `fn` only if `key` is free right now; otherwise returns undefined without waiting. */
export async function tryWithRedisLock<T>(
  redis: Redis,
  key: string,
  fn: (lease: Lease) => Promise<T>,
  opts: RedisLockOptions = {},
): Promise<T | undefined> {
  const ttlMs = opts.ttlMs ?? 30_000
  const token = randomBytes(8).toString('hex')
  const fence = await acquire(redis, key, token, ttlMs)
  if (fence === 0) return undefined
  return holding(redis, key, token, ttlMs, fence, fn)
}
