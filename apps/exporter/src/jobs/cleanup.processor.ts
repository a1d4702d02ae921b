import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import { CLEANUP_JOB, CleanupPayloadSchema } from '@loopdm/queues/contracts'
import { type Job, UnrecoverableError } from 'bullmq'
import { type RetentionResult, runRetention } from '../services/retention.service.js'

export interface CleanupDeps {
  db: Pool
  config: Config
  logger: Logger
  exportDir?: string
  /**
   * Model retirement (the tuner's `retireModels`), injected by the composition root. Unset → the
   * job logs that retirement is not available here and succeeds without doing anything.
   */
  retireModels?: (o: { dryRun: boolean; now: Date }) => Promise<unknown>
}

/**
 * The `cleanup` queue's one Worker lives in the exporter and dispatches by job name:
 * `retention` → data retention; `retire-models` → the tuner's model retirement.
 */
export async function processCleanup(
  job: Pick<Job, 'name' | 'data' | 'id'>,
  deps: CleanupDeps,
): Promise<RetentionResult | { skipped: string } | unknown> {
  const parsed = CleanupPayloadSchema.safeParse(job.data ?? {})
  if (!parsed.success) throw new UnrecoverableError(`invalid cleanup payload: ${parsed.error.message}`)
  const { dryRun } = parsed.data
  const now = new Date()
  switch (job.name) {
    case CLEANUP_JOB.retention:
      return runRetention({
        db: deps.db,
        config: deps.config,
        logger: deps.logger,
        dryRun,
        now,
        exportDir: deps.exportDir,
      })
    case CLEANUP_JOB.retireModels:
      if (!deps.retireModels) {
        deps.logger.warn(
          { jobId: job.id },
          'model retirement not available yet (tuner module not wired); skipped',
        )
        return { skipped: 'model retirement not available yet' }
      }
      return deps.retireModels({ dryRun, now })
    default:
      throw new UnrecoverableError(
        `unknown cleanup job "${job.name}" (expected ${Object.values(CLEANUP_JOB).join(' or ')})`,
      )
  }
}
