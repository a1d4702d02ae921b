import { startRuntime } from '@loopdm/db/runtime'
import { createCostLedger } from '@loopdm/models/cost-ledger'
import { seedRegistry } from '@loopdm/models/promotion'
import { closer, onShutdown } from '@loopdm/platform/lifecycle'
import { createAiClient, createOpenAISdk } from '@loopdm/platform/openai'
import { createRedis } from '@loopdm/redis/client'
import { tryWithRedisLock } from '@loopdm/redis/lock'
import { createGateway } from './compose.js'
import { createUsersRoutes } from './routes/admin/users.routes.js'
import { createMemory } from './services/memory.service.js'

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
// Memory: embeddings off the reply path (batched, back-filled), recall into the prompt.
// Embedding calls are billed too: the memory's client writes to the cost ledger like the replies'.
const usage = createCostLedger({ db: db.pool, prices: config.openai.prices, logger })
// One gateway at a time runs the back-fill sweep (a Redis lease), so replicas don't pay twice.
const memoryRedis = createRedis({ url: config.redis.url, role: 'producer', logger, connectionName: 'memory' })
const memory = createMemory({
  db: db.pool,
  ai: createAiClient({ config, logger, usage }),
  config,
  logger,
  sweepLock: (sweep) =>
    tryWithRedisLock(memoryRedis, `${config.redis.prefix}:memory-backfill`, sweep, { ttlMs: 60_000 }),
})
const gateway = createGateway({
  config,
  logger,
  pool: db.pool,
  usage,
  memory,
  // DELETE /admin/users/:igUserId (GDPR erase).
  adminRoutes: [createUsersRoutes({ memory })],
})
await gateway.start()
memory.start()
await gateway.app.listen({ port: config.gateway.port, host: config.gateway.host })
logger.info(
  {
    port: config.gateway.port,
    activeModel: gateway.holder.current()?.model ?? null,
    base: config.models.base,
    memory: config.memory.enabled,
  },
  'gateway listening',
)

onShutdown(
  closer(
    [
      { name: 'gateway', close: () => gateway.close() },
      { name: 'memory', close: () => memory.close() },
      { name: 'memory redis', close: () => memoryRedis.quit() },
      { name: 'database', close: () => db.close() },
    ],
    logger,
  ),
  { logger, supervisorPid: config.supervisorPid },
)
