import { createQueue } from '@loopdm/shared/bullmq'
import { closer, onShutdown } from '@loopdm/shared/lifecycle'
import { EVALUATE_QUEUE } from '@loopdm/shared/queues'
import { startRuntime } from '@loopdm/shared/runtime'

// Composition root. The evaluator's processors are bound here as they land.
const { config, logger, db } = await startRuntime('evaluator')
const queues = [EVALUATE_QUEUE].map((name) => createQueue(name, { config, logger }))
await Promise.all(queues.map((q) => q.waitUntilReady()))
logger.info({ queues: queues.map((q) => q.name) }, 'evaluator ready')

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
