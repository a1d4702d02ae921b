import type { Logger } from '@loopdm/platform/logger'
import type { AiClient } from '@loopdm/platform/openai'
import { DM_JOB } from '@loopdm/queues/contracts'
import type { Queue } from 'bullmq'

/**
 * The redrive sweep: while the provider (or Graph API) is down, `dm` jobs wait in `delayed` with
 * growing gaps (up to DM_RETRY_MAX_DELAY_MS). Every `intervalMs` the sweep looks for delayed
 * message jobs and, once `probe` answers (the provider is healthy again), promotes them, so the
 * backlog is answered within one interval of the recovery rather than one max delay. Failed jobs
 * are permanent failures and stay failed.
 */
export interface DmRedriveOptions {
  queue: Queue
  /** Resolves true when the provider answers (a cheap call); a throw counts as unhealthy. */
  probe: () => Promise<boolean>
  /** Sweep period; 0 disables the timer (tests call `sweep`). */
  intervalMs: number
  logger: Logger
  onRedriven?: (n: number) => void
}

const PAGE = 200

export function createDmRedrive(opts: DmRedriveOptions) {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<number> | undefined

  async function sweepOnce(): Promise<number> {
    if ((await opts.queue.getJobCountByTypes('delayed')) === 0) return 0
    const healthy = await opts.probe().catch(() => false)
    if (!healthy) return 0
    let promoted = 0
    const total = await opts.queue.getJobCountByTypes('delayed')
    for (let start = 0; start < total; start += PAGE) {
      for (const job of await opts.queue.getJobs(['delayed'], start, start + PAGE - 1, true)) {
        if (!job || job.name !== DM_JOB.message) continue
        // Promoted meanwhile or taken by a worker: nothing to do.
        if (
          await job.promote().then(
            () => true,
            () => false,
          )
        )
          promoted++
      }
    }
    if (promoted > 0) {
      opts.onRedriven?.(promoted)
      opts.logger.info({ promoted }, 'provider healthy again: delayed dm jobs redriven')
    }
    return promoted
  }

  return {
    /** One sweep (never two at once); returns how many jobs were promoted. */
    sweep(): Promise<number> {
      running ??= sweepOnce().finally(() => {
        running = undefined
      })
      return running
    },
    start() {
      if (opts.intervalMs <= 0 || timer) return
      timer = setInterval(() => {
        this.sweep().catch((err) =>
          opts.logger.warn({ err: (err as Error).message }, 'dm redrive sweep failed'),
        )
      }, opts.intervalMs)
      timer.unref()
    },
    async stop() {
      clearInterval(timer)
      timer = undefined
      await running?.catch(() => {})
    },
  }
}

export type DmRedrive = ReturnType<typeof createDmRedrive>

/** The provider answers a cheap call (models.list, 5 s, no retries). */
export const providerProbe = (ai: Pick<AiClient, 'sdk'>) => async () => {
  await ai.sdk.models.list({ timeout: 5000, maxRetries: 0 })
  return true
}
