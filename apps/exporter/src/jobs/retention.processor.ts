import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import { RETENTION_JOB, RetentionPayloadSchema } from '@loopdm/queues/contracts'
import { type Job, UnrecoverableError } from 'bullmq'
import { type RetentionResult, runRetention } from '../services/retention.service.js'

export interface RetentionDeps {
  db: Pool
  config: Config
  logger: Logger
  exportDir?: string
}

/** The `retention` queue's processor (its Worker lives in the exporter): data retention. */
export async function processRetention(
  job: Pick<Job, 'name' | 'data' | 'id'>,
  deps: RetentionDeps,
): Promise<RetentionResult> {
  if (job.name !== RETENTION_JOB.retention)
    throw new UnrecoverableError(`unknown retention job "${job.name}" (expected ${RETENTION_JOB.retention})`)
  const parsed = RetentionPayloadSchema.safeParse(job.data ?? {})
  if (!parsed.success) throw new UnrecoverableError(`invalid retention payload: ${parsed.error.message}`)
  return runRetention({
    db: deps.db,
    config: deps.config,
    logger: deps.logger,
    dryRun: parsed.data.dryRun,
    now: new Date(),
    exportDir: deps.exportDir,
  })
}
