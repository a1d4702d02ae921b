import { redactUrl } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import { createRedis, type Redis, waitForReady } from '@loopdm/redis/client'

/**
 * The process's Redis connections, each for one job: `producer` fails fast (the webhook answers
 * 503; queues, readiness, promotion publish, the memory lease), `worker` waits out short outages
 * (per-user order and reply lock), `subscriber` is in subscriber mode (hot swap). BullMQ's Worker
 * opens its own blocking connection (packages/queues/src/bullmq.ts).
 */
export interface GatewayConnections {
  producer: Redis
  worker: Redis
  subscriber: Redis
}

/** Opens the named connections of one gateway process. */
export function createConnections({
  config,
  logger,
}: {
  config: Config
  logger: Logger
}): GatewayConnections {
  const open = (role: 'producer' | 'worker' | 'subscriber', connectionName: string, autoPipelining = false) =>
    createRedis({ url: config.redis.url, role, logger, connectionName, autoPipelining })
  return {
    // Auto-pipelined: concurrent webhooks' enqueues share one write (the webhook's throughput).
    producer: open('producer', 'gateway-producer', true),
    worker: open('worker', 'gateway-order'),
    subscriber: open('subscriber', 'gateway-hotswap'),
  }
}

/**
 * Waits (bounded) until the producer connection is ready. It fails fast (no offline queue), so a
 * webhook served before it is ready would get 503: the gateway waits for this before it listens.
 */
export async function producerReady(
  connections: GatewayConnections,
  config: Config,
  timeoutMs = 10_000,
): Promise<void> {
  await waitForReady(connections.producer, {
    timeoutMs,
    what: `the gateway's producer Redis connection to ${redactUrl(config.redis.url)}`,
  })
}
