import Fastify, { type FastifyInstance } from 'fastify'
import type { GatewayMetrics } from './metrics.js'

/**
 * The metrics-only listener used when METRICS_PORT is set: `GET /metrics` without a token, on
 * METRICS_HOST (127.0.0.1 by default), so Prometheus scrapes it over a private interface while the
 * public port serves no metrics at all. Never listens itself (main.ts does).
 */
export function buildMetricsApp(metrics: Pick<GatewayMetrics, 'registry'>): FastifyInstance {
  const app = Fastify({ logger: false })
  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics()
    return reply.type(metrics.registry.contentType).send(text)
  })
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'Not Found' }))
  return app
}
