import { createCanaryRepository } from '@loopdm/models/canary-runs'
import type { PromotionDeps } from '@loopdm/models/promotion'
import type { RegistryRepository } from '@loopdm/models/registry'
import { type AiClient, createAiClient, endpointClientFor, type UsageSink } from '@loopdm/platform/openai'
import type { Redis } from '@loopdm/redis/client'
import type { Queue } from 'bullmq'
import type { GatewayOptions } from './compose.js'
import type { CanaryPort } from './jobs/dm.processor.js'
import type { GatewayMetrics } from './metrics.js'
import { type CanaryChecker, createCanaryChecker } from './services/canary-checker.js'
import { CanarySplitHolder } from './services/canary-split.js'
import type { ExemplarService } from './services/exemplars.js'
import { createShadow, type Shadow } from './services/shadow.js'

/**
 * Wiring of promotion and rollouts (part of the composition root, split from compose.ts for
 * size): the promotion dependencies, the canary split every reply routes by, and the periodic
 * canary check (only in processes that run the reply worker).
 */

/** Promotion publishes on the producer and probes through the process's SDK, or a policy's own endpoint. */
export function promotionDepsOf(
  opts: GatewayOptions,
  parts: { producer: Redis; sdk: AiClient['sdk']; registry: RegistryRepository },
): PromotionDeps {
  const { config, logger, pool } = opts
  return {
    db: pool,
    redis: parts.producer,
    sdk: parts.sdk,
    config,
    logger,
    registry: parts.registry,
    clientFor: (endpoint) => endpointClientFor(endpoint, { config }),
  }
}

export interface Rollout {
  split: CanarySplitHolder
  checker: CanaryChecker
  /** What the reply pipeline routes and records by. */
  port: CanaryPort
  /** Shadow answers of a candidate, on the `shadow` queue. */
  shadow: Shadow
  start(): Promise<void>
  close(): Promise<void>
}

export function createRollout(
  opts: GatewayOptions,
  parts: {
    subscriber: Redis
    promotion: PromotionDeps
    metrics: GatewayMetrics
    ai: AiClient
    usage: UsageSink
    shadowQueue: Queue
    registry: RegistryRepository
    /** The candidate's demonstrations for a shadow answer (an exemplar candidate is its set). */
    exemplars: Pick<ExemplarService, 'forReply'> | undefined
  },
): Rollout {
  const { config, logger, pool } = opts
  const { metrics } = parts
  const repo = createCanaryRepository(pool)
  const split = new CanarySplitHolder({
    repo,
    subscriber: parts.subscriber,
    channel: config.models.channel,
    reconcileIntervalMs: config.models.reconcileIntervalMs,
    logger,
    onChange: (s) => metrics.canaryPercent.set(s?.percent ?? 0),
  })
  const checker = createCanaryChecker({
    promotion: parts.promotion,
    metrics,
    intervalMs: opts.worker === false ? 0 : config.rollout.canary.checkIntervalMs,
  })
  const shadow = createShadow({
    pool,
    config,
    logger,
    ai: parts.ai,
    clientFor: (endpoint) =>
      createAiClient({ config, logger, usage: parts.usage, sdk: endpointClientFor(endpoint, { config }) }),
    queue: parts.shadowQueue,
    registry: parts.registry,
    exemplars: parts.exemplars,
    metrics,
    worker: opts.worker !== false,
    subscriber: parts.subscriber,
    channel: config.models.channel,
  })
  const port: CanaryPort = {
    route: (igUserId, active) => split.route(igUserId, active),
    async recordReply(r) {
      metrics.canaryRouted.inc({ arm: r.arm })
      // The canary's bookkeeping never fails a reply: a lost row only thins the sample.
      await repo
        .recordReply(r)
        .catch((err) => logger.warn({ mid: r.mid, err: (err as Error).message }, 'canary reply not recorded'))
    },
  }
  return {
    split,
    checker,
    port,
    shadow,
    async start() {
      await split.start()
      checker.start()
      await shadow.start()
    },
    async close() {
      await checker.stop()
      await shadow.close()
      await split.close()
    },
  }
}
