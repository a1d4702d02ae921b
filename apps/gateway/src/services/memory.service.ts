import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import type { AiClient } from '@loopdm/platform/openai'
import { createMemoryRepository, type MemoryRepository } from '../repositories/memory.repository.js'
import { createEmbeddingBatcher, type EmbeddingBatcher, embeddingInput } from './memory.batcher.js'
import { createCodeCache } from './memory.codes.js'
import { summarise } from './memory.packing.js'
import type { MemoryPort } from './memory.port.js'
import {
  createRecall,
  createVectorCache,
  DEFAULT_RECALL_STRATEGY,
  type RecallStrategy,
  type VectorCache,
} from './memory.recall.js'

/**
 * Memory: every stored turn is embedded off the reply path (batched, retried, back-filled), and
 * `recall` puts the user's relevant past turns plus the live conversation into the prompt within
 * MEMORY_MAX_TOKENS. Failures never fail a DM: recall degrades to the recent turns (or nothing).
 * The prompt layout is documented in README ("Memory").
 */

export interface MemoryOptions {
  db: Pool
  ai: Pick<AiClient, 'embed'>
  config: Config
  logger?: Logger | undefined
  repository?: MemoryRepository
  /**
   * Users with at most this many embedded turns are scanned exactly; up to `quantizedMaxTurns`
   * through binary-quantised candidates re-ranked exactly; above, via HNSW with `efSearch`.
   * Defaults: DEFAULT_RECALL_STRATEGY (memory.recall.ts; the figures are in bench/recall.bench.ts).
   */
  exactScanMaxTurns?: number
  quantizedMaxTurns?: number
  quantizedCandidates?: number
  efSearch?: number
  /** Memory for mid-sized users' codes (memory.codes.ts); default MEMORY_CODE_CACHE_MB. */
  codeCacheBytes?: number
  /** Recall gives up on the query embedding after this long. Default 2000 ms. */
  recallTimeoutMs?: number
  /** After a failed query embedding, recall skips embedding for this long. Default 5000 ms. */
  breakerMs?: number
  /** Back-fill sweep period; 0 disables the timer (backfill() still works). Default 60 s. */
  backfillIntervalMs?: number
  /**
   * Runs a sweep only when no other gateway is sweeping (returns undefined when one is), so
   * replicas do not embed — and pay for — the same turns twice. Default: no coordination.
   * main.ts passes a Redis lease (`tryWithRedisLock`).
   */
  sweepLock?: (sweep: () => Promise<number>) => Promise<number | undefined>
  /** Batcher tuning (see memory.batcher.ts). */
  batchSize?: number
  flushMs?: number
  maxAttempts?: number
  backoffBaseMs?: number
}

export type Memory = MemoryPort & {
  start(): void
  close(): Promise<void>
  /** Embeds every turn still `embedding is null`; returns how many were embedded. */
  backfill(): Promise<number>
  /** Flushes the batcher now (tests, shutdown). */
  flush(): Promise<void>
  /** Drops a user's queued turns and cached vectors (GDPR erase); returns the turns dropped. */
  forget(igUserId: string): number
}

/** Embeds every turn still `embedding is null`, in id order; stops between batches once closed. */
async function sweepUnembedded(deps: {
  repo: MemoryRepository
  ai: Pick<AiClient, 'embed'>
  batcher: EmbeddingBatcher
  batchSize: number
  isClosed: () => boolean
}): Promise<number> {
  const { repo, batcher, batchSize, isClosed } = deps
  let total = 0
  let afterId = 0
  // Stops between batches once close() was called, so shutdown never waits for a long sweep.
  while (!isClosed()) {
    const rows = await repo.findUnembedded(afterId, 256)
    if (rows.length === 0) break
    afterId = rows[rows.length - 1]?.id ?? afterId
    const todo = rows.filter((r) => !batcher.has(r.id))
    for (let i = 0; i < todo.length && !isClosed(); i += batchSize) {
      const chunk = todo.slice(i, i + batchSize)
      const vectors = await deps.ai.embed(
        chunk.map((r) => embeddingInput(r.content)),
        { purpose: 'memory', maxRetries: 1 },
      )
      total += await repo.setEmbeddings(
        chunk.map((r, j) => ({
          id: r.id,
          embedding: vectors[j] as number[],
          summary: summarise(r.content),
        })),
      )
    }
  }
  return total
}

