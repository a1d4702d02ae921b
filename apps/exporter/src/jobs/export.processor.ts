import type { Config } from '@loopdm/platform/config'
import { type ExportPayload, ExportPayloadSchema } from '@loopdm/queues/contracts'
import { type Job, UnrecoverableError } from 'bullmq'
import { ExportTooLargeError } from '../errors.js'
import { type ExportResult, type ExportService, exportDate } from '../services/export.service.js'

/**
 * The `export` job: parse the payload, run the export. A cron job without a date exports under the
 * date it was scheduled for (its creation time plus its delay), so a retry after midnight keeps
 * its name. A bad payload or an oversized
 * file is permanent (UnrecoverableError); anything else retries, and the retry finishes a run that
 * got as far as `written`.
 */
export async function processExport(
  job: Pick<Job, 'data' | 'timestamp' | 'id'> & { opts?: { delay?: number } },
  deps: { exporter: ExportService; config: Config },
): Promise<ExportResult> {
  const parsed = ExportPayloadSchema.safeParse(job.data)
  if (!parsed.success) throw new UnrecoverableError(`invalid export payload: ${parsed.error.message}`)
  const payload: ExportPayload = {
    ...parsed.data,
    // A scheduler's job is created a period ahead and delayed until its slot: timestamp + delay.
    date:
      parsed.data.date ??
      exportDate(new Date(job.timestamp + (job.opts?.delay ?? 0)), deps.config.schedules.tz),
  }
  try {
    return await deps.exporter.run(payload)
  } catch (err) {
    if (err instanceof ExportTooLargeError) throw new UnrecoverableError(err.message)
    throw err
  }
}
