import { completionLimit } from '@loopdm/platform/capabilities'
import type { Config } from '@loopdm/platform/config'
import type { AiClient } from '@loopdm/platform/openai'
import type { EvalItemRow } from '../repositories/eval.repository.js'
import type { GoldItem } from './gold.js'
import { judgeReply } from './judge.js'
import { detectPII } from './pii.js'
import type { PolicyTarget, PolicyTargets } from './policy-target.js'
import { checkFacts, cosine, itemScore, MAX_REPLY_CHARS } from './scoring.js'

/** One scored reply, with the item it answers. */
export interface Scored extends EvalItemRow {
  item: GoldItem
  /** The judge call failed for this reply (EVAL_JUDGE_MODEL set): reported, never dropped. */
  judgeError: string | null
}

/** What scoring a model needs: the client, the config and a cache of the ideal answers' vectors. */
export interface ScoringContext {
  ai: AiClient
  config: Config
  /** Parallel completions per model. */
  concurrency: number
  idealCache: Map<string, number[]>
  /** Resolves a policy key to its serving model and prompt (policy-target.ts). */
  targets: PolicyTargets
}

interface Reply {
  reply: string
  latencyMs: number
  error: string | null
}

export async function mapLimit<T, R>(
  xs: T[],
  limit: number,
  fn: (x: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(xs.length)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, xs.length) }, async () => {
      for (;;) {
        const i = next++
        if (i >= xs.length) return
        out[i] = await fn(xs[i] as T, i)
      }
    }),
  )
  return out
}

async function embedAll(ai: AiClient, texts: string[]): Promise<number[][]> {
  const out: number[][] = []
  for (let i = 0; i < texts.length; i += 64) {
    // The embeddings endpoint rejects empty strings; an empty reply gets a zero vector.
    const chunk = texts.slice(i, i + 64)
    const idx = chunk.map((t, j) => (t.trim() ? j : -1)).filter((j) => j >= 0)
    const vecs = idx.length
      ? await ai.embed(
          idx.map((j) => chunk[j] as string),
          { purpose: 'evaluate' },
        )
      : []
    const byIdx = new Map(idx.map((j, k) => [j, vecs[k] as number[]]))
    for (let j = 0; j < chunk.length; j++) out.push(byIdx.get(j) ?? [])
  }
  return out
}

async function idealVectors(c: ScoringContext, items: GoldItem[]): Promise<number[][]> {
  const missing = items.filter((it) => !c.idealCache.has(it.ideal)).map((it) => it.ideal)
  const uniq = [...new Set(missing)]
  const vecs = await embedAll(c.ai, uniq)
  for (const [i, t] of uniq.entries()) c.idealCache.set(t, vecs[i] as number[])
  return items.map((it) => c.idealCache.get(it.ideal) as number[])
}

/** Asks the policy one item (its serving model, its prompt); a failed call is an empty reply with its error. */
async function answer(c: ScoringContext, target: PolicyTarget, item: GoldItem): Promise<Reply> {
  const t = performance.now()
  try {
    const res = await c.ai.chat(
      {
        model: target.servingModel,
        ...completionLimit(target.servingModel, 400, 0),
        messages: await target.messages(item),
      },
      { purpose: 'evaluate', timeoutMs: c.config.openai.timeoutMs, maxRetries: c.config.openai.maxRetries },
    )
    return { reply: res.choices[0]?.message?.content ?? '', latencyMs: performance.now() - t, error: null }
  } catch (err) {
    return { reply: '', latencyMs: performance.now() - t, error: (err as Error).message.slice(0, 500) }
  }
}

/** Scores one reply: similarity to the ideal, fact recall, length, PII and (if configured) the judge. */
async function scoreReply(
  c: ScoringContext,
  model: string,
  item: GoldItem,
  r: Reply,
  similarity: number,
): Promise<Scored> {
  const judgeModel = c.config.eval.judgeModel
  const facts = checkFacts(r.reply, item.facts)
  const piiTypes = detectPII(r.reply)
  const lastUser = [...item.messages].reverse().find((m) => m.role === 'user')?.content ?? ''
  const judged =
    judgeModel && r.reply
      ? await judgeReply(c.ai, judgeModel, { prompt: lastUser, ideal: item.ideal, reply: r.reply })
      : null
  const judge = judged?.score ?? null
  const metrics = {
    similarity,
    factRecall: facts.recall,
    lengthOk: r.reply.length <= MAX_REPLY_CHARS,
    piiOk: piiTypes.length === 0,
    judge,
  }
  return {
    item,
    itemId: item.id,
    source: item.source ?? 'gold',
    category: item.category,
    role: '',
    model,
    reply: r.reply,
    similarity,
    factRecall: facts.recall,
    factsMissing: facts.missing,
    lengthOk: metrics.lengthOk,
    piiOk: metrics.piiOk,
    piiTypes,
    judgeScore: judge,
    score: r.error ? 0 : itemScore(metrics),
    latencyMs: Math.round(r.latencyMs),
    error: r.error,
    judgeError: judged?.error ?? null,
  }
}

/** Asks the policy `model` (a registry key or a model id) every item and scores each reply. */
export async function scoreModel(c: ScoringContext, model: string, items: GoldItem[]): Promise<Scored[]> {
  const target = await c.targets.resolve(model)
  const replies = await mapLimit(items, c.concurrency, (item) => answer(c, target, item))
  const [ideals, vecs] = await Promise.all([
    idealVectors(c, items),
    embedAll(
      c.ai,
      replies.map((r) => r.reply),
    ),
  ])
  return mapLimit(items, c.concurrency, async (item, i) => {
    const v = vecs[i] as number[]
    const similarity = v.length ? cosine(v, ideals[i] as number[]) : 0
    return scoreReply(c, model, item, replies[i] as Reply, similarity)
  })
}
