import type { Logger } from '@loopdm/platform/logger'
import { summarise } from './memory.packing.js'

/**
 * The in-process embedding batcher: stored turns are queued (`add`, never blocks the reply path),
 * and embedded in batches — up to `batchSize` per provider call, flushed every `flushMs` or as
 * soon as a batch is full. A failed batch goes back to the front of the queue and is retried with
 * exponential backoff; after `maxAttempts` it is dropped from memory — the rows keep
 * `embedding is null`, so the periodic back-fill sweep embeds them once the provider is back.
 */

export interface PendingTurn {
  id: number
  igUserId: string
  content: string
}

export interface EmbeddingBatcherOptions {
  /** Embeds texts, one vector per text, in order. */
  embed(texts: string[], turns: PendingTurn[]): Promise<number[][]>
  /** Stores vectors (and summaries); returns rows updated. */
  write(rows: Array<{ id: number; embedding: number[]; summary: string | null }>): Promise<number>
  /** Stores summaries alone when embedding failed. */
  writeSummaries(rows: Array<{ id: number; summary: string }>): Promise<void>
  logger?: Logger | undefined
  /** Max turns per provider call. Default 64. */
  batchSize?: number
  /** Delay before a partial batch is flushed. Default 200 ms. */
  flushMs?: number
  /** Attempts per turn before it is left to the back-fill sweep. Default 6. */
  maxAttempts?: number
  /** First retry delay, doubled per failure, capped at backoffMaxMs. Defaults 500 ms / 30 s. */
  backoffBaseMs?: number
  backoffMaxMs?: number
  /** Queue bound; beyond it new turns are left to the back-fill sweep. Default 10,000. */
  maxPending?: number
}

/** Embedding input: bounded (the model's limit is 8191 tokens; a token is ≥ 1 char). */
export const embeddingInput = (content: string) => content.slice(0, 8000)

export function createEmbeddingBatcher(opts: EmbeddingBatcherOptions) {
  const batchSize = opts.batchSize ?? 64
  const flushMs = opts.flushMs ?? 200
  const maxAttempts = opts.maxAttempts ?? 6
  const backoffBaseMs = opts.backoffBaseMs ?? 500
  const backoffMaxMs = opts.backoffMaxMs ?? 30_000
  const maxPending = opts.maxPending ?? 10_000
  const pending = new Map<number, PendingTurn & { attempts: number }>()
  let timer: NodeJS.Timeout | undefined
  let flushing: Promise<void> | undefined
  let failures = 0
  let closed = false

  const schedule = (ms: number) => {
    if (closed || timer || pending.size === 0) return
    timer = setTimeout(() => {
      timer = undefined
      void flush()
    }, ms)
    timer.unref?.()
  }

  async function flushOnce(): Promise<void> {
    const batch = [...pending.values()].slice(0, batchSize)
    if (batch.length === 0) return
    const summaries = batch.map((t) => summarise(t.content))
    try {
      const vectors = await opts.embed(
        batch.map((t) => embeddingInput(t.content)),
        batch,
      )
      await opts.write(
        batch.map((t, i) => ({ id: t.id, embedding: vectors[i] as number[], summary: summaries[i] ?? null })),
      )
      for (const t of batch) pending.delete(t.id)
      failures = 0
    } catch (err) {
      failures++
      for (const t of batch) {
        t.attempts++
        if (t.attempts >= maxAttempts) pending.delete(t.id)
      }
      const long = batch.flatMap((t, i) => (summaries[i] ? [{ id: t.id, summary: summaries[i] }] : []))
      await opts.writeSummaries(long).catch(() => {})
      opts.logger?.warn(
        { err: (err as Error).message, batch: batch.length, pending: pending.size, failures },
        'memory: embedding batch failed; will retry (rows stay back-fillable)',
      )
      throw err
    }
  }

  async function run(): Promise<void> {
    await Promise.resolve()
    try {
      while (pending.size > 0 && !closed) await flushOnce()
    } catch {
      // Backoff: the next attempt is a timer, so add() during the wait does not hammer the provider.
      schedule(Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.max(0, failures - 1)))
    }
  }

  function flush(): Promise<void> {
    if (flushing) return flushing
    const p = run()
    flushing = p
    void p.finally(() => {
      if (flushing === p) flushing = undefined
    })
    return p
  }

  return {
    /** Queues a stored turn for embedding. Never throws, never waits. */
    add(turn: PendingTurn): void {
      if (closed || turn.content.trim() === '' || pending.has(turn.id)) return
      if (pending.size >= maxPending) return // the back-fill sweep will find it
      pending.set(turn.id, { ...turn, attempts: 0 })
      if (pending.size >= batchSize && !flushing) {
        if (timer) clearTimeout(timer)
        timer = undefined
        void flush()
      } else schedule(flushMs)
    },
    /** Ids queued right now (the back-fill sweep skips them). */
    has(id: number): boolean {
      return pending.has(id)
    },
    get size(): number {
      return pending.size
    },
    /** Drops a user's queued turns (GDPR erase). */
    forget(igUserId: string): number {
      let n = 0
      for (const [id, t] of pending) if (t.igUserId === igUserId && pending.delete(id)) n++
      return n
    },
    /** Flushes what is queued now; resolves when the queue is empty or a batch failed. */
    async drain(): Promise<void> {
      if (timer) clearTimeout(timer)
      timer = undefined
      await (flushing ?? flush())
    },
    /** Stops timers and waits for an in-flight batch; queued turns are left to the sweep. */
    async close(): Promise<void> {
      closed = true
      if (timer) clearTimeout(timer)
      timer = undefined
      await flushing?.catch(() => {})
    },
  }
}

export type EmbeddingBatcher = ReturnType<typeof createEmbeddingBatcher>
