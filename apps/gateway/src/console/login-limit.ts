import type { Redis } from '@loopdm/redis/client'
import type { LoginLimiter } from './options.js'

export interface RedisLoginLimiterOptions {
  redis: Pick<Redis, 'incr' | 'expire' | 'get' | 'ttl' | 'del'>
  /** Key prefix, e.g. config.redis.prefix. */
  prefix: string
  /** Failed attempts allowed per address per window (CONSOLE_LOGIN_MAX_ATTEMPTS, default 10). */
  maxAttempts: number
  /** The window in seconds, from the first failure (CONSOLE_LOGIN_WINDOW_S, default 900). */
  windowSeconds: number
}

/**
 * A per-address counter of failed console logins in Redis (shared by every gateway behind a load
 * balancer): after `maxAttempts` failures in `windowSeconds` the address gets 429 until the window
 * ends, even with the right token, so the admin token cannot be guessed at speed. A success resets it.
 */
export function createRedisLoginLimiter(opts: RedisLoginLimiterOptions): LoginLimiter {
  const key = (ip: string) => `${opts.prefix}:console:login-fail:${ip}`
  return {
    async blockedFor(ip) {
      if (opts.maxAttempts <= 0) return 0
      const n = Number((await opts.redis.get(key(ip))) ?? 0)
      if (n < opts.maxAttempts) return 0
      const ttl = await opts.redis.ttl(key(ip))
      return ttl > 0 ? ttl : opts.windowSeconds
    },
    async fail(ip) {
      const n = await opts.redis.incr(key(ip))
      if (n === 1) await opts.redis.expire(key(ip), opts.windowSeconds)
    },
    async reset(ip) {
      await opts.redis.del(key(ip))
    },
  }
}
