import type { Pool } from '@loopdm/db/pool'
import type { GoldRepository } from '@loopdm/models/gold-items'
import type { PromotionDeps } from '@loopdm/models/promotion'
import type { RegistryRepository } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import type { QueueName } from '@loopdm/queues/contracts'
import type { Redis } from '@loopdm/redis/client'
import type { Queue } from 'bullmq'
import type { FastifyPluginAsync } from 'fastify'
import type { Rollout } from '../compose-rollout.js'
import type { GatewayMetrics } from '../metrics.js'
import type { CostsRepository } from '../repositories/costs.repository.js'
import type { DmQueueRepository } from '../repositories/dm-queue.repository.js'
import type { ActiveModelHolder } from '../services/active-model.js'
import type { GdprService } from '../services/gdpr.service.js'
import type { ModelRouter } from '../services/model-router.js'
import type { SendGate } from '../services/send-gate.js'
import type { TakeoverService } from '../services/takeover.service.js'

/**
 * Everything the HTTP side needs, built once by the composition root (compose.ts) or a test. Routes
 * receive these services; they never build clients, connections or services themselves.
 */
export interface AppDeps {
  config: Config
  logger: Logger
  pool: Pool
  /** The producer connection (fail fast): readiness ping. */
  redis: Redis
  dmQueue: DmQueueRepository
  /** Producer queues for the admin API and Bull Board, one per queue name. */
  queues: Record<QueueName, Queue>
  holder: Pick<ActiveModelHolder, 'current' | 'loaded'>
  router: Pick<ModelRouter, 'getAllModels'>
  registry: RegistryRepository
  costs: CostsRepository
  metrics: GatewayMetrics
  /** The GDPR erase (`DELETE /admin/users/:igUserId`). */
  gdpr: Pick<GdprService, 'eraseUser'>
  /**
   * What promote/rollback/approve need: the pool, a publishing Redis connection (the producer),
   * the process's one OpenAI SDK (the probe), the registry.
   */
  promotion: PromotionDeps
  /** Human takeover (`/admin/users/:igUserId/pause|resume`, `GET /admin/users/:igUserId`). */
  takeover: TakeoverService
  /** The deployment's gold set (`/admin/gold`, the console's "Mark as gold" and Data page). */
  gold: GoldRepository
  /** The canary split and its check (`/admin/candidates/:id/canary`, `GET /admin/canary`). */
  canary: Pick<Rollout, 'checker' | 'split' | 'shadow'>
  /** The Send API token block: `/readyz` reports it. */
  sendGate: Pick<SendGate, 'status'>
  /**
   * Extra admin route plugins (mounted under /admin behind the bearer hook); each receives these
   * deps as its options.
   */
  adminRoutes?: FastifyPluginAsync<GatewayRouteOptions>[]
}

/** The options every gateway route plugin (health, webhook, admin) is registered with. */
export interface GatewayRouteOptions {
  deps: AppDeps
}
