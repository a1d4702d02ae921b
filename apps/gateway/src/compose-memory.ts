import type { AiClient } from '@loopdm/platform/openai'
import type { QueueName } from '@loopdm/queues/contracts'
import { DM_QUEUE } from '@loopdm/queues/contracts'
import type { Redis } from '@loopdm/redis/client'
import { tryWithRedisLock } from '@loopdm/redis/lock'
import type { Queue } from 'bullmq'
import type { GatewayOptions } from './compose.js'
import { createDmJobsRepository } from './repositories/dm-jobs.repository.js'
import { createGdprService } from './services/gdpr.service.js'
import type { MemoryPort } from './services/memory.port.js'
import { createMemory, type Memory } from './services/memory.service.js'

/**
 * Wiring of memory and the GDPR erase (part of the composition root, split from compose.ts for
 * size). No logic beyond choosing what to build.
 */

/** The real memory: the shared AI client; one gateway at a time back-fills (a Redis lease), so replicas don't pay twice. */
export function createMemoryService(opts: GatewayOptions, ai: AiClient, producer: Redis): Memory {
  const { config, logger } = opts
  return createMemory({
    db: opts.pool,
    ai,
    config,
    logger,
    sweepLock: (sweep) =>
      tryWithRedisLock(producer, `${config.redis.prefix}:memory-backfill`, sweep, { ttlMs: 60_000 }),
  })
}

/** The memory's GDPR side (drop the user's queued embeddings and cached vectors), when the port has one. */
export function forgetterOf(memory: MemoryPort): Pick<Memory, 'forget'> | undefined {
  return 'forget' in memory && typeof memory.forget === 'function'
    ? (memory as Pick<Memory, 'forget'>)
    : undefined
}

/** The GDPR erase over the dm jobs, export files, memory and the provider's training files. */
export function createGdpr(
  opts: GatewayOptions,
  parts: { queues: Record<QueueName, Queue>; memory: MemoryPort; ai: AiClient },
) {
  return createGdprService({
    db: opts.pool,
    config: opts.config,
    logger: opts.logger,
    dmJobs: createDmJobsRepository(parts.queues[DM_QUEUE]),
    exportEraser: opts.exportEraser,
    memory: forgetterOf(parts.memory),
    // Deletes the provider's copies of uploaded training files that held the user's lines.
    sdk: parts.ai.sdk,
  })
}

/** Stops intake first (http, reply worker), then memory and hot swap, then queues and connections. */
