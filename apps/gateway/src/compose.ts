import type { Pool } from '@loopdm/db/pool'
import { createCostLedger } from '@loopdm/models/cost-ledger'
import { createRegistryRepository } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import { closer } from '@loopdm/platform/lifecycle'
import type { Logger } from '@loopdm/platform/logger'
import { type AiClient, createAiClient, type UsageSink } from '@loopdm/platform/openai'
import { createQueue } from '@loopdm/queues/bullmq'
import { ALL_QUEUES, DM_QUEUE, type QueueName } from '@loopdm/queues/contracts'
import { createRedis } from '@loopdm/redis/client'
import type { Queue, Worker } from 'bullmq'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import { type AdminRouteOptions, buildApp } from './app.js'
import type { DmDeps } from './jobs/dm.processor.js'
import { createDmWorker } from './jobs/dm.worker.js'
import { createMetrics, type GatewayMetrics } from './metrics.js'
import { createConversationRepository } from './repositories/conversation.repository.js'
import { createCostsRepository } from './repositories/costs.repository.js'
import { createDmOrderRepository } from './repositories/dm-order.repository.js'
import { createDmQueueRepository } from './repositories/dm-queue.repository.js'
import { createGdprRepository } from './repositories/gdpr.repository.js'
import { createOutboxRepository } from './repositories/outbox.repository.js'
import { createSignalsRepository } from './repositories/signals.repository.js'
import { ActiveModelHolder } from './services/active-model.js'
import { createGraphSender } from './services/graph-sender.js'
import { type MemoryPort, noMemory } from './services/memory.port.js'
import { ModelRouter } from './services/model-router.js'

export interface GatewayOptions {
  config: Config
  logger: Logger
  pool: Pool
  /** Memory recall/back-fill; default `noMemory` (empty context). */
  memory?: MemoryPort
  /** Default: createAiClient over config (openai-local when no OPENAI_API_KEY). */
  ai?: AiClient
  /** Where completion usage goes when `ai` is not given; default the shared cost ledger. */
  usage?: UsageSink
  /** Outbound fetch for the Graph API (tests may pass their own). */
  fetch?: typeof fetch
  /** Reply worker concurrency; default DM_CONCURRENCY. */
  workerConcurrency?: number
  /** Run the reply worker in this process; default true. */
  worker?: boolean
  /** Router circuit cool-down; default 60 s. */
  circuitCooldownMs?: number
  metrics?: GatewayMetrics
  adminRoutes?: FastifyPluginAsync<AdminRouteOptions>[]
}

export interface Gateway {
  app: FastifyInstance
  holder: ActiveModelHolder
  router: ModelRouter
  worker: Worker | undefined
  queues: Record<QueueName, Queue>
  metrics: GatewayMetrics
  /** The reply pipeline's dependencies (benchmarks and tests call processDmMessage with them). */
  dmDeps: DmDeps
  /** Loads the active model, subscribes to hot swaps, starts the reply worker. */
  start(): Promise<void>
  /** Stops intake and work, lets in-flight replies finish, closes every connection. Idempotent. */
  close(): Promise<void>
}

/**
 * Wires the gateway: Redis connections → repositories → services → app + reply worker + hot-swap
 * subscriber. main.ts adds config, logger, database and listen; tests call it directly.
 */
export function createGateway(opts: GatewayOptions): Gateway {
  const { config, logger, pool } = opts
  const metrics = opts.metrics ?? createMetrics()
  // Producer: fails fast (the webhook answers 503). Worker-side: waits out short outages.
  const producer = createRedis({
    url: config.redis.url,
    role: 'producer',
    logger,
    connectionName: 'gateway-producer',
  })
  const workerRedis = createRedis({
    url: config.redis.url,
    role: 'worker',
    logger,
    connectionName: 'gateway-order',
  })
  const subscriber = createRedis({
    url: config.redis.url,
    role: 'subscriber',
    logger,
    connectionName: 'gateway-hotswap',
  })

  const queues = Object.fromEntries(
    ALL_QUEUES.map((name) => [name, createQueue(name, { config, logger, connection: producer })]),
  ) as Record<QueueName, Queue>
  metrics.watchQueues(Object.values(queues))

  const registry = createRegistryRepository(pool)
  const conversations = createConversationRepository(pool)
  const outbox = createOutboxRepository(pool)
  const signals = createSignalsRepository(pool)
  const costs = createCostsRepository(pool)
  const webhookOrder = createDmOrderRepository({ redis: producer, prefix: config.redis.prefix })
  const workerOrder = createDmOrderRepository({ redis: workerRedis, prefix: config.redis.prefix })
  const dmQueue = createDmQueueRepository({ queue: queues[DM_QUEUE], order: webhookOrder })

  // Every completion's tokens and estimated cost go to the cost ledger (GET /admin/costs, budgets).
  const usage = opts.usage ?? createCostLedger({ db: pool, prices: config.openai.prices, logger })
  const ai = opts.ai ?? createAiClient({ config, logger, usage })
  const holder = new ActiveModelHolder({
    registry,
    subscriber,
    channel: config.models.channel,
    reconcileIntervalMs: config.models.reconcileIntervalMs,
    logger,
    metrics,
  })
  const router = new ModelRouter({
    config,
    ai,
    logger,
    registry,
    metrics,
    circuitCooldownMs: opts.circuitCooldownMs,
  })
  const { accessToken, graphBaseUrl } = config.instagram
  const sender =
    accessToken && graphBaseUrl
      ? createGraphSender({ graphBaseUrl, accessToken, fetch: opts.fetch })
      : undefined
  if (!sender) logger.warn('IG_ACCESS_TOKEN is unset: replies are written to the outbox and logged, not sent')

  const dmDeps: DmDeps = {
    conversations,
    outbox,
    signals,
    order: workerOrder,
    erasures: createGdprRepository(pool),
    memory: opts.memory ?? noMemory,
    router,
    currentModel: () => holder.current(),
    sender,
    loadPayload: (mid) => dmQueue.loadPayload(mid),
    systemPrompt: config.models.systemPrompt,
    logger,
    metrics,
  }
  const worker =
    opts.worker === false
      ? undefined
      : createDmWorker({ config, logger, concurrency: opts.workerConcurrency, deps: dmDeps })

  const app = buildApp({
    config,
    logger,
    pool,
    redis: producer,
    dmQueue,
    queues,
    holder,
    router,
    registry,
    costs,
    metrics,
    adminRoutes: opts.adminRoutes,
  })

  const close = closer(
    [
      { name: 'http', close: () => app.close() },
      { name: 'reply worker', close: () => worker?.close() },
      { name: 'hot-swap subscriber', close: () => holder.close() },
      ...Object.values(queues).map((q) => ({ name: `queue ${q.name}`, close: () => q.close() })),
      { name: 'redis subscriber', close: () => subscriber.quit() },
      { name: 'redis worker', close: () => workerRedis.quit() },
      { name: 'redis producer', close: () => producer.quit() },
    ],
    logger,
  )

  return {
    app,
    holder,
    router,
    worker,
    queues,
    metrics,
    dmDeps,
    async start() {
      await holder.start()
      if (worker) {
        worker.run().catch((err) => logger.error({ err: (err as Error).message }, 'reply worker stopped'))
        await worker.waitUntilReady()
      }
    },
    close,
  }
}
