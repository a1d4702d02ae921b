import { startRuntime } from '@loopdm/db/runtime'
import { closer, onShutdown } from '@loopdm/platform/lifecycle'
import { checkConfiguredModels } from '@loopdm/platform/model-check'
import { createGateway } from './compose.js'
import { buildMetricsApp } from './metrics-app.js'

// Process concerns only: runtime (config → logger → db, migrated) → the gateway as compose.ts wires
// it (one AI client, named Redis connections, memory, GDPR, promotion, reply worker, hot swap) →
// listen. SIGTERM/SIGINT: stop intake, finish in-flight replies, close Redis and the pool.
const { config, logger, db } = await startRuntime('gateway')
const gateway = createGateway({
  config,
  logger,
  pool: db.pool,
  // Embeddings off the reply path (batched, back-filled), recall into the prompt.
  memoryService: true,
  // LOOP_DM_FT_MODEL seeds the registry once (no-op when unset or a model is already active).
  seedRegistry: true,
})
// Each configured model against the provider's models.list: a missing one is a warning naming its variable.
await checkConfiguredModels({ sdk: gateway.ai.sdk, config, logger })
await gateway.start()
await gateway.app.listen({ port: config.gateway.port, host: config.gateway.host })
// METRICS_PORT set: /metrics only there (METRICS_HOST, 127.0.0.1 by default), not on PORT.
const metricsApp = config.metrics.port ? buildMetricsApp(gateway.metrics) : undefined
await metricsApp?.listen({ port: config.metrics.port, host: config.metrics.host })
logger.info(
  {
    port: config.gateway.port,
    metrics: metricsApp ? `${config.metrics.host}:${config.metrics.port}` : 'PORT (admin token)',
    activeModel: gateway.holder.current()?.model ?? null,
    base: config.models.base,
    memory: config.memory.enabled,
  },
  'gateway listening',
)

onShutdown(
  closer(
    [
      { name: 'metrics', close: async () => metricsApp?.close() },
      { name: 'gateway', close: () => gateway.close() },
      { name: 'database', close: () => db.close() },
    ],
    logger,
  ),
  { logger, supervisorPid: config.supervisorPid },
)
