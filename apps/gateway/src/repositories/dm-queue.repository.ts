import {
  DM_JOB,
  DM_JOB_OPTIONS,
  type DmChangePayload,
  type DmEchoPayload,
  type DmMessagePayload,
  DmMessagePayloadSchema,
  type DmReactionPayload,
  dmChangeJobId,
  dmEchoJobId,
  dmJobId,
  dmReactionJobId,
} from '@loopdm/queues/contracts'
import type { JobsOptions, Queue } from 'bullmq'
import type { DmOrderRepository } from './dm-order.repository.js'

type Batch = {
  messages: DmMessagePayload[]
  reactions: DmReactionPayload[]
  echoes?: DmEchoPayload[]
  changes?: DmChangePayload[]
}
type BulkJob = { name: string; data: unknown; opts: JobsOptions }

/** A job's options: the dm defaults and its id (BullMQ keeps completed ids: re-delivery is a no-op). */
const jobOf = (name: string, data: unknown, jobId: string): BulkJob => ({
  name,
  data,
  opts: { ...DM_JOB_OPTIONS, jobId },
})

/** One delivery's jobs, in the order the route saw them: messages, reactions, echoes, changes. */
function jobsOf(batch: Batch): BulkJob[] {
  const jobs: BulkJob[] = []
  for (const m of batch.messages) jobs.push(jobOf(DM_JOB.message, m, dmJobId(m.mid)))
  for (const r of batch.reactions)
    jobs.push(jobOf(DM_JOB.reaction, r, dmReactionJobId(r.mid, r.action, r.timestamp)))
  for (const e of batch.echoes ?? []) jobs.push(jobOf(DM_JOB.echo, e, dmEchoJobId(e.mid)))
  for (const c of batch.changes ?? [])
    jobs.push(jobOf(DM_JOB.change, c, dmChangeJobId(c.kind, c.mid, c.timestamp)))
  return jobs
}

/** A delivery waiting for its turn's write: its jobs, its messages, and how to answer it. */
type Pending = { jobs: BulkJob[]; messages: DmMessagePayload[]; done: (work: Promise<unknown>) => void }

/** Each user's mids in arrival order, over the deliveries of one turn in the order they came. */
function midsByUser(deliveries: Pending[]): Map<string, string[]> {
  const byUser = new Map<string, string[]>()
  for (const d of deliveries)
    for (const m of d.messages) {
      const mids = byUser.get(m.igUserId)
      if (mids) mids.push(m.mid)
      else byUser.set(m.igUserId, [m.mid])
    }
  return byUser
}

/**
 * The `dm` queue as the gateway uses it. `enqueue` is the webhook's whole hot path after parsing:
 * per-user arrival order, then one job per message with jobId = dmJobId(mid) (a re-delivered mid
 * is a no-op: BullMQ keeps completed ids for 48 h) and one per reaction, echo and change. It
 * resolves only once Redis has every job, so a 200 never loses a message; it rejects fast when
 * Redis is down.
 *
 * Group commit: the deliveries of one event-loop turn are written together. Their arrivals are
 * one command (every user's mids, in arrival order), then each delivery's jobs, on the producer
 * connection, which auto-pipelines: one write, in call order (an explicit `addBulk` pipeline would
 * be written ahead of it), so Redis records the arrivals before any job exists. A delivery resolves
 * once the arrivals and its own jobs are in Redis.
 */
export function createDmQueueRepository(opts: {
  queue: Queue
  order: DmOrderRepository
  timeoutMs?: number
}) {
  const { queue, order } = opts
  const timeoutMs = opts.timeoutMs ?? 3000
  const timedOut = new Error(`enqueue timed out after ${timeoutMs} ms`)
  let turn: Pending[] = []

  /** Writes this turn's deliveries: their arrivals in one command first, then every job. */
  function write(): void {
    const deliveries = turn
    turn = []
    try {
      const arrivals = order.noteArrivals(midsByUser(deliveries))
      for (const d of deliveries) {
        const work: Promise<unknown>[] = [arrivals]
        for (const j of d.jobs) work.push(queue.add(j.name, j.data, j.opts))
        d.done(Promise.all(work))
      }
    } catch (err) {
      // Not expected (both calls are async): answer every delivery of the turn (503) at once.
      for (const d of deliveries) d.done(Promise.reject(err))
    }
  }

  return {
    async enqueue(batch: Batch): Promise<void> {
      const jobs = jobsOf(batch)
      if (jobs.length === 0) return
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          new Promise((resolve) => {
            if (turn.push({ jobs, messages: batch.messages, done: resolve }) === 1) setImmediate(write)
          }),
          new Promise((_, reject) => {
            timer = setTimeout(reject, timeoutMs, timedOut)
          }),
        ])
      } finally {
        clearTimeout(timer)
      }
    },

    /** The payload of a message's job (kept ≥ 48 h) and whether that job failed for good. */
    async loadPayload(mid: string): Promise<{ payload: DmMessagePayload; failed: boolean } | null> {
      const job = await queue.getJob(dmJobId(mid))
      if (!job) return null
      const parsed = DmMessagePayloadSchema.safeParse(job.data)
      if (!parsed.success) return null
      return { payload: parsed.data, failed: (await job.getState()) === 'failed' }
    },
  }
}

export type DmQueueRepository = ReturnType<typeof createDmQueueRepository>
