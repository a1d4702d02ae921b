import type { CostLedger } from '@loopdm/models/cost-ledger'
import type { AiClient } from '@loopdm/platform/openai'
import type { Redis } from '@loopdm/redis/client'
import type { Worker } from 'bullmq'
import type { GatewayOptions } from './compose.js'
import type { CanaryPort, DmDeps } from './jobs/dm.processor.js'
import { createDmWorker } from './jobs/dm.worker.js'
import type { GatewayMetrics } from './metrics.js'
import { createConversationRepository } from './repositories/conversation.repository.js'
import { createDmOrderRepository } from './repositories/dm-order.repository.js'
import type { DmQueueRepository } from './repositories/dm-queue.repository.js'
import { createGdprRepository } from './repositories/gdpr.repository.js'
import { createOutboxRepository } from './repositories/outbox.repository.js'
import { createSignalsRepository } from './repositories/signals.repository.js'
import type { ActiveModelHolder } from './services/active-model.js'
import { createExemplarService, type ExemplarService } from './services/exemplars.js'
import { createGraphSender } from './services/graph-sender.js'
import type { MemoryPort } from './services/memory.port.js'
import type { ModelRouter } from './services/model-router.js'
import { createSendGate, type SendGate } from './services/send-gate.js'
import type { Shadow } from './services/shadow.js'
import { createTakeoverService, type TakeoverService } from './services/takeover.service.js'

/**
 * Wiring of the reply pipeline (part of the composition root, split from compose.ts for size):
 * the Send API sender, the takeover service, the token gate, the pipeline's dependencies and the
 * reply worker. No logic beyond choosing what to build.
 */

/**
 * The exemplar side of the prompt. Its lookup shares memory recall's embedding of the live message
 * (memory.port.ts `queryVector`), so a reply makes one embedding call for both.
 */
export function createExemplars(
  opts: GatewayOptions,
  parts: { ai: AiClient; ledger: Pick<CostLedger, 'recordAttribution'>; memory: MemoryPort },
): ExemplarService {
  const { memory } = parts
  return createExemplarService({
    db: opts.pool,
    ai: parts.ai,
    config: opts.config,
    logger: opts.logger,
    ledger: parts.ledger,
    queryVector: memory.queryVector
      ? (u, t) => memory.queryVector?.(u, t) ?? Promise.resolve(undefined)
      : undefined,
  })
}

/** The reply pipeline's dependencies: repositories on the worker connection, router, memory, sender. */
export function createDmDeps(
  opts: GatewayOptions,
  parts: {
    order: Redis
    /** Fail-fast connection for takeover state and the send gate (admin routes read them too). */
    producer: Redis
    dmQueue: DmQueueRepository
    memory: MemoryPort
    exemplars?: ExemplarService
    router: ModelRouter
    holder: ActiveModelHolder
    metrics: GatewayMetrics
    canary?: CanaryPort
    shadow?: Shadow
  },
): DmDeps & { takeover: TakeoverService; sendGate: SendGate } {
  const { config, logger, pool } = opts
  const { accessToken, graphBaseUrl, sendPath } = config.instagram
  const sender =
    accessToken && graphBaseUrl
      ? createGraphSender({
          graphBaseUrl,
          accessToken,
          sendPath,
          fetch: opts.fetch,
          timeoutMs: config.gateway.delivery.sendTimeoutMs,
        })
      : undefined
  if (!sender) logger.warn('IG_ACCESS_TOKEN is unset: replies are written to the outbox and logged, not sent')
  const conversations = createConversationRepository(pool)
  const takeover = createTakeoverService({
    redis: parts.producer,
    prefix: config.redis.prefix,
    conversations,
    sender,
    memory: parts.memory,
    defaultMinutes: config.instagram.humanTakeoverMinutes,
    logger,
    metrics: parts.metrics,
  })
  const sendGate = createSendGate({
    redis: parts.producer,
    prefix: config.redis.prefix,
    accessToken: sender ? accessToken : undefined,
    logger,
    metrics: parts.metrics,
  })
  return {
    takeover,
    sendGate,
    conversations,
    outbox: createOutboxRepository(pool),
    signals: createSignalsRepository(pool),
    order: createDmOrderRepository({
      redis: parts.order,
      prefix: config.redis.prefix,
      lockTtlMs: config.gateway.delivery.lockTtlMs,
    }),
    erasures: createGdprRepository(pool, { pseudonymSecret: config.privacy.pseudonymSecret }),
    memory: parts.memory,
    exemplars: parts.exemplars,
    router: parts.router,
    currentModel: () => parts.holder.current(),
    canary: parts.canary,
    shadow: parts.shadow,
    sender,
    loadPayload: (mid) => parts.dmQueue.loadPayload(mid),
    systemPrompt: config.models.systemPrompt,
    logger,
    metrics: parts.metrics,
    delivery: config.gateway.delivery,
  }
}

/** The reply worker over the pipeline's dependencies, unless `opts.worker === false`. */
export function createReplyWorker(opts: GatewayOptions, deps: DmDeps): Worker | undefined {
  if (opts.worker === false) return undefined
  const { config, logger } = opts
  return createDmWorker({
    config,
    logger,
    concurrency: opts.workerConcurrency,
    heldRetryMs: opts.heldRetryMs,
    deps,
  })
}
