import { startRuntime } from '@loopdm/db/runtime'
import { closer, onShutdown } from '@loopdm/platform/lifecycle'
import { createQueue, createWorker } from '@loopdm/queues/bullmq'
import {
  EXPORT_QUEUE,
  RETENTION_QUEUE,
  TUNE_JOB,
  TUNE_JOB_OPTIONS,
  TUNE_QUEUE,
  tuneAfterExportJobId,
} from '@loopdm/queues/contracts'
import { processExport } from './jobs/export.processor.js'
import { processRetention } from './jobs/retention.processor.js'
import { createExportService } from './services/export.service.js'
import { upsertExporterSchedules } from './services/schedules.js'

// Composition root: config → logger → db/redis → services → workers and schedules.
const { config, logger, db } = await startRuntime('exporter')
const exportQueue = createQueue(EXPORT_QUEUE, { config, logger })
const retentionQueue = createQueue(RETENTION_QUEUE, { config, logger })
const tuneQueue = createQueue(TUNE_QUEUE, { config, logger })

const exporter = createExportService({
  db: db.pool,
  config,
  logger,
  enqueueTune: async (date) => {
    await tuneQueue.add(
      TUNE_JOB.tune,
      { trigger: 'export' },
      { ...TUNE_JOB_OPTIONS, jobId: tuneAfterExportJobId(date) },
    )
    logger.info({ date }, 'tune enqueued after export')
    return true
  },
})

const exportWorker = createWorker(EXPORT_QUEUE, (job) => processExport(job, { exporter, config, logger }), {
  config,
  logger,
  // An export of millions of rows can run for minutes: keep the lock alive meanwhile.
  workerOptions: { lockDuration: 120_000 },
})
// The `retention` queue is the exporter's alone (the tuner owns `retirement`).
const retentionWorker = createWorker(
  RETENTION_QUEUE,
  (job) => processRetention(job, { db: db.pool, config, logger }),
  { config, logger, workerOptions: { lockDuration: 300_000 } },
)

await upsertExporterSchedules({ exportQueue, retentionQueue, config })
logger.info(
  {
    exportCron: config.schedules.exportCron,
    cleanupCron: config.schedules.cleanupCron,
    exportDir: exporter.exportDir,
  },
  'exporter ready',
)

onShutdown(
  closer(
    [
      { name: 'export worker', close: () => exportWorker.close() },
      { name: 'retention worker', close: () => retentionWorker.close() },
      { name: 'queue export', close: () => exportQueue.close() },
      { name: 'queue retention', close: () => retentionQueue.close() },
      { name: 'queue tune', close: () => tuneQueue.close() },
      { name: 'database', close: () => db.close() },
    ],
    logger,
  ),
  { logger, supervisorPid: config.supervisorPid },
)
