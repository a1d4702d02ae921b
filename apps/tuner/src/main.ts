import { startRuntime } from '@loopdm/db/runtime'
import { closer, onShutdown } from '@loopdm/platform/lifecycle'
import { SCHEDULERS, TUNE_JOB, TUNE_JOB_OPTIONS } from '@loopdm/queues/contracts'
import { createTunerDeps, createTuneWorker, resumePolls } from './jobs/tune.worker.js'

// Composition root: config → logger → db/redis → deps → worker on `tune` (tune + poll) → the
// weekly scheduler → resume every fine-tune the table still owns.
const { config, logger, db } = await startRuntime('tuner')
const deps = createTunerDeps({ config, logger, pool: db.pool })
const worker = createTuneWorker(deps)

await deps.tuneQueue.upsertJobScheduler(
  SCHEDULERS.tune,
  { pattern: config.schedules.tuneCron, ...(config.schedules.tz ? { tz: config.schedules.tz } : {}) },
  { name: TUNE_JOB.tune, data: { trigger: 'cron', dryRun: false }, opts: TUNE_JOB_OPTIONS },
)
await resumePolls(deps)
await worker.waitUntilReady()
logger.info(
  { queue: worker.name, tuneCron: config.schedules.tuneCron, pollIntervalMs: config.finetune.pollIntervalMs },
  'tuner ready',
)

onShutdown(
  closer(
    [
      { name: 'worker', close: () => worker.close() },
      { name: 'queues', close: () => deps.close() },
      { name: 'database', close: () => db.close() },
    ],
    logger,
  ),
  { logger, supervisorPid: config.supervisorPid },
)
