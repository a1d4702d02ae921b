import type { FastifyPluginAsync } from 'fastify'
import { adminAuthHook } from './admin/auth.js'
import type { GatewayRouteOptions } from './route-deps.js'

/**
 * `/healthz` (process up), `/readyz` (db + redis + active model loaded + sending allowed),
 * `/metrics` (Prometheus; admin token, or METRICS_PORT). `sending` is false while the Send API refuses IG_ACCESS_TOKEN (code
 * 190); `sendBlocked` then says why.
 */
export const healthRoutes: FastifyPluginAsync<GatewayRouteOptions> = async (app, { deps }) => {
  app.get(
    '/healthz',
    { schema: { response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } } },
    async () => ({ ok: true }),
  )

  app.get(
    '/readyz',
    {
      schema: {
        response: {
          '2xx': {
            type: 'object',
            properties: {
              ok: { type: 'boolean' },
              checks: { type: 'object', additionalProperties: { type: 'boolean' } },
              activeModel: { type: ['string', 'null'] },
            },
          },
          '5xx': {
            type: 'object',
            properties: {
              ok: { type: 'boolean' },
              checks: { type: 'object', additionalProperties: { type: 'boolean' } },
              sendBlocked: {
                type: ['object', 'null'],
                properties: {
                  reason: { type: 'string' },
                  since: { type: 'string' },
                  fix: { type: 'string' },
                },
              },
            },
          },
        },
      },
    },
    async (_req, reply) => {
      const timeout = <T>(p: Promise<T>) =>
        Promise.race([
          p,
          new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000).unref()),
        ])
      const [db, redis] = await Promise.all([
        timeout(deps.pool.query('select 1')).then(
          () => true,
          () => false,
        ),
        timeout(deps.redis.ping()).then(
          () => true,
          () => false,
        ),
      ])
      const send = await deps.sendGate.status()
      const checks = { db, redis, activeModelLoaded: deps.holder.loaded(), sending: !send.blocked }
      const ok = Object.values(checks).every(Boolean)
      const sendBlocked = send.blocked
        ? {
            reason: `IG_ACCESS_TOKEN refused by the Send API: ${send.reason}`,
            since: send.since,
            fix: 'replace IG_ACCESS_TOKEN (npm run ig:refresh-token) and restart; held replies are then sent',
          }
        : null
      return reply
        .code(ok ? 200 : 503)
        .send({ ok, checks, activeModel: deps.holder.current()?.model ?? null, sendBlocked })
    },
  )

  // /metrics names models and queue depths: on this port only with the admin token; with
  // METRICS_PORT set it is served by the metrics-only listener instead (metrics-app.ts).
  if (deps.config.metrics.port === 0)
    app.get(
      '/metrics',
      {
        onRequest: adminAuthHook(deps.config.gateway.adminToken),
        schema: { response: { 200: { type: 'string' } } },
      },
      async (_req, reply) => {
        const text = await deps.metrics.registry.metrics()
        return reply.type(deps.metrics.registry.contentType).send(text)
      },
    )
}
