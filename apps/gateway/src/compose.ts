import type { Pool } from '@loopdm/db/pool'
import { createCostLedger } from '@loopdm/models/cost-ledger'
import { createGoldRepository } from '@loopdm/models/gold-items'
import { seedRegistry } from '@loopdm/models/promotion'
import { createRegistryRepository, type RegistryRepository } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import { closer } from '@loopdm/platform/lifecycle'
import type { Logger } from '@loopdm/platform/logger'
import { type AiClient, createAiClient, endpointClientFor, type UsageSink } from '@loopdm/platform/openai'
import { createQueue } from '@loopdm/queues/bullmq'
import { ALL_QUEUES, DM_QUEUE, type QueueName, SHADOW_QUEUE } from '@loopdm/queues/contracts'
import { closeRedis, type Redis } from '@loopdm/redis/client'
import type { Queue, Worker } from 'bullmq'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import { buildApp } from './app.js'
import { createDmDeps, createExemplars, createReplyWorker } from './compose-dm.js'
import { createGdpr, createMemoryService } from './compose-memory.js'
import { createRollout, promotionDepsOf, type Rollout } from './compose-rollout.js'
import { createConnections, type GatewayConnections, producerReady } from './connections.js'
import type { DmDeps } from './jobs/dm.processor.js'
import { createDmRedrive, type DmRedrive, providerProbe } from './jobs/dm-redrive.js'
import { createMetrics, type GatewayMetrics } from './metrics.js'
import { createCostsRepository } from './repositories/costs.repository.js'
import { createDmOrderRepository } from './repositories/dm-order.repository.js'
import { createDmQueueRepository } from './repositories/dm-queue.repository.js'
import type { GatewayRouteOptions } from './routes/route-deps.js'
import { ActiveModelHolder } from './services/active-model.js'
import type { ExemplarService } from './services/exemplars.js'
import type { ExportEraser } from './services/export-eraser.js'
import type { GdprService } from './services/gdpr.service.js'
import { type MemoryPort, noMemory } from './services/memory.port.js'
import type { Memory } from './services/memory.service.js'
import { ModelRouter } from './services/model-router.js'
import type { SendGate } from './services/send-gate.js'
import type { TakeoverService } from './services/takeover.service.js'

export type { GatewayConnections } from './connections.js'

export interface GatewayOptions {
  config: Config
  logger: Logger
  pool: Pool
  /** Memory recall/back-fill; default `noMemory` (empty context), or the real memory with `memoryService`. */
  memory?: MemoryPort
  /**
   * When `memory` is not given: build the real memory (embeddings off the reply path, recall, a
   * back-fill sweep under a Redis lease) over this process's AI client, and start/close it with the
   * gateway. Default false; main.ts sets it.
   */
  memoryService?: boolean
  /** Seed the registry from LOOP_DM_FT_MODEL in `start()` (no-op when unset or one is active). Default false; main.ts sets it. */
  seedRegistry?: boolean
  /** The process's one AI client (router, memory, promotion probe, GDPR, seeding). Default: createAiClient over config. */
  ai?: AiClient
  /** Where completion usage goes when `ai` is not given; default the shared cost ledger. */
  usage?: UsageSink
  /** Outbound fetch for the Graph API (tests may pass their own). */
  fetch?: typeof fetch
  /** Reply worker concurrency; default DM_CONCURRENCY. */
  workerConcurrency?: number
  /** How long a reply held by a Send API token block (190) waits before it is retried; default 60 s. */
  heldRetryMs?: number
  /** Run the reply worker in this process; default true. */
  worker?: boolean
  /** Router circuit cool-down; default 60 s. */
  circuitCooldownMs?: number
  metrics?: GatewayMetrics
  /** Removes a user's lines from export files on a GDPR erase; default the exporter's hook. */
  exportEraser?: ExportEraser
  adminRoutes?: FastifyPluginAsync<GatewayRouteOptions>[]
  /** How long `start()` waits for the producer Redis connection to be ready; default 10 s. */
  redisReadyTimeoutMs?: number
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
  /** Human takeover: pause/resume/status/replyAsHuman (admin routes, console). */
  takeover: TakeoverService
  /** The Send API token block (190). */
  sendGate: SendGate
  ai: AiClient
  memory: MemoryPort
  gdpr: GdprService
  connections: GatewayConnections
  /** Moves delayed replies forward once the provider answers again. */
  redrive: DmRedrive
  /** The canary split and its periodic check (issue 19). */
  rollout: Rollout
  /** Waits for the producer Redis connection (bounded), seeds the registry (if asked), loads the active model, subscribes to hot swaps, starts the reply worker and memory. */
  start(): Promise<void>
  /** Stops intake and work, lets in-flight replies finish, closes every connection. Idempotent. */
  close(): Promise<void>
}

