import { LoopDmError } from '@loopdm/platform/errors'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import { consoleOptionsFrom } from './console/compose.js'
import { consolePlugin } from './console/plugin.js'
import { RequestLogger } from './request-logger.js'
import { adminPlugin } from './routes/admin/index.js'
import { healthRoutes } from './routes/health.routes.js'
import type { AppDeps } from './routes/route-deps.js'
import { webhookRoutes } from './routes/webhook.routes.js'

/**
 * Builds the gateway's Fastify app: never listens (main.ts does). Every route has a schema; a 5xx
 * answer carries a generic body (details go to the log only).
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger as unknown as FastifyBaseLogger,
    // One line per request at info would dominate the logs and the webhook's cost.
    logController: new LogController({ disableRequestLogging: true }),
    // req.log makes its pino child (reqId bound, redaction applied) only when the request logs.
    childLoggerFactory: (logger, bindings, opts) => new RequestLogger(logger, bindings, opts),
    // The webhook route has its own (WEBHOOK_BODY_LIMIT): Meta batches up to 1000 events.
    bodyLimit: 1024 * 1024,
    // X-Forwarded-For/-Proto only from TRUST_PROXY's proxies: a client cannot pick its own address.
    trustProxy: deps.config.gateway.trustProxy,
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
    const details = err instanceof LoopDmError ? err.details : undefined
    return reply.code(status).send({ error: e.message, ...details })
  })
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'Not Found' }))

  app.register(healthRoutes, { deps })
  app.register(webhookRoutes, { deps })
  app.register(adminPlugin, { deps, prefix: '/admin' })
  app.register(consolePlugin, { ...consoleOptionsFrom(deps), prefix: '/console' })
  return app
}
