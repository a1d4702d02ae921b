import type { FineTunedModelRecord } from '../state/store.js'
import { embed } from './embedding.js'
import { nearestReply, SIMILARITY_THRESHOLD } from './nearest.js'

/**
 * How a fine-tuned openai-local model answers: `nearestReply` (see nearest.ts) over its training
 * pairs — weight-0 assistant turns were never made pairs, so they are never answered. The pairs'
 * embeddings are cached per model record.
 */
export { SIMILARITY_THRESHOLD } from './nearest.js'

const vectors = new WeakMap<FineTunedModelRecord, number[][]>()

export function nearestTrainedReply(
  model: FineTunedModelRecord,
  userText: string,
  threshold = SIMILARITY_THRESHOLD,
): { reply: string; similarity: number } | undefined {
  let vs = vectors.get(model)
  if (!vs) {
    vs = model.pairs.map((p) => embed(p.user))
    vectors.set(model, vs)
  }
  const r = nearestReply(model.pairs, userText, { vectors: vs, threshold })
  return r && { reply: r.reply, similarity: r.similarity }
}
