import { startRuntime } from '@loopdm/db/runtime'
import { closer, onShutdown } from '@loopdm/platform/lifecycle'
import { checkConfiguredModels } from '@loopdm/platform/model-check'
import { createQueue } from '@loopdm/queues/bullmq'
import { RETIREMENT_QUEUE, SCHEDULERS, TUNE_JOB, TUNE_JOB_OPTIONS } from '@loopdm/queues/contracts'
import { createRetirementWorker, upsertRetirementSchedule } from './jobs/retirement.processor.js'
import { createTunerDeps, createTuneWorker, resumePolls } from './jobs/tune.worker.js'

// Composition root: config → logger → db/redis → deps → workers on `tune` (tune + poll) and
// `retirement` (model retirement + monthly report) → their schedulers → resume every fine-tune
// the table still owns.
const { config, logger, db } = await startRuntime('tuner')
const deps = createTunerDeps({ config, logger, pool: db.pool })
// LEARNING_BACKEND=fine-tune with an FT_BASE_MODEL the provider does not offer: refuse to start.
await checkConfiguredModels({ sdk: deps.sdk, config, logger, requireFineTuneBase: true }).catch(
  (err: Error) => {
    logger.fatal({ err: err.message }, 'tuner could not start')
    process.stderr.write(`tuner: ${err.message}\n`)
    process.exit(1)
  },
)
const worker = createTuneWorker(deps)
const retirementQueue = createQueue(RETIREMENT_QUEUE, { config, logger })
const retirementWorker = createRetirementWorker({
  db: db.pool,
  sdk: deps.sdk,
  provider: deps.provider,
  config,
  logger,
})

await deps.tuneQueue.upsertJobScheduler(
  SCHEDULERS.tune,
  { pattern: config.schedules.tuneCron, ...(config.schedules.tz ? { tz: config.schedules.tz } : {}) },
  { name: TUNE_JOB.tune, data: { trigger: 'cron', dryRun: false }, opts: TUNE_JOB_OPTIONS },
)
await upsertRetirementSchedule({ retirementQueue, config })
await resumePolls(deps)
await worker.waitUntilReady()
logger.info(
  {
    queue: worker.name,
    tuneCron: config.schedules.tuneCron,
    cleanupCron: config.schedules.cleanupCron,
    pollIntervalMs: config.finetune.pollIntervalMs,
  },
  'tuner ready',
)

onShutdown(
  closer(
    [
      { name: 'worker', close: () => worker.close() },
      { name: 'retirement worker', close: () => retirementWorker.close() },
      { name: 'queue retirement', close: () => retirementQueue.close() },
      { name: 'queues', close: () => deps.close() },
      { name: 'database', close: () => db.close() },
    ],
    logger,
  ),
  { logger, supervisorPid: config.supervisorPid },
)
