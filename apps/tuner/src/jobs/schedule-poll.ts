import { TUNE_JOB, type TunePollPayload, tunePollJobId } from '@loopdm/queues/contracts'
import type { JobsOptions, Queue } from 'bullmq'
import type { FinetuneJobRow } from '../repositories/finetune-jobs.repository.js'

/**
 * Poll jobs re-delay themselves (one BullMQ job per fine-tune, see tune.worker.ts), so attempts
 * only count unexpected errors (database down): provider errors are absorbed by re-delaying.
 */
export const POLL_JOB_OPTIONS: JobsOptions = {
  attempts: 20,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 90 * 24 * 3600 },
  removeOnFail: { age: 90 * 24 * 3600 },
}

/**
 * Makes sure exactly one poll job exists for a non-terminal fine-tune. A live one (waiting,
 * delayed, active) is left alone; a finished one (its worker gave up, or Redis lost it) is
 * replaced. Returns whether a job was added.
 */
export async function ensurePoll(queue: Queue, row: FinetuneJobRow, delayMs: number): Promise<boolean> {
  if (!row.providerJobId) return false
  const jobId = tunePollJobId(row.fileSha256)
  const existing = await queue.getJob(jobId)
  if (existing) {
    const state = await existing.getState()
    if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return false
    await existing.remove().catch(() => {})
  }
  const payload: TunePollPayload = { finetuneJobId: row.providerJobId }
  await queue.add(TUNE_JOB.poll, payload, { ...POLL_JOB_OPTIONS, jobId, delay: Math.max(0, delayMs) })
  return true
}
