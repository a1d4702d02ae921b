import { closer, onShutdown } from '@loopdm/shared/lifecycle'
import { createRedis } from '@loopdm/shared/redis'
import { startRuntime } from '@loopdm/shared/runtime'
import Fastify from 'fastify'

// Composition root: config → logger → db/redis → app → listen.
const { config, logger, db } = await startRuntime('gateway')
const redis = createRedis({ url: config.redis.url, role: 'producer', logger })
const app = Fastify({ loggerInstance: logger })
app.get('/healthz', async () => ({ ok: true }))
app.get('/readyz', async (_req, reply) => {
  try {
    await db.pool.query('select 1')
    await redis.ping()
    return { ok: true }
  } catch (err) {
    return reply.code(503).send({ ok: false, error: (err as Error).message })
  }
})
await app.listen({ port: config.gateway.port, host: config.gateway.host })

onShutdown(
  closer(
    [
      { name: 'http', close: () => app.close() },
      { name: 'redis', close: () => redis.quit() },
      { name: 'database', close: () => db.close() },
    ],
    logger,
  ),
  { logger },
)
