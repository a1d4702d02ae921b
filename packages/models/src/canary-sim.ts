/**
 * A seeded Monte-Carlo of a canary (pure, deterministic): both arms get `batch` replies per look
 * with known bad-outcome rates, and a decision rule is asked after every batch until it decides.
 * Used by the canary tests and `bench/canary.bench.ts` to measure error rates and
 * time-to-decision of the sequential rule against naive peeking.
 */
import type { CanaryConfig, CanaryDecision, CanaryDecisionKind, CanaryInput } from './canary-decision.js'

export type DecisionRule = (input: CanaryInput, config: CanaryConfig) => CanaryDecision

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Binomial(n, p) by inverting the CDF with one uniform draw (n is a batch, so small). */
export function binomial(n: number, p: number, random: () => number): number {
  if (p <= 0) return 0
  if (p >= 1) return n
  const u = random()
  const odds = p / (1 - p)
  let pk = (1 - p) ** n
  let cdf = pk
  let k = 0
  while (u > cdf && k < n) {
    pk *= ((n - k) / (k + 1)) * odds
    k++
    cdf += pk
  }
  return k
}

export interface SimulationOptions {
  /** Bad-outcome rate of the control arm, e.g. 0.1. */
  controlRate: number
  /** Bad-outcome rate of the canary arm. */
  canaryRate: number
  /** Replies per arm added between two looks. Default 50. */
  batch?: number
  /** Looks before giving up (the simulated maxHours). Default 100. */
  maxLooks?: number
  /** Simulated canaries. */
  runs: number
  seed: number
  config?: CanaryConfig
}

export interface SimulationResult {
  runs: number
  /** Share of runs ending in each decision; runs still undecided at `maxLooks` count as `continue`. */
  rates: Record<CanaryDecisionKind, number>
  /** Median replies per arm at the decision, over runs that decided (NaN when none did). */
  medianRepliesToDecision: number
}

/** Runs `runs` canaries through `rule`, looking after every batch, stopping at the first decision. */
export function simulateCanary(rule: DecisionRule, o: SimulationOptions): SimulationResult {
  const batch = o.batch ?? 50
  const maxLooks = o.maxLooks ?? 100
  const config: CanaryConfig = { ...o.config, maxHours: Number.POSITIVE_INFINITY }
  const random = seededRandom(o.seed)
  const counts: Record<CanaryDecisionKind, number> = {
    continue: 0,
    rollback: 0,
    promote: 0,
    keep: 0,
    stop: 0,
  }
  const decidedAt: number[] = []
  for (let r = 0; r < o.runs; r++) {
    const control = arm()
    const canary = arm()
    let decision: CanaryDecisionKind = 'continue'
    for (let look = 1; look <= maxLooks && decision === 'continue'; look++) {
      control.replies += batch
      canary.replies += batch
      control.badOutcomes += binomial(batch, o.controlRate, random)
      canary.badOutcomes += binomial(batch, o.canaryRate, random)
      decision = rule({ control, canary, elapsedHours: look }, config).decision
    }
    counts[decision]++
    if (decision !== 'continue') decidedAt.push(canary.replies)
  }
  decidedAt.sort((a, b) => a - b)
  const rates = Object.fromEntries(
    Object.entries(counts).map(([k, v]) => [k, v / o.runs]),
  ) as SimulationResult['rates']
  const mid =
    decidedAt.length === 0 ? Number.NaN : (decidedAt[Math.floor((decidedAt.length - 1) / 2)] as number)
  return { runs: o.runs, rates, medianRepliesToDecision: mid }
}

function arm() {
  return { replies: 0, badOutcomes: 0, positiveReactions: 0, fallbacks: 0, sendFailures: 0 }
}
