import type { Config } from '@loopdm/platform/config'
import { CLEANUP_JOB, CLEANUP_JOB_OPTIONS, EXPORT_JOB_OPTIONS, SCHEDULERS } from '@loopdm/queues/contracts'
import type { Queue } from 'bullmq'

/**
 * Upserts the exporter's job schedulers: nightly export (EXPORT_CRON) and the monthly clean-ups
 * (CLEANUP_CRON: data retention and model retirement). A scheduler id is one per name, so every
 * replica running this creates each schedule once; a changed cron replaces it.
 */
export async function upsertExporterSchedules(q: {
  exportQueue: Queue
  cleanupQueue: Queue
  config: Config
}) {
  const tz = q.config.schedules.tz
  const repeat = (pattern: string) => (tz ? { pattern, tz } : { pattern })
  await q.exportQueue.upsertJobScheduler(SCHEDULERS.export, repeat(q.config.schedules.exportCron), {
    name: 'export',
    data: { trigger: 'cron' },
    opts: EXPORT_JOB_OPTIONS,
  })
  await q.cleanupQueue.upsertJobScheduler(SCHEDULERS.retention, repeat(q.config.schedules.cleanupCron), {
    name: CLEANUP_JOB.retention,
    data: { trigger: 'cron' },
    opts: CLEANUP_JOB_OPTIONS,
  })
  await q.cleanupQueue.upsertJobScheduler(SCHEDULERS.retireModels, repeat(q.config.schedules.cleanupCron), {
    name: CLEANUP_JOB.retireModels,
    data: { trigger: 'cron' },
    opts: CLEANUP_JOB_OPTIONS,
  })
}
