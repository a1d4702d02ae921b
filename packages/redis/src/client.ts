import { UnavailableError } from '@loopdm/platform/errors'
import type { Logger } from '@loopdm/platform/logger'
import { Redis, type RedisOptions } from 'ioredis'

export type { Redis }

export const REDIS_START_HINT =
  'Start one with `redis-server --daemonize yes --port 6379` (Debian: apt-get install redis-server), or set REDIS_URL to a running Redis.'

export interface RedisFactoryOptions {
  url: string
  /** `worker`: blocking BullMQ connections (maxRetriesPerRequest null, retry forever).
   *  `producer`: fails fast so a webhook can answer 503 instead of hanging. Default producer. */
  role?: 'worker' | 'producer' | 'subscriber'
  logger?: Logger
  connectionName?: string
  /** Batch commands issued in the same tick into one write (ioredis enableAutoPipelining). Default false. */
  autoPipelining?: boolean
}

/** ioredis client with the settings each role needs and an `error` listener attached. */
export function createRedis(opts: RedisFactoryOptions): Redis {
  const role = opts.role ?? 'producer'
  const base: RedisOptions = {
    connectionName: opts.connectionName,
    lazyConnect: false,
    enableAutoPipelining: opts.autoPipelining ?? false,
    // Keep reconnecting, capped at 2 s between tries.
    retryStrategy: (times) => Math.min(times * 100, 2000),
  }
  const byRole: Record<string, RedisOptions> = {
    worker: { maxRetriesPerRequest: null, enableReadyCheck: false },
    subscriber: { maxRetriesPerRequest: null, enableReadyCheck: false },
    producer: { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 },
  }
  const client = new Redis(opts.url, { ...base, ...byRole[role] })
  let lastLogged = 0
  client.on('error', (err: Error) => {
    // Reconnect storms would flood the log: one line per 5 s.
    const now = Date.now()
    if (now - lastLogged > 5000) {
      lastLogged = now
      opts.logger?.warn({ err: err.message, role }, 'redis error')
    }
  })
  return client
}

/** Pings Redis; throws UnavailableError with how to start one when it does not answer in time. */
export async function assertRedis(url: string, timeoutMs = 2000): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.ping()
  } catch (err) {
    throw new UnavailableError(
      `Redis at ${url} is unreachable (${(err as Error).message}). ${REDIS_START_HINT}`,
      err,
    )
  } finally {
    client.disconnect()
  }
}

/**
 * Resolves once `client` is ready (connected, ready check passed). A fail-fast connection
 * (`enableOfflineQueue: false`) refuses commands until then, so a process that serves requests on it
 * waits for this before it listens. Rejects with UnavailableError naming `what` after `timeoutMs`.
 */
export async function waitForReady(
  client: Redis,
  opts: { timeoutMs?: number; what?: string } = {},
): Promise<void> {
  if (client.status === 'ready') return
  const timeoutMs = opts.timeoutMs ?? 10_000
  const what = opts.what ?? 'Redis connection'
  let lastError: Error | undefined
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      lastError = err
    }
    const done = (err?: Error) => {
      clearTimeout(timer)
      client.off('ready', onReady)
      client.off('error', onError)
      client.off('end', onEnd)
      if (err) reject(err)
      else resolve()
    }
    const onReady = () => done()
    const onEnd = () => done(new UnavailableError(`${what}: the connection was closed before it was ready`))
    const timer = setTimeout(
      () =>
        done(
          new UnavailableError(
            `${what} not ready after ${timeoutMs} ms (status ${client.status}${lastError ? `, last error: ${lastError.message}` : ''}). ${REDIS_START_HINT}`,
            lastError,
          ),
        ),
      timeoutMs,
    )
    client.on('ready', onReady)
    client.on('error', onError)
    client.once('end', onEnd)
  })
}

/**
 * Closes a connection: QUIT when it is ready (pending replies arrive first), else disconnect —
 * QUIT on a connection that never came up would wait in the offline queue or be refused.
 */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'ready') await client.quit()
  else client.disconnect()
}
