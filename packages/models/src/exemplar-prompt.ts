import type { Pool } from '@loopdm/db/pool'
import { countChatTokens } from '@loopdm/platform/tokens'
import { createExemplarRepository, type ExemplarHit, type ExemplarRepository } from './exemplar-sets.js'

/**
 * Demonstrations for one reply: the active exemplar set's top-k examples nearest to the live
 * message (cosine ≥ minScore), packed within maxTokens by their real token count, as user/assistant
 * message pairs between two short system notes. Shared by the gateway's reply path and the
 * evaluator, so a candidate is scored on exactly the prompt it would serve.
 */
export interface ExemplarPromptOptions {
  /** Demonstrations per reply (EXEMPLAR_TOP_K). */
  topK: number
  /** Minimum cosine similarity (EXEMPLAR_MIN_SCORE). */
  minScore: number
  /** Token budget of the demonstrations (EXEMPLAR_MAX_TOKENS). */
  maxTokens: number
  /** hnsw.ef_search of the lookup (EXEMPLAR_EF_SEARCH); default exemplar-sets.ts EXEMPLAR_EF_SEARCH. */
  efSearch?: number
}

export type DemoMessage = { role: 'system' | 'user' | 'assistant'; content: string }

export interface Demonstrations {
  messages: DemoMessage[]
  /** Exemplar ids used (most similar last). */
  ids: number[]
  /** Prompt tokens the demonstrations add (pairs plus the two notes). */
  tokens: number
}

export const NO_DEMONSTRATIONS: Demonstrations = Object.freeze({
  messages: [],
  ids: [],
  tokens: 0,
}) as Demonstrations

const OPEN = 'Examples of how this shop answers, from earlier conversations with other customers:'
const CLOSE = 'End of examples. The conversation with the current customer follows.'
/** Real prompt tokens of the two notes (without the reply priming countChatTokens adds). */
const NOTE_TOKENS =
  countChatTokens([
    { role: 'system', content: OPEN },
    { role: 'system', content: CLOSE },
  ]) - 3

/** Packs hits (best first) within the budget; returns them most-similar-last as messages. */
export function packDemonstrations(hits: ExemplarHit[], maxTokens: number): Demonstrations {
  const chosen: ExemplarHit[] = []
  let tokens = NOTE_TOKENS
  for (const h of hits) {
    if (tokens + h.tokens > maxTokens) continue
    chosen.push(h)
    tokens += h.tokens
  }
  if (chosen.length === 0) return NO_DEMONSTRATIONS
  chosen.reverse()
  const messages: DemoMessage[] = [{ role: 'system', content: OPEN }]
  for (const h of chosen)
    messages.push({ role: 'user', content: h.prompt }, { role: 'assistant', content: h.answer })
  messages.push({ role: 'system', content: CLOSE })
  return { messages, ids: chosen.map((h) => h.id), tokens }
}

/**
 * Looks demonstrations up for a set (`vector` is the live message's embedding): one round trip
 * (exemplar-sets.ts `search`), packed by the token counts stored at build — nothing is tokenised
 * at reply time.
 */
export function createExemplarPrompter(
  opts: ExemplarPromptOptions & { db: Pool; repo?: ExemplarRepository },
) {
  const repo = opts.repo ?? createExemplarRepository(opts.db)
  return {
    async demonstrations(a: { setId: number; vector: readonly number[] }): Promise<Demonstrations> {
      if (opts.maxTokens <= NOTE_TOKENS) return NO_DEMONSTRATIONS
      const hits = await repo.search({
        setId: a.setId,
        vector: a.vector,
        k: opts.topK,
        minScore: opts.minScore,
        efSearch: opts.efSearch,
      })
      return packDemonstrations(hits, opts.maxTokens)
    },
  }
}

export type ExemplarPrompter = ReturnType<typeof createExemplarPrompter>
