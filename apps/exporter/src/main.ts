import { createQueue } from '@loopdm/shared/bullmq'
import { closer, onShutdown } from '@loopdm/shared/lifecycle'
import { CLEANUP_QUEUE, EXPORT_QUEUE } from '@loopdm/shared/queues'
import { startRuntime } from '@loopdm/shared/runtime'

// Composition root. The exporter's processors are bound here as they land.
const { config, logger, db } = await startRuntime('exporter')
const queues = [EXPORT_QUEUE, CLEANUP_QUEUE].map((name) => createQueue(name, { config, logger }))
await Promise.all(queues.map((q) => q.waitUntilReady()))
logger.info({ queues: queues.map((q) => q.name) }, 'exporter ready')

onShutdown(
  closer(
    [
      ...queues.map((q) => ({ name: `queue ${q.name}`, close: () => q.close() })),
      { name: 'database', close: () => db.close() },
    ],
    logger,
  ),
  { logger },
)
