import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import type { AiClient } from '@loopdm/platform/openai'
import { pseudonymousUserKey } from '@loopdm/training-data/pseudonym'
import { createMemoryRepository, type MemoryRepository } from '../repositories/memory.repository.js'
import { createEmbeddingBatcher, embeddingInput } from './memory.batcher.js'
import { type MemoryTurn, packTurns, summarise } from './memory.packing.js'
import type { MemoryPort } from './memory.port.js'

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
  /** Users with at most this many embedded turns are searched exactly; above it, via HNSW. Default 1000 (bench/recall.bench.ts: exact is ~2× faster at 100 turns, HNSW ~2.5× faster at 2,000 and ~8× at 10,000). */
  exactScanMaxTurns?: number
  /** hnsw.ef_search for the indexed path (iterative scans on). Default 400 (bench: recall@5 0.77 → 0.92 for a 10k-turn user at +1 ms p50). */
  efSearch?: number
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

/** Recently computed query vectors, so the batcher does not embed the same live turn twice. */
function createVectorCache(max = 256, ttlMs = 60_000) {
  const m = new Map<string, { v: number[]; at: number }>()
  const key = (user: string, text: string) => `${user}\u0000${text}`
  return {
    get(user: string, text: string): number[] | undefined {
      const e = m.get(key(user, text))
      if (!e || Date.now() - e.at > ttlMs) return undefined
      return e.v
    },
    set(user: string, text: string, v: number[]) {
      m.delete(key(user, text))
      m.set(key(user, text), { v, at: Date.now() })
      if (m.size > max) m.delete(m.keys().next().value as string)
    },
    forget(user: string) {
      for (const k of m.keys()) if (k.startsWith(`${user}\u0000`)) m.delete(k)
    },
  }
}

class RecallTimeout extends Error {
  override name = 'RecallTimeout'
}

export function createMemory(opts: MemoryOptions): Memory {
  const { config, logger } = opts
  const mc = config.memory
  const repo = opts.repository ?? createMemoryRepository(opts.db)
  const exactScanMaxTurns = opts.exactScanMaxTurns ?? 1000
  const efSearch = opts.efSearch ?? 400
  const recallTimeoutMs = opts.recallTimeoutMs ?? 2000
  const breakerMs = opts.breakerMs ?? 5000
  const backfillIntervalMs = opts.backfillIntervalMs ?? 60_000
  const cache = createVectorCache()
  let breakerUntil = 0
  let sweepTimer: NodeJS.Timeout | undefined
  let sweeping: Promise<number> | undefined
  let closed = false

  const batcher = createEmbeddingBatcher({
    logger,
    batchSize: opts.batchSize,
    flushMs: opts.flushMs,
    maxAttempts: opts.maxAttempts,
    backoffBaseMs: opts.backoffBaseMs,
    async embed(texts, turns) {
      // Reuse the vector recall computed for the live turn a moment ago.
      const cached = turns.map((t, i) => cache.get(t.igUserId, texts[i] as string))
      const missing = texts.filter((_, i) => !cached[i])
      const fresh = missing.length ? await opts.ai.embed(missing, { purpose: 'memory', maxRetries: 0 }) : []
      let j = 0
      return cached.map((c) => c ?? (fresh[j++] as number[]))
    },
    write: (rows) => repo.setEmbeddings(rows),
    writeSummaries: (rows) => repo.setSummaries(rows),
  })

  async function embedQuery(igUserId: string, text: string): Promise<number[]> {
    const input = embeddingInput(text)
    const hit = cache.get(igUserId, input)
    if (hit) return hit
    let timer: NodeJS.Timeout | undefined
    try {
      const [v] = await Promise.race([
        opts.ai.embed([input], { purpose: 'memory', maxRetries: 0, timeoutMs: recallTimeoutMs }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new RecallTimeout(`embedding took over ${recallTimeoutMs} ms`)),
            recallTimeoutMs,
          )
        }),
      ])
      if (!v) throw new Error('no embedding returned')
      cache.set(igUserId, input, v)
      return v
    } finally {
      clearTimeout(timer)
    }
  }

  async function searchRelevant(igUserId: string, vector: number[], excludeIds: number[]) {
    const n = await repo.countEmbedded(igUserId, exactScanMaxTurns + 1)
    const args = { igUserId, vector, k: mc.topK, minScore: mc.minScore, excludeIds }
    if (n === 0) return { turns: [] as MemoryTurn[], strategy: 'none' }
    if (n <= exactScanMaxTurns) return { turns: await repo.searchExact(args), strategy: 'exact' }
    return { turns: await repo.searchIndexed({ ...args, efSearch }), strategy: 'hnsw' }
  }

  async function runBackfill(): Promise<number> {
    let total = 0
    let afterId = 0
    // Stops between batches once close() was called, so shutdown never waits for a long sweep.
    while (!closed) {
      const rows = await repo.findUnembedded(afterId, 256)
      if (rows.length === 0) break
      afterId = rows[rows.length - 1]?.id ?? afterId
      const todo = rows.filter((r) => !batcher.has(r.id))
      for (let i = 0; i < todo.length && !closed; i += opts.batchSize ?? 64) {
        const chunk = todo.slice(i, i + (opts.batchSize ?? 64))
        const vectors = await opts.ai.embed(
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

  const memory: Memory = {
    async recall({ igUserId, text, excludeIds = [] }) {
      if (!mc.enabled || mc.maxTokens <= 0) return { messages: [], recalled: 0 }
      const started = performance.now()
      const userKey = pseudonymousUserKey(igUserId)
      let recent: MemoryTurn[] = []
      let relevant: MemoryTurn[] = []
      let strategy = 'skipped'
      try {
        const wantVector = text.trim() !== '' && Date.now() >= breakerUntil
        const [recentRows, vector] = await Promise.all([
          repo.recentTurns(igUserId, mc.recentTurns, excludeIds),
          wantVector
            ? embedQuery(igUserId, text).catch((err: Error) => {
                breakerUntil = Date.now() + breakerMs
                logger?.warn(
                  { err: err.message, userKey, breakerMs },
                  'memory: query embedding failed; answering without recall',
                )
                return undefined
              })
            : undefined,
        ])
        recent = recentRows
        if (vector) {
          const exclude = [...excludeIds, ...recent.map((t) => t.id)]
          const found = await searchRelevant(igUserId, vector, exclude)
          relevant = found.turns
          strategy = found.strategy
        }
      } catch (err) {
        logger?.warn({ err: (err as Error).message, userKey }, 'memory: recall failed; answering without it')
      }
      const packed = packTurns({ recent, recalled: relevant, maxTokens: mc.maxTokens })
      logger?.info(
        {
          userKey,
          recalled: packed.recalled,
          candidates: relevant.length,
          recent: packed.recent,
          tokens: packed.tokens,
          strategy,
          ms: Math.round(performance.now() - started),
        },
        'memory recall',
      )
      return { messages: packed.messages, recalled: packed.recalled }
    },

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
      sweeping = sweep
        .then((n) => {
          if (n === undefined) {
            logger?.debug('memory: another gateway is back-filling; skipped this sweep')
            return 0
          }
          if (n > 0) logger?.info({ embedded: n }, 'memory: back-filled embeddings')
          return n
        })
        .finally(() => {
          sweeping = undefined
        })
      return sweeping
    },

    flush: () => batcher.drain(),

    forget(igUserId) {
      cache.forget(igUserId)
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
