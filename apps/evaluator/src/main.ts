import { startRuntime } from '@loopdm/db/runtime'
import { seedRegistry } from '@loopdm/models/promotion'
import { createRegistryRepository } from '@loopdm/models/registry'
import { closer, onShutdown } from '@loopdm/platform/lifecycle'
import { checkConfiguredModels } from '@loopdm/platform/model-check'
import { createAiClient } from '@loopdm/platform/openai'
import { createWorker } from '@loopdm/queues/bullmq'
import { EVALUATE_QUEUE } from '@loopdm/queues/contracts'
import { createRedis } from '@loopdm/redis/client'
import { processEvaluate } from './jobs/evaluate.processor.js'
import { createEvaluationService } from './services/evaluation.service.js'

// Composition root: config → logger → db/redis → repositories → services → worker.
const { config, logger, db } = await startRuntime('evaluator')
const redis = createRedis({ url: config.redis.url, role: 'producer', logger, connectionName: 'evaluator' })
const ai = createAiClient({ config, logger })
const registry = createRegistryRepository(db.pool)
const evaluation = createEvaluationService({ db: db.pool, redis, ai, config, logger, registry })

await checkConfiguredModels({ sdk: ai.sdk, config, logger })
await seedRegistry({ db: db.pool, redis, sdk: ai.sdk, config, logger, registry })

const worker = createWorker(
  EVALUATE_QUEUE,
  (job) => processEvaluate(job.data, { evaluation, registry, logger }),
  {
    config,
    logger,
    // An evaluation makes a few hundred provider calls: give it time before it counts as stalled.
    workerOptions: { lockDuration: 120_000 },
  },
)
worker.on('completed', (job, result) =>
  logger.info({ jobId: job.id, ...(result as object) }, 'evaluate job completed'),
)
logger.info({ queue: EVALUATE_QUEUE }, 'evaluator ready')

onShutdown(
  closer(
    [
      { name: 'worker', close: () => worker.close() },
      { name: 'redis', close: () => redis.quit() },
      { name: 'database', close: () => db.close() },
    ],
    logger,
  ),
  { logger, supervisorPid: config.supervisorPid },
)