/** One producer Queue per queue name, all on the producer connection, watched by the metrics. */
function createQueues(opts: GatewayOptions, producer: Redis, metrics: GatewayMetrics) {
  const { config, logger } = opts
  const queues = Object.fromEntries(
    ALL_QUEUES.map((name) => [name, createQueue(name, { config, logger, connection: producer })]),
  ) as Record<QueueName, Queue>
  metrics.watchQueues(Object.values(queues))
  return queues
}

/**
 * Hot-swap holder (subscriber connection), the model router over the shared AI client, the
 * promotion dependencies and the rollouts (canary split and check, shadow answers).
 */
function createModelServices(
  opts: GatewayOptions,
  deps: {
    ai: AiClient
    registry: RegistryRepository
    subscriber: Redis
    producer: Redis
    metrics: GatewayMetrics
    usage: UsageSink
    shadowQueue: Queue
    exemplars: ExemplarService | undefined
  },
) {
  const { config, logger } = opts
  const holder = new ActiveModelHolder({
    registry: deps.registry,
    subscriber: deps.subscriber,
    channel: config.models.channel,
    reconcileIntervalMs: config.models.reconcileIntervalMs,
    logger,
    metrics: deps.metrics,
  })
  const router = new ModelRouter({
    config,
    ai: deps.ai,
    logger,
    registry: deps.registry,
    metrics: deps.metrics,
    circuitCooldownMs: opts.circuitCooldownMs,
    // A policy served elsewhere (Together, a vLLM) is answered through its own endpoint's client.
    clientFor: (endpoint) =>
      createAiClient({ config, logger, usage: deps.usage, sdk: endpointClientFor(endpoint, { config }) }),
  })
  const promotion = promotionDepsOf(opts, {
    producer: deps.producer,
    sdk: deps.ai.sdk,
    registry: deps.registry,
  })
  const rollout = createRollout(opts, { ...deps, promotion })
  return { holder, router, promotion, rollout }
}

function closeInOrder(parts: {
  logger: Logger
  app: FastifyInstance
  worker: Worker | undefined
  redrive: DmRedrive
  ownMemory: Memory | undefined
  holder: ActiveModelHolder
  rollout: Rollout
  queues: Record<QueueName, Queue>
  connections: GatewayConnections
}): () => Promise<void> {
  const { app, worker, ownMemory: memory, holder, queues, connections } = parts
  return closer(
    [
      { name: 'http', close: () => app.close() },
      { name: 'reply worker', close: () => worker?.close() },
      { name: 'dm redrive', close: () => parts.redrive.stop() },
      { name: 'memory', close: () => memory?.close() },
      { name: 'canary', close: () => parts.rollout.close() },
      { name: 'hot-swap subscriber', close: () => holder.close() },
      ...Object.values(queues).map((q) => ({ name: `queue ${q.name}`, close: () => q.close() })),
      { name: 'redis subscriber', close: () => closeRedis(connections.subscriber) },
      { name: 'redis worker', close: () => closeRedis(connections.worker) },
      { name: 'redis producer', close: () => closeRedis(connections.producer) },
    ],
    parts.logger,
  )
}

