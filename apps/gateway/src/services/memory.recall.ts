import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import type { AiClient } from '@loopdm/platform/openai'
import { pseudonymousUserKey } from '@loopdm/training-data/pseudonym'
import type { MemoryRepository } from '../repositories/memory.repository.js'
import { embeddingInput } from './memory.batcher.js'
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

export interface RecallOptions {
  config: Config
  logger?: Logger | undefined
  ai: Pick<AiClient, 'embed'>
  repo: MemoryRepository
  cache: VectorCache
  exactScanMaxTurns: number
  efSearch: number
  recallTimeoutMs: number
  breakerMs: number
}

/** The live turn's vector (cached, bounded by recallTimeoutMs). */
async function embedQuery(
  opts: Pick<RecallOptions, 'ai' | 'cache' | 'recallTimeoutMs'>,
  igUserId: string,
  text: string,
): Promise<number[]> {
  const { cache } = opts
  const input = embeddingInput(text)
  const hit = cache.get(igUserId, input)
  if (hit) return hit
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
    cache.set(igUserId, input, v)
    return v
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Memory recall: the user's recent turns plus (when the query embeds in time) their relevant past
 * turns, packed into MEMORY_MAX_TOKENS. A failed query embedding opens a breaker for `breakerMs`;
 * any failure degrades to the recent turns (or nothing), never fails the DM.
 */
export function createRecall(opts: RecallOptions): MemoryPort['recall'] {
  const { repo, logger } = opts
  const mc = opts.config.memory
  let breakerUntil = 0

  /** The nearest turns, exact for small histories, HNSW above exactScanMaxTurns. */
  async function searchRelevant(igUserId: string, vector: number[], excludeIds: number[]) {
    const n = await repo.countEmbedded(igUserId, opts.exactScanMaxTurns + 1)
    const args = { igUserId, vector, k: mc.topK, minScore: mc.minScore, excludeIds }
    if (n === 0) return { turns: [] as MemoryTurn[], strategy: 'none' }
    if (n <= opts.exactScanMaxTurns) return { turns: await repo.searchExact(args), strategy: 'exact' }
    return { turns: await repo.searchIndexed({ ...args, efSearch: opts.efSearch }), strategy: 'hnsw' }
  }

  /** Recent turns and the query vector in parallel; a failed embedding opens the breaker. */
  async function gather(igUserId: string, text: string, excludeIds: number[], userKey: string) {
    const wantVector = text.trim() !== '' && Date.now() >= breakerUntil
    const [recent, vector] = await Promise.all([
      repo.recentTurns(igUserId, mc.recentTurns, excludeIds),
      wantVector
        ? embedQuery(opts, igUserId, text).catch((err: Error) => {
            breakerUntil = Date.now() + opts.breakerMs
            logger?.warn(
              { err: err.message, userKey, breakerMs: opts.breakerMs },
              'memory: query embedding failed; answering without recall',
            )
            return undefined
          })
        : undefined,
    ])
    return { recent, vector }
  }

  return async ({ igUserId, text, excludeIds = [] }) => {
    if (!mc.enabled || mc.maxTokens <= 0) return { messages: [], recalled: 0 }
    const started = performance.now()
    const userKey = pseudonymousUserKey(igUserId, opts.config.privacy.pseudonymSecret)
    let recent: MemoryTurn[] = []
    let relevant: MemoryTurn[] = []
    let strategy = 'skipped'
    try {
      const gathered = await gather(igUserId, text, excludeIds, userKey)
      recent = gathered.recent
      if (gathered.vector) {
        const exclude = [...excludeIds, ...recent.map((t) => t.id)]
        const found = await searchRelevant(igUserId, gathered.vector, exclude)
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
  }
}
