import { closer, onShutdown } from '@loopdm/shared/lifecycle'
import { createOpenAISdk } from '@loopdm/shared/openai'
import { seedRegistry } from '@loopdm/shared/promotion'
import { createRedis } from '@loopdm/shared/redis'
import { startRuntime } from '@loopdm/shared/runtime'
import { createGateway } from './compose.js'

// Composition root: config → logger → db (migrated) → redis → repositories → services (compose.ts)
// → hot-swap subscriber + reply worker → listen. SIGTERM/SIGINT: stop intake, finish in-flight
// replies, close Redis and the pool.
const { config, logger, db } = await startRuntime('gateway')
// LOOP_DM_FT_MODEL seeds the registry once (no-op when unset or a model is already active).
{
  const redis = createRedis({ url: config.redis.url, role: 'producer', logger })
  await seedRegistry({ db: db.pool, redis, sdk: createOpenAISdk({ config, logger }), config, logger })
  redis.disconnect()
}
const gateway = createGateway({ config, logger, pool: db.pool })
await gateway.start()
await gateway.app.listen({ port: config.gateway.port, host: config.gateway.host })
logger.info(
  {
    port: config.gateway.port,
    activeModel: gateway.holder.current()?.model ?? null,
    base: config.models.base,
  },
  'gateway listening',
)

onShutdown(
  closer(
    [
      { name: 'gateway', close: () => gateway.close() },
      { name: 'database', close: () => db.close() },
    ],
    logger,
  ),
  { logger },
)
