import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import type { AiClient } from '@loopdm/platform/openai'
import { pseudonymousUserKey } from '@loopdm/training-data/pseudonym'
import type { MemoryRepository } from '../repositories/memory.repository.js'
import { embeddingInput } from './memory.batcher.js'
import type { CodeCache } from './memory.codes.js'
import { type MemoryTurn, packTurns } from './memory.packing.js'
import type { MemoryPort } from './memory.port.js'

/** Recently computed query vectors, so the batcher does not embed the same live turn twice. */
export function createVectorCache(max = 256, ttlMs = 60_000) {
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

export type VectorCache = ReturnType<typeof createVectorCache>

class RecallTimeout extends Error {
  override name = 'RecallTimeout'
}

/** How recall searches a user's turns, by how many embedded turns they have (bench/recall.bench.ts). */
export interface RecallStrategy {
  /** Up to this many turns: the exact scan of every row (exact, cheapest for small users). */
  exactScanMaxTurns: number
  /** Up to this many: binary-quantised candidates (Hamming, index-only) re-ranked exactly. */
  quantizedMaxTurns: number
  /**
   * Candidates the quantised pass hands to the exact re-rank: at least this many, and at least
   * QUANTIZED_OVERSAMPLE × k (quantizedCandidatesFor).
   */
  quantizedCandidates: number
  /** hnsw.ef_search above quantizedMaxTurns (iterative scan on). */
  efSearch: number
}

/**
 * Defaults measured with bench/recall.bench.ts on the embedded Postgres (README "Memory"): the exact
 * scan costs ~7 µs per turn, the quantised pass ~0.6 µs per turn plus a fixed ~1 ms re-rank with
 * recall@5 ≥ 0.99, HNSW with iterative scan is flat in the user's size but approximate.
 */
export const DEFAULT_RECALL_STRATEGY: RecallStrategy = Object.freeze({
  exactScanMaxTurns: 200,
  quantizedMaxTurns: 20_000,
  quantizedCandidates: 20,
  efSearch: 400,
})

/**
 * The quantised pass re-ranks this many × k candidates by their real distance. Each re-ranked
 * candidate reads its 6 KB TOASTed vector (~50–70 µs on the embedded Postgres), so the re-rank,
 * not the Hamming pass, was most of a 2,000-turn user's recall with 50 candidates; 4 × k keeps
 * recall@5 at 1.000 in bench/recall.bench.ts (2 × k did not: 0.84 with 10).
 */
export const QUANTIZED_OVERSAMPLE = 4

export function quantizedCandidatesFor(k: number, s: Pick<RecallStrategy, 'quantizedCandidates'>): number {
  return Math.max(s.quantizedCandidates, QUANTIZED_OVERSAMPLE * k)
}

export interface RecallOptions extends RecallStrategy {
  config: Config
  logger?: Logger | undefined
  ai: Pick<AiClient, 'embed'>
  repo: MemoryRepository
  cache: VectorCache
  /** The quantised tier's codes held in memory (memory.codes.ts); absent or disabled: the SQL pass. */
  codes?: CodeCache | undefined
  recallTimeoutMs: number
  breakerMs: number
}

/**
 * The live turn's vector: cached, and one provider call per (user, text) even when memory recall
 * and the exemplar lookup ask for it at the same moment (in-flight requests are shared). Bounded by
 * recallTimeoutMs.
 */
export function createQueryEmbedder(opts: Pick<RecallOptions, 'ai' | 'cache' | 'recallTimeoutMs'>) {
  const inflight = new Map<string, Promise<number[]>>()
  async function embed(igUserId: string, input: string): Promise<number[]> {
    let timer: NodeJS.Timeout | undefined
    try {
      const [v] = await Promise.race([
        opts.ai.embed([input], { purpose: 'memory', maxRetries: 0, timeoutMs: opts.recallTimeoutMs }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new RecallTimeout(`embedding took over ${opts.recallTimeoutMs} ms`)),
            opts.recallTimeoutMs,
          )
        }),
      ])
      if (!v) throw new Error('no embedding returned')
      opts.cache.set(igUserId, input, v)
      return v
    } finally {
      clearTimeout(timer)
    }
  }
  return (igUserId: string, text: string): Promise<number[]> => {
    const input = embeddingInput(text)
    const hit = opts.cache.get(igUserId, input)
    if (hit) return Promise.resolve(hit)
    const key = `${igUserId}\u0000${input}`
    let p = inflight.get(key)
    if (!p) {
      p = embed(igUserId, input).finally(() => inflight.delete(key))
      inflight.set(key, p)
    }
    return p
  }
}

export type QueryEmbedder = ReturnType<typeof createQueryEmbedder>

/** Embedded-turn counts per user (they only pick the search strategy, so a minute stale is fine). */
function createCountCache(max = 10_000, ttlMs = 60_000) {
  const m = new Map<string, { n: number; at: number }>()
  return {
    get(user: string): number | undefined {
      const e = m.get(user)
      return e && Date.now() - e.at <= ttlMs ? e.n : undefined
    },
    set(user: string, n: number) {
      m.delete(user)
      m.set(user, { n, at: Date.now() })
      if (m.size > max) m.delete(m.keys().next().value as string)
    },
    forget(user: string) {
      m.delete(user)
    },
  }
}

