import type { Config } from '@loopdm/platform/config'
import {
  EXPORT_JOB,
  EXPORT_JOB_OPTIONS,
  RETENTION_JOB,
  RETENTION_JOB_OPTIONS,
  SCHEDULERS,
} from '@loopdm/queues/contracts'
import type { Queue } from 'bullmq'

/**
 * Upserts the exporter's job schedulers: nightly export (EXPORT_CRON) and the monthly data
 * retention (CLEANUP_CRON; the tuner schedules model retirement on the same cron). A scheduler id
 * is one per name, so every replica running this creates each schedule once; a changed cron
 * replaces it.
 */
export async function upsertExporterSchedules(q: {
  exportQueue: Queue
  retentionQueue: Queue
  config: Config
}) {
  const tz = q.config.schedules.tz
  const repeat = (pattern: string) => (tz ? { pattern, tz } : { pattern })
  await q.exportQueue.upsertJobScheduler(SCHEDULERS.export, repeat(q.config.schedules.exportCron), {
    name: EXPORT_JOB.export,
    data: { trigger: 'cron' },
    opts: EXPORT_JOB_OPTIONS,
  })
  await q.retentionQueue.upsertJobScheduler(SCHEDULERS.retention, repeat(q.config.schedules.cleanupCron), {
    name: RETENTION_JOB.retention,
    data: { trigger: 'cron' },
    opts: RETENTION_JOB_OPTIONS,
  })
}
