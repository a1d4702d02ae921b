import type { TrainingPair } from '../state/store.js'
import { cosine, embed } from './embedding.js'

/**
 * The one nearest-neighbour rule every openai-local "model" answers by — fine-tuned models over
 * their training pairs, vLLM adapters over their training file, base models over the
 * demonstrations in the prompt: the assistant turn of the pair whose user turn is nearest (cosine
 * of the hashed n-gram embeddings) to the live user text, when that similarity is at least
 * `SIMILARITY_THRESHOLD`; otherwise undefined, and the caller falls back to the base reply policy.
 *
 * 0.5 sits well above what unrelated texts score (≈ 0–0.15) and below near-verbatim repeats
 * (≈ 0.8–1), so a model repeats what it was shown for prompts it has (nearly) seen and defers
 * to its base otherwise.
 */
export const SIMILARITY_THRESHOLD = 0.5

export interface NearestReply {
  reply: string
  similarity: number
  /** Index of the chosen pair. */
  index: number
}

/**
 * The nearest pair's reply. `vectors` (the embeddings of each pair's user turn, same order) may be
 * passed in when the caller caches them; otherwise they are computed.
 */
export function nearestReply(
  pairs: readonly TrainingPair[],
  userText: string,
  opts: { vectors?: readonly number[][]; threshold?: number } = {},
): NearestReply | undefined {
  if (pairs.length === 0 || userText.trim() === '') return undefined
  const vs = opts.vectors ?? pairs.map((p) => embed(p.user))
  const q = embed(userText)
  let best = -1
  let bestScore = -2
  for (let i = 0; i < vs.length; i++) {
    const s = cosine(q, vs[i] as number[])
    // Strictly greater: on a tie the earliest pair wins, so the answer is deterministic.
    if (s > bestScore) {
      bestScore = s
      best = i
    }
  }
  if (best < 0 || bestScore < (opts.threshold ?? SIMILARITY_THRESHOLD)) return undefined
  return { reply: (pairs[best] as TrainingPair).assistant, similarity: bestScore, index: best }
}
