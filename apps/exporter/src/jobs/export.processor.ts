import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import { type ExportPayload, ExportPayloadSchema } from '@loopdm/queues/contracts'
import { type Job, UnrecoverableError } from 'bullmq'
import { ExportTooLargeError } from '../errors.js'
import { type ExportResult, type ExportService, exportDate } from '../services/export.service.js'

/**
 * The `export` job: parse the payload, run the export. A cron job without a date exports under the
 * date it was scheduled for (its creation time plus its delay), so a retry after midnight keeps
 * its name. A bad payload or an oversized
 * file is permanent (UnrecoverableError); anything else retries, and the retry finishes a run that
 * got as far as `written`. A committed nightly run is followed by the nightly VACUUM
 * (`exporter.maintain`); its failure is a warning and never fails the export, whose files and
 * watermark are already committed.
 */
export async function processExport(
  job: Pick<Job, 'data' | 'timestamp' | 'id'> & { opts?: { delay?: number } },
  deps: { exporter: ExportService; config: Config; logger?: Logger },
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
  let result: ExportResult
  try {
    result = await deps.exporter.run(payload)
  } catch (err) {
    if (err instanceof ExportTooLargeError) throw new UnrecoverableError(err.message)
    throw err
  }
  return maintainAfter(result, deps)
}

/** After a committed nightly run: the nightly VACUUM (export.service.ts `maintain`); never throws. */
export async function maintainAfter(
  result: ExportResult,
  deps: { exporter: Pick<ExportService, 'maintain'>; logger?: Logger | undefined },
): Promise<ExportResult> {
  if (result.status !== 'committed' || result.kind !== 'nightly') return result
  try {
    result.vacuumMs = (await deps.exporter.maintain()).vacuumMs
  } catch (err) {
    deps.logger?.warn(
      { err: (err as Error).message },
      'export: the nightly VACUUM failed (the export is committed)',
    )
  }
  return result
}