/**
 * Memory recall: the user's recent turns plus (when the query embeds in time) their relevant past
 * turns, packed into MEMORY_MAX_TOKENS. A failed query embedding opens a breaker for `breakerMs`;
 * any failure degrades to the recent turns (or nothing), never fails the DM.
 */
export function createRecall(opts: RecallOptions): {
  recall: MemoryPort['recall']
  queryVector: QueryEmbedder
  forget(igUserId: string): void
} {
  const { repo, logger } = opts
  const mc = opts.config.memory
  let breakerUntil = 0
  const queryVector = createQueryEmbedder(opts)
  const counts = createCountCache()

  /**
   * The user's embedded-turn count (capped past the quantised tier). Counts above the exact tier
   * are cached for a minute (they only choose between two near-exact strategies and grow slowly);
   * small ones are re-counted each time — cheap, and a new user's turns are found as soon as they
   * are embedded.
   */
  async function sizeOf(igUserId: string): Promise<number> {
    const cached = counts.get(igUserId) ?? opts.codes?.size(igUserId)
    if (cached !== undefined) return cached
    const n = await repo.countEmbedded(igUserId, opts.quantizedMaxTurns + 1)
    if (n > opts.exactScanMaxTurns) counts.set(igUserId, n)
    return n
  }

  /**
   * The nearest turns: exact for small histories, quantised + re-rank for mid ones (the codes in
   * memory when `codesReady`, else the SQL pass, which also starts loading them), HNSW above.
   */
  async function searchRelevant(
    igUserId: string,
    vector: number[],
    excludeIds: number[],
    codesReady: boolean,
  ) {
    const n = await sizeOf(igUserId)
    const args = { igUserId, vector, k: mc.topK, minScore: mc.minScore, excludeIds }
    const codes = opts.codes
    if (n > opts.quantizedMaxTurns || n <= opts.exactScanMaxTurns) codes?.forget(igUserId)
    if (n === 0) return { turns: [] as MemoryTurn[], strategy: 'none' }
    if (n <= opts.exactScanMaxTurns) return { turns: await repo.searchExact(args), strategy: 'exact' }
    if (n <= opts.quantizedMaxTurns) {
      const candidates = quantizedCandidatesFor(mc.topK, opts)
      // has(): the entry may have been evicted for another user's since the refresh.
      if (codes && codesReady && codes.has(igUserId)) {
        const ids = codes.nearest(igUserId, vector, candidates, new Set(excludeIds))
        return {
          turns: ids.length ? await repo.rerank({ ...args, ids }) : [],
          strategy: 'quantized',
          codes: 'memory',
        }
      }
      if (codes?.enabled) void codes.warm(igUserId)
      return {
        turns: await repo.searchQuantized({ ...args, candidates }),
        strategy: 'quantized',
        codes: 'sql',
      }
    }
    return { turns: await repo.searchIndexed({ ...args, efSearch: opts.efSearch }), strategy: 'hnsw' }
  }

  /** Brings the user's codes up to date beside the embedding; false = use the SQL pass this time. */
  function refreshCodes(igUserId: string, userKey: string): Promise<boolean> {
    const codes = opts.codes
    if (!codes?.has(igUserId)) return Promise.resolve(false)
    return codes.refresh(igUserId).catch((err: Error) => {
      codes.forget(igUserId)
      logger?.warn({ err: err.message, userKey }, 'memory: refreshing codes failed; using the SQL pass')
      return false
    })
  }

  /** Recent turns and the query vector in parallel; a failed embedding opens the breaker. */
  async function gather(igUserId: string, text: string, excludeIds: number[], userKey: string) {
    const wantVector = text.trim() !== '' && Date.now() >= breakerUntil
    const [recent, vector, codesReady] = await Promise.all([
      repo.recentTurns(igUserId, mc.recentTurns, excludeIds),
      wantVector
        ? queryVector(igUserId, text).catch((err: Error) => {
            breakerUntil = Date.now() + opts.breakerMs
            logger?.warn(
              { err: err.message, userKey, breakerMs: opts.breakerMs },
              'memory: query embedding failed; answering without recall',
            )
            return undefined
          })
        : undefined,
      wantVector ? refreshCodes(igUserId, userKey) : false,
    ])
    return { recent, vector, codesReady }
  }

  const recall: MemoryPort['recall'] = async ({ igUserId, text, excludeIds = [] }) => {
    if (!mc.enabled || mc.maxTokens <= 0) return { messages: [], recalled: 0 }
    const started = performance.now()
    const userKey = pseudonymousUserKey(igUserId, opts.config.privacy.pseudonymSecret)
    let recent: MemoryTurn[] = []
    let relevant: MemoryTurn[] = []
    let strategy = 'skipped'
    let codes: string | undefined
    try {
      const gathered = await gather(igUserId, text, excludeIds, userKey)
      recent = gathered.recent
      if (gathered.vector) {
        const exclude = [...excludeIds, ...recent.map((t) => t.id)]
        const found = await searchRelevant(igUserId, gathered.vector, exclude, gathered.codesReady)
        relevant = found.turns
        strategy = found.strategy
        codes = found.codes
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
        ...(codes ? { codes } : {}),
        ms: Math.round(performance.now() - started),
      },
      'memory recall',
    )
    return { messages: packed.messages, recalled: packed.recalled }
  }
  return {
    recall,
    queryVector,
    forget: (igUserId) => {
      counts.forget(igUserId)
      opts.codes?.forget(igUserId)
    },
  }
}
