import type { FineTunedModelRecord } from '../state/store.js'
import { cosine, embed } from './embedding.js'

/**
 * How a fine-tuned openai-local model answers: the assistant turn of the training pair whose user
 * turn is nearest (cosine of the hashed n-gram embeddings) to the request's last user turn — when
 * that similarity is at least `SIMILARITY_THRESHOLD`; otherwise undefined, and the caller falls back
 * to the base model's reply policy.
 *
 * 0.5 sits well above what unrelated texts score (≈ 0–0.15) and below near-verbatim repeats
 * (≈ 0.8–1), so the model repeats what it was taught for prompts it has (nearly) seen and defers
 * to its base otherwise.
 */
export const SIMILARITY_THRESHOLD = 0.5

const vectors = new WeakMap<FineTunedModelRecord, number[][]>()

export function nearestTrainedReply(
  model: FineTunedModelRecord,
  userText: string,
  threshold = SIMILARITY_THRESHOLD,
): { reply: string; similarity: number } | undefined {
  if (model.pairs.length === 0 || userText.trim() === '') return undefined
  let vs = vectors.get(model)
  if (!vs) {
    vs = model.pairs.map((p) => embed(p.user))
    vectors.set(model, vs)
  }
  const q = embed(userText)
  let best = -1
  let bestScore = -2
  for (let i = 0; i < vs.length; i++) {
    const s = cosine(q, vs[i] as number[])
    if (s > bestScore) {
      bestScore = s
      best = i
    }
  }
  if (best < 0 || bestScore < threshold) return undefined
  return { reply: (model.pairs[best] as { assistant: string }).assistant, similarity: bestScore }
}
