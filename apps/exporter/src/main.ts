import { startRuntime } from '@loopdm/db/runtime'
import { closer, onShutdown } from '@loopdm/platform/lifecycle'
import { createOpenAISdk } from '@loopdm/platform/openai'
import { createQueue, createWorker } from '@loopdm/queues/bullmq'
import {
  CLEANUP_QUEUE,
  EXPORT_QUEUE,
  TUNE_JOB,
  TUNE_JOB_OPTIONS,
  TUNE_QUEUE,
  tuneAfterExportJobId,
} from '@loopdm/queues/contracts'
import { runModelCleanup } from '@loopdm/tuner/services/model-cleanup.service'
import { processCleanup } from './jobs/cleanup.processor.js'
import { processExport } from './jobs/export.processor.js'
import { createExportService } from './services/export.service.js'
import { upsertExporterSchedules } from './services/schedules.js'

// Composition root: config → logger → db/redis → services → workers and schedules.
const { config, logger, db } = await startRuntime('exporter')
const exportQueue = createQueue(EXPORT_QUEUE, { config, logger })
const cleanupQueue = createQueue(CLEANUP_QUEUE, { config, logger })
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

const exportWorker = createWorker(EXPORT_QUEUE, (job) => processExport(job, { exporter, config }), {
  config,
  logger,
  // An export of millions of rows can run for minutes: keep the lock alive meanwhile.
  workerOptions: { lockDuration: 120_000 },
})
// The cleanup Worker lives here: `retention` is ours, `retire-models` is the tuner's model
// retirement + monthly report, bound to this process's database and provider client.
const sdk = createOpenAISdk({ config, logger })
const cleanupWorker = createWorker(
  CLEANUP_QUEUE,
  (job) =>
    processCleanup(job, {
      db: db.pool,
      config,
      logger,
      retireModels: (o) => runModelCleanup({ db: db.pool, sdk, config, logger, ...o }),
    }),
  { config, logger, workerOptions: { lockDuration: 300_000 } },
)

await upsertExporterSchedules({ exportQueue, cleanupQueue, config })
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
      { name: 'cleanup worker', close: () => cleanupWorker.close() },
      { name: 'queue export', close: () => exportQueue.close() },
      { name: 'queue cleanup', close: () => cleanupQueue.close() },
      { name: 'queue tune', close: () => tuneQueue.close() },
      { name: 'database', close: () => db.close() },
    ],
    logger,
  ),
  { logger, supervisorPid: config.supervisorPid },
)
