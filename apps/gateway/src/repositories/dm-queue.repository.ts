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
import type { Queue } from 'bullmq'
import type { DmOrderRepository } from './dm-order.repository.js'

/**
 * The `dm` queue as the gateway uses it. `enqueue` is the webhook's whole hot path after parsing:
 * per-user arrival order, then one job per message with jobId = dmJobId(mid) (a re-delivered mid
 * is a no-op: BullMQ keeps completed ids for 48 h) and one per reaction. It resolves only once
 * Redis has every job, so a 200 never loses a message; it rejects fast when Redis is down.
 */
export function createDmQueueRepository(opts: {
  queue: Queue
  order: DmOrderRepository
  timeoutMs?: number
}) {
  const { queue, order } = opts
  const timeoutMs = opts.timeoutMs ?? 3000

  return {
    async enqueue(batch: {
      messages: DmMessagePayload[]
      reactions: DmReactionPayload[]
      echoes?: DmEchoPayload[]
      changes?: DmChangePayload[]
    }): Promise<void> {
      const echoes = batch.echoes ?? []
      const changes = batch.changes ?? []
      if (batch.messages.length + batch.reactions.length + echoes.length + changes.length === 0) return
      const byUser = new Map<string, string[]>()
      for (const m of batch.messages) byUser.set(m.igUserId, [...(byUser.get(m.igUserId) ?? []), m.mid])
      // Arrivals are sent first on the same connection, so Redis records them before any job exists.
      const work: Promise<unknown>[] = [...byUser].map(([user, mids]) => order.noteArrival(user, mids))
      for (const m of batch.messages)
        work.push(queue.add(DM_JOB.message, m, { ...DM_JOB_OPTIONS, jobId: dmJobId(m.mid) }))
      for (const r of batch.reactions)
        work.push(
          queue.add(DM_JOB.reaction, r, {
            ...DM_JOB_OPTIONS,
            jobId: dmReactionJobId(r.mid, r.action, r.timestamp),
          }),
        )
      for (const e of echoes)
        work.push(queue.add(DM_JOB.echo, e, { ...DM_JOB_OPTIONS, jobId: dmEchoJobId(e.mid) }))
      for (const c of changes)
        work.push(
          queue.add(DM_JOB.change, c, {
            ...DM_JOB_OPTIONS,
            jobId: dmChangeJobId(c.kind, c.mid, c.timestamp),
          }),
        )
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          Promise.all(work),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`enqueue timed out after ${timeoutMs} ms`)), timeoutMs)
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
