import { createHash, randomBytes } from 'node:crypto'
import type { Redis } from '@loopdm/redis/client'
import type { FastifyRequest } from 'fastify'

/**
 * Console sessions. A login mints a random 256-bit session id (the cookie) and a random CSRF
 * token; Redis holds them under the SHA-256 of the id (a Redis dump leaks no usable cookie) with a
 * TTL, so every gateway behind a load balancer sees the same sessions and logout really ends one.
 */
export interface ConsoleSession {
  csrf: string
  createdAt: string
}

export interface SessionStore {
  create(): Promise<{ id: string; session: ConsoleSession }>
  get(id: string): Promise<ConsoleSession | null>
  destroy(id: string): Promise<void>
  /** Seconds a session lives after login. */
  readonly ttlSeconds: number
}

export interface RedisSessionStoreOptions {
  /** A normal (non-subscriber) connection. */
  redis: Pick<Redis, 'set' | 'get' | 'del'>
  /** Key prefix, e.g. config.redis.prefix. */
  prefix: string
  /** Session lifetime in seconds; default 8 h. */
  ttlSeconds?: number
}

const hashId = (id: string) => createHash('sha256').update(id).digest('hex')
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/

export function createRedisSessionStore(opts: RedisSessionStoreOptions): SessionStore {
  const ttlSeconds = opts.ttlSeconds ?? 8 * 3600
  const key = (id: string) => `${opts.prefix}:console:session:${hashId(id)}`
  return {
    ttlSeconds,
    async create() {
      const id = randomBytes(32).toString('base64url')
      const session = { csrf: randomBytes(32).toString('base64url'), createdAt: new Date().toISOString() }
      await opts.redis.set(key(id), JSON.stringify(session), 'EX', ttlSeconds)
      return { id, session }
    },
    async get(id) {
      if (!SESSION_ID.test(id)) return null
      const v = await opts.redis.get(key(id))
      if (!v) return null
      try {
        const s = JSON.parse(v) as ConsoleSession
        return typeof s.csrf === 'string' ? s : null
      } catch {
        return null
      }
    },
    async destroy(id) {
      if (SESSION_ID.test(id)) await opts.redis.del(key(id))
    },
  }
}

export const SESSION_COOKIE = 'loopdm_console'

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq <= 0) continue
    const name = part.slice(0, eq).trim()
    const value = part.slice(eq + 1).trim()
    try {
      out[name] = decodeURIComponent(value)
    } catch {
      // a malformed value is ignored, as if the cookie were absent
    }
  }
  return out
}

/** True when the client reached us over https (req.protocol honours x-forwarded-proto with trustProxy). */
export const isHttps = (req: FastifyRequest) => req.protocol === 'https'

export function sessionCookie(value: string, opts: { maxAgeSeconds: number; secure: boolean }): string {
  const parts = [
    `${SESSION_COOKIE}=${encodeURIComponent(value)}`,
    'Path=/console',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${opts.maxAgeSeconds}`,
  ]
  if (opts.secure) parts.push('Secure')
  return parts.join('; ')
}
