import type { Pool } from '@loopdm/db/pool'
import type { RegistryRepository } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import { LoopDmError } from '@loopdm/platform/errors'
import type { Logger } from '@loopdm/platform/logger'
import type { QueueName } from '@loopdm/queues/contracts'
import type { Redis } from '@loopdm/redis/client'
import type { Queue } from 'bullmq'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyPluginAsync,
  LogController,
} from 'fastify'
import { consoleOptionsFrom } from './console/compose.js'
import { consolePlugin } from './console/plugin.js'
import type { GatewayMetrics } from './metrics.js'
import type { CostsRepository } from './repositories/costs.repository.js'
import type { DmQueueRepository } from './repositories/dm-queue.repository.js'
import { adminPlugin } from './routes/admin/index.js'
import { healthRoutes } from './routes/health.routes.js'
import { webhookRoutes } from './routes/webhook.routes.js'
import type { ActiveModelHolder } from './services/active-model.js'
import type { ModelRouter } from './services/model-router.js'

/** Everything the HTTP side needs; built by the composition root (compose.ts) or a test. */
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
  /**
   * Extra admin route plugins (mounted under /admin behind the bearer hook), e.g. the GDPR
   * erase or promotion routes; each receives these deps as its options.
   */
  adminRoutes?: FastifyPluginAsync<AdminRouteOptions>[]
}

export interface AdminRouteOptions {
  deps: AppDeps
}

/**
 * Builds the gateway's Fastify app: never listens (main.ts does). Every route has a schema; a 5xx
 * answer carries a generic body (details go to the log only).
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger as unknown as FastifyBaseLogger,
    // One line per request at info would dominate the logs and the webhook's cost.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    trustProxy: true,
  })

  app.setErrorHandler((err, req, reply) => {
    const e = err as Error & { statusCode?: number; validation?: unknown; code?: string }
    const status =
      err instanceof LoopDmError && err.statusCode
        ? err.statusCode
        : e.validation
          ? 400
          : (e.statusCode ?? 500)
    if (status >= 500) {
      req.log.error({ err: e.message, code: e.code, url: req.url }, 'request failed')
      return reply
        .code(status)
        .send({ error: status === 503 ? 'Service Unavailable' : 'Internal Server Error' })
    }
    return reply.code(status).send({ error: e.message })
  })
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'Not Found' }))

  app.register(healthRoutes, { deps })
  app.register(webhookRoutes, { deps })
  app.register(adminPlugin, { deps, prefix: '/admin' })
  app.register(consolePlugin, { ...consoleOptionsFrom(deps), prefix: '/console' })
  return app
}
