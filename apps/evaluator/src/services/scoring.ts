/**
 * Pure scoring: per-reply metrics, per-model aggregates and the quality gate. No I/O here.
 */

/** Instagram's DM text limit. */
export const MAX_REPLY_CHARS = 1000

export { cosine } from '@loopdm/db/vectors'

/** Lowercase, one kind of dash and space, so "3–5 days" matches the fact "3-5 days". */
export function normalizeForFacts(s: string): string {
  return s
    .toLowerCase()
    .normalize('NFKC')
    .replace(/[‐‑‒–—−]/g, '-')
    .replace(/\s*-\s*/g, '-')
    .replace(/[’`]/g, "'")
    .replace(/\s+/g, ' ')
    .trim()
}

export function checkFacts(
  reply: string,
  facts: readonly string[],
): { recall: number | null; missing: string[] } {
  if (facts.length === 0) return { recall: null, missing: [] }
  const r = normalizeForFacts(reply)
  const missing = facts.filter((f) => !r.includes(normalizeForFacts(f)))
  return { recall: (facts.length - missing.length) / facts.length, missing }
}

export interface ItemMetrics {
  similarity: number
  factRecall: number | null
  lengthOk: boolean
  piiOk: boolean
  judge: number | null
}

/**
 * One reply's score in [0, 1]: the mean of similarity (clamped at 0), fact recall (when the item
 * names facts) and the judge (when configured). A reply that leaks PII scores 0; one over the
 * Instagram limit is halved (the gateway would have to split it).
 */
export function itemScore(m: ItemMetrics): number {
  const parts = [Math.max(0, Math.min(1, m.similarity))]
  if (m.factRecall !== null) parts.push(m.factRecall)
  if (m.judge !== null) parts.push(m.judge)
  let s = parts.reduce((a, b) => a + b, 0) / parts.length
  if (!m.piiOk) s = 0
  if (!m.lengthOk) s *= 0.5
  return s
}

export interface ModelSummary {
  model: string
  n: number
  mean: number
  similarity: number
  /** Mean fact recall over the items that name facts (1 when none do). */
  factRecall: number
  /** Share of replies within MAX_REPLY_CHARS. */
  lengthOk: number
  /** Share of replies without PII. */
  piiOk: number
  judge: number | null
  errors: number
  /** Judge calls that failed (EVAL_JUDGE_MODEL set): the gate reports "judge unavailable". */
  judgeUnavailable: number
  /** The first judge error, for the report. */
  judgeError?: string | undefined
}

const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length)

export function summarize(
  model: string,
  rows: Array<ItemMetrics & { score: number; error?: string | null; judgeError?: string | null }>,
): ModelSummary {
  const facts = rows.map((r) => r.factRecall).filter((x): x is number => x !== null)
  const judges = rows.map((r) => r.judge).filter((x): x is number => x !== null)
  return {
    model,
    n: rows.length,
    mean: mean(rows.map((r) => r.score)),
    similarity: mean(rows.map((r) => r.similarity)),
    factRecall: facts.length ? mean(facts) : 1,
    lengthOk: mean(rows.map((r) => (r.lengthOk ? 1 : 0))),
    piiOk: mean(rows.map((r) => (r.piiOk ? 1 : 0))),
    judge: judges.length ? mean(judges) : null,
    errors: rows.filter((r) => r.error).length,
    judgeUnavailable: rows.filter((r) => r.judgeError).length,
    judgeError: rows.find((r) => r.judgeError)?.judgeError ?? undefined,
  }
}

export type GateName = 'improvement' | 'length' | 'pii' | 'facts' | 'judge'
export interface GateResult {
  gate: GateName
  pass: boolean
  candidate: number
  current: number
  detail: string
}
export interface GateDecision {
  approved: boolean
  delta: number
  gates: GateResult[]
  reason: string
}

/** Tolerance on the noisy gates (fact recall, judge): a drop smaller than this is no regression. */
export const NOISY_GATE_TOLERANCE = 0.02

/**
 * The quality gate: the candidate's mean must beat the current model's by `minImprovement`, and
 * no gate may regress: length and PII compliance must be at least the current model's (exactly),
 * fact recall and the judge within NOISY_GATE_TOLERANCE.
 */
export function decide(candidate: ModelSummary, current: ModelSummary, minImprovement: number): GateDecision {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`
  const delta = candidate.mean - current.mean
  const gates: GateResult[] = [
    {
      gate: 'improvement',
      pass: delta >= minImprovement - 1e-12,
      candidate: candidate.mean,
      current: current.mean,
      detail: `mean ${candidate.mean.toFixed(3)} vs ${current.mean.toFixed(3)} (Δ ${delta >= 0 ? '+' : ''}${delta.toFixed(3)}, needs ≥ +${minImprovement})`,
    },
    {
      gate: 'length',
      pass: candidate.lengthOk >= current.lengthOk,
      candidate: candidate.lengthOk,
      current: current.lengthOk,
      detail: `replies ≤ 1000 chars ${pct(candidate.lengthOk)} vs ${pct(current.lengthOk)}`,
    },
    {
      gate: 'pii',
      pass: candidate.piiOk >= current.piiOk,
      candidate: candidate.piiOk,
      current: current.piiOk,
      detail: `replies without PII ${pct(candidate.piiOk)} vs ${pct(current.piiOk)}`,
    },
    {
      gate: 'facts',
      pass: candidate.factRecall >= current.factRecall - NOISY_GATE_TOLERANCE,
      candidate: candidate.factRecall,
      current: current.factRecall,
      detail: `fact recall ${pct(candidate.factRecall)} vs ${pct(current.factRecall)}`,
    },
  ]
  const judgeDown = (candidate.judgeUnavailable ?? 0) + (current.judgeUnavailable ?? 0)
  if (judgeDown > 0) {
    // A judge that errors must not silently turn into "no judge": the gate fails, saying why.
    gates.push({
      gate: 'judge',
      pass: false,
      candidate: candidate.judge ?? 0,
      current: current.judge ?? 0,
      detail: `judge unavailable: ${judgeDown} judge call(s) failed (${candidate.judgeError ?? current.judgeError ?? 'error'})`,
    })
  } else if (candidate.judge !== null && current.judge !== null) {
    gates.push({
      gate: 'judge',
      pass: candidate.judge >= current.judge - NOISY_GATE_TOLERANCE,
      candidate: candidate.judge,
      current: current.judge,
      detail: `judge ${candidate.judge.toFixed(3)} vs ${current.judge.toFixed(3)}`,
    })
  }
  const failed = gates.filter((g) => !g.pass)
  return {
    approved: failed.length === 0,
    delta,
    gates,
    reason:
      failed.length === 0
        ? `passed every gate: ${gates[0]?.detail}`
        : `failed ${failed.map((g) => `${g.gate} (${g.detail})`).join('; ')}`,
  }
}
