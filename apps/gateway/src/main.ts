import { closer, onShutdown } from '@loopdm/shared/lifecycle'
import { startRuntime } from '@loopdm/shared/runtime'
import { createGateway } from './compose.js'

// Composition root: config → logger → db (migrated) → redis → repositories → services (compose.ts)
// → hot-swap subscriber + reply worker → listen. SIGTERM/SIGINT: stop intake, finish in-flight
// replies, close Redis and the pool.
const { config, logger, db } = await startRuntime('gateway')
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