/** The embedding batcher, reusing the vector recall computed for the live turn a moment ago. */
function createCachedBatcher(opts: MemoryOptions, repo: MemoryRepository, cache: VectorCache) {
  return createEmbeddingBatcher({
    logger: opts.logger,
    batchSize: opts.batchSize,
    flushMs: opts.flushMs,
    maxAttempts: opts.maxAttempts,
    backoffBaseMs: opts.backoffBaseMs,
    async embed(texts, turns) {
      const cached = turns.map((t, i) => cache.get(t.igUserId, texts[i] as string))
      const missing = texts.filter((_, i) => !cached[i])
      const fresh = missing.length ? await opts.ai.embed(missing, { purpose: 'memory', maxRetries: 0 }) : []
      let j = 0
      return cached.map((c) => c ?? (fresh[j++] as number[]))
    },
    write: (rows) => repo.setEmbeddings(rows),
    writeSummaries: (rows) => repo.setSummaries(rows),
  })
}

/** Logs a sweep's outcome; `undefined` means another gateway held the lease. */
function sweepOutcome(logger: Logger | undefined) {
  return (n: number | undefined) => {
    if (n === undefined) {
      logger?.debug('memory: another gateway is back-filling; skipped this sweep')
      return 0
    }
    if (n > 0) logger?.info({ embedded: n }, 'memory: back-filled embeddings')
    return n
  }
}

/** The search strategy: options first (tests, benches), then MEMORY_* config, then the defaults. */
function strategyOf(opts: MemoryOptions): RecallStrategy {
  const c = opts.config.memory.search
  return {
    exactScanMaxTurns: opts.exactScanMaxTurns ?? c.exactScanMaxTurns,
    quantizedMaxTurns: opts.quantizedMaxTurns ?? c.quantizedMaxTurns,
    quantizedCandidates: opts.quantizedCandidates ?? DEFAULT_RECALL_STRATEGY.quantizedCandidates,
    efSearch: opts.efSearch ?? c.efSearch,
  }
}

export function createMemory(opts: MemoryOptions): Memory {
  const { config, logger } = opts
  const mc = config.memory
  const repo = opts.repository ?? createMemoryRepository(opts.db)
  const backfillIntervalMs = opts.backfillIntervalMs ?? 60_000
  const cache = createVectorCache()
  let sweepTimer: NodeJS.Timeout | undefined
  let sweeping: Promise<number> | undefined
  let closed = false

  const batcher = createCachedBatcher(opts, repo, cache)

  const {
    recall,
    queryVector,
    forget: forgetCount,
  } = createRecall({
    config,
    logger,
    ai: opts.ai,
    repo,
    cache,
    codes: createCodeCache({
      repo,
      maxBytes: opts.codeCacheBytes ?? mc.search.codeCacheBytes,
      logger,
    }),
    ...strategyOf(opts),
    recallTimeoutMs: opts.recallTimeoutMs ?? 2000,
    breakerMs: opts.breakerMs ?? 5000,
  })
  const runBackfill = () =>
    sweepUnembedded({ repo, ai: opts.ai, batcher, batchSize: opts.batchSize ?? 64, isClosed: () => closed })

  const memory: Memory = {
    recall,
    queryVector: (igUserId, text) =>
      mc.enabled && !closed ? queryVector(igUserId, text) : Promise.resolve(undefined),

    afterStore(turn) {
      if (!mc.enabled || closed) return
      batcher.add({ id: turn.id, igUserId: turn.igUserId, content: turn.content })
    },

    start() {
      if (!mc.enabled || closed || sweepTimer || backfillIntervalMs <= 0) return
      const tick = () => {
        memory
          .backfill()
          .catch((err: Error) =>
            logger?.warn({ err: err.message }, 'memory: back-fill sweep failed; next sweep retries'),
          )
      }
      // A first sweep soon after start catches turns stored while this process was down.
      setTimeout(tick, Math.min(1000, backfillIntervalMs)).unref?.()
      sweepTimer = setInterval(tick, backfillIntervalMs)
      sweepTimer.unref?.()
    },

    backfill() {
      if (!mc.enabled || closed) return Promise.resolve(0)
      if (sweeping) return sweeping
      const sweep = opts.sweepLock ? opts.sweepLock(runBackfill) : runBackfill()
      sweeping = sweep.then(sweepOutcome(logger)).finally(() => {
        sweeping = undefined
      })
      return sweeping
    },

    flush: () => batcher.drain(),

    forget(igUserId) {
      cache.forget(igUserId)
      forgetCount(igUserId)
      return batcher.forget(igUserId)
    },

    async close() {
      if (closed) return
      closed = true
      if (sweepTimer) clearInterval(sweepTimer)
      await batcher.close()
      await sweeping?.catch(() => {})
    },
  }
  return memory
}
