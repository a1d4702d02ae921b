import { randomBytes } from 'node:crypto'
import { LockTimeoutError } from '@loopdm/platform/errors'
import type { Redis } from './client.js'

/**
 * A lease in Redis: `SET key token PX ttl NX`, renewed every third of the TTL while held, released
 * only by its holder (compare-and-delete). Holds across processes and gateway replicas; a holder
 * that dies lets it expire after `ttlMs`. (Single Redis; not Redlock.)
 */

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`

export interface RedisLockOptions {
  /** Lease length, renewed while held; default 30 000 ms. */
  ttlMs?: number
}

async function holding<T>(redis: Redis, key: string, token: string, ttlMs: number, fn: () => Promise<T>) {
  const renew = setInterval(() => {
    redis.eval(RENEW, 1, key, token, ttlMs).catch(() => {})
  }, ttlMs / 3)
  try {
    return await fn()
  } finally {
    clearInterval(renew)
    await redis.eval(RELEASE, 1, key, token).catch(() => {})
  }
}

/** Runs `fn` holding `key`, waiting up to `waitMs` for it (then LockTimeoutError with `busyMessage`). */
export async function withRedisLock<T>(
  redis: Redis,
  key: string,
  fn: () => Promise<T>,
  opts: RedisLockOptions & { waitMs?: number; busyMessage?: string } = {},
): Promise<T> {
  const ttlMs = opts.ttlMs ?? 30_000
  const token = randomBytes(8).toString('hex')
  const deadline = Date.now() + (opts.waitMs ?? 60_000)
  let wait = 5
  while ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') {
    if (Date.now() > deadline) throw new LockTimeoutError(opts.busyMessage ?? `${key} is busy`)
    await new Promise((r) => setTimeout(r, wait))
    wait = Math.min(wait * 2, 100)
  }
  return holding(redis, key, token, ttlMs, fn)
}

/** Runs `fn` only if `key` is free right now; otherwise returns undefined without waiting. */
export async function tryWithRedisLock<T>(
  redis: Redis,
  key: string,
  fn: () => Promise<T>,
  opts: RedisLockOptions = {},
): Promise<T | undefined> {
  const ttlMs = opts.ttlMs ?? 30_000
  const token = randomBytes(8).toString('hex')
  if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return undefined
  return holding(redis, key, token, ttlMs, fn)
}