const pick = ({ takeover, sendGate }: ReturnType<typeof createDmDeps>) => ({ takeover, sendGate })

/**
 * The gateway's one wiring module: Redis connections → repositories → services (one AI client,
 * memory, GDPR, promotion) → app + reply worker + hot-swap subscriber. main.ts adds the runtime
 * (config, logger, database) and listen; tests and benches call it directly.
 */
export function createGateway(opts: GatewayOptions): Gateway {
  const { config, logger, pool } = opts
  const metrics = opts.metrics ?? createMetrics()
  const connections = createConnections({ config, logger })
  const { producer } = connections
  const queues = createQueues(opts, producer, metrics)
  const registry = createRegistryRepository(pool)
  const webhookOrder = createDmOrderRepository({ redis: producer, prefix: config.redis.prefix })
  const dmQueue = createDmQueueRepository({ queue: queues[DM_QUEUE], order: webhookOrder })

  // Every completion's and embedding's tokens and estimated cost go to the cost ledger.
  const ledger = createCostLedger({ db: pool, prices: config.openai.prices, logger })
  const usage = opts.usage ?? ledger
  const ai = opts.ai ?? createAiClient({ config, logger, usage })
  const ownMemory = !opts.memory && opts.memoryService ? createMemoryService(opts, ai, producer) : undefined
  const memory = opts.memory ?? ownMemory ?? noMemory
  const exemplars = createExemplars(opts, { ai, ledger, memory })
  const { holder, router, promotion, rollout } = createModelServices(opts, {
    ...{ ai, registry, subscriber: connections.subscriber, producer, metrics, usage },
    shadowQueue: queues[SHADOW_QUEUE],
    exemplars,
  })
  const gdpr = createGdpr(opts, { queues, memory, ai })
  const dmDeps = createDmDeps(opts, {
    order: connections.worker,
    producer,
    dmQueue,
    memory,
    exemplars,
    router,
    holder,
    metrics,
    canary: rollout.port,
    shadow: rollout.shadow,
  })
  const worker = createReplyWorker(opts, dmDeps)
  // Delayed replies move forward as soon as the provider answers again (see jobs/dm-redrive.ts).
  const redrive = createDmRedrive({
    queue: queues[DM_QUEUE],
    intervalMs: worker ? config.gateway.delivery.redriveIntervalMs : 0,
    logger,
    probe: providerProbe(ai),
    onRedriven: (n) => metrics.dmRedriven.inc(n),
  })
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
    costs: createCostsRepository(pool),
    metrics,
    gdpr,
    gold: createGoldRepository(pool),
    promotion,
    takeover: dmDeps.takeover,
    sendGate: dmDeps.sendGate,
    canary: rollout,
    adminRoutes: opts.adminRoutes,
  })
  const close = closeInOrder({
    logger,
    app,
    worker,
    redrive,
    ownMemory,
    holder,
    rollout,
    queues,
    connections,
  })

  async function start() {
    // The producer fails fast: until it is ready a webhook would get 503, so start() waits for it.
    await producerReady(connections, config, opts.redisReadyTimeoutMs)
    // LOOP_DM_FT_MODEL seeds the registry once, before the holder reads it.
    if (opts.seedRegistry) await seedRegistry(promotion)
    await holder.start()
    await rollout.start()
    if (worker) {
      worker.run().catch((err) => logger.error({ err: (err as Error).message }, 'reply worker stopped'))
      await worker.waitUntilReady()
    }
    ownMemory?.start()
    redrive.start()
  }

  const services = { dmDeps, ...pick(dmDeps), ai, memory, gdpr, connections }
  return { app, holder, router, worker, queues, metrics, ...services, redrive, rollout, start, close }
}
