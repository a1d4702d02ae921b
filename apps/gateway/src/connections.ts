import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import { createRedis, type Redis } from '@loopdm/redis/client'

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
  const open = (role: 'producer' | 'worker' | 'subscriber', connectionName: string) =>
    createRedis({ url: config.redis.url, role, logger, connectionName })
  return {
    producer: open('producer', 'gateway-producer'),
    worker: open('worker', 'gateway-order'),
    subscriber: open('subscriber', 'gateway-hotswap'),
  }
}
