/**
 * The canary's decision core (pure, no I/O): given the cumulative counts of both arms, decide
 * `rollback | promote | keep | continue | stop`, and return the numbers behind it as a plain
 * JSON-serialisable object for `GET /admin/canary` and the promotion log. The caller counts;
 * this module judges. It is stateless: call it at every look with the counts so far — the
 * confidence sequence stays valid however often you look (see canary-stats.ts).
 */
import { createHash } from 'node:crypto'
import {
  type ArmCounts,
  type ArmSummary,
  type CanaryGuard,
  checkGuards,
  pct,
  summariseArm,
} from './canary-arms.js'
import {
  type DifferenceEstimate,
  estimateDifference,
  fixedHalfWidth,
  mixtureHalfWidth,
  mixtureLogLR,
} from './canary-stats.js'

export type { ArmCounts, ArmSummary, CanaryGuard } from './canary-arms.js'

export type CanaryArm = 'canary' | 'control'

export interface CanaryInput {
  control: ArmCounts
  canary: ArmCounts
  /** Hours since the canary started. */
  elapsedHours: number
}

export interface CanaryConfig {
  /** Replies per arm before any statistical decision (guards apply earlier). Default 200. */
  minReplies?: number
  /** Hours after which an undecided canary ends as `keep`. Default 72. */
  maxHours?: number
  /** Non-inferiority margin δ on the bad-outcome rate, absolute (0.02 = 2 points). Default 0.02. */
  margin?: number
  /** Chance of a false rollback (canary called worse when it is not), over the whole canary. Default 0.05. */
  alpha?: number
  /** Chance of a false promotion (canary called within the margin when it is worse by more). Default 0.1. */
  beta?: number
  /**
   * `nonInferior`: promote once the canary is shown no worse than control + margin.
   * `superior`: promote only once it is shown better; shown equal within ±margin → `keep`. Default `nonInferior`.
   */
  promoteWhen?: 'nonInferior' | 'superior'
  /** Spread τ of the effects the normal mixture is tuned for, absolute rate. Default 0.03. */
  mixtureSd?: number
  /** Stop when the canary's send-failure rate exceeds this (fraction of replies). Default 0.05. */
  maxSendFailureRate?: number
  /** Stop when the canary's fallback rate exceeds this (fraction of replies). Default 0.2. */
  maxFallbackRate?: number
  /** Stop when the canary's p99 latency exceeds this, ms. Default 15 000. */
  maxP99LatencyMs?: number
  /** Stop when the canary's cost per reply exceeds this, USD. Default off. */
  maxCostPerReplyUsd?: number
  /** Replies the canary needs before a rate or latency guard can trip (one early failure is noise). Default 20. */
  guardMinReplies?: number
}

export type CanaryDecisionKind = 'continue' | 'rollback' | 'promote' | 'keep' | 'stop'
export interface CanaryTestResult {
  method: 'normal-mixture-confidence-sequence' | 'fixed-sample-wald'
  /** Observed canary bad rate − control bad rate. */
  difference: number
  stdError: number
  /** Lower end of the (1−α) bound on the true difference; > 0 means clearly worse. */
  lower: number
  /** Upper end of the (1−β) bound on the true difference; < margin means not worse by the margin. */
  upper: number
  /** (difference − 0) / stdError, for display. */
  z: number
  /** mSPRT log-likelihood ratio against "no difference"; rollback needs > ln(1/α) and difference > 0. */
  logLR: number
  /** mSPRT log-likelihood ratio against "worse by exactly the margin". */
  logLRMargin: number
  /** Always-valid p-value for "no difference" (min(1, e^−logLR)). */
  pValue: number
  alpha: number
  beta: number
  margin: number
  mixtureSd: number
}

export interface CanaryDecision {
  decision: CanaryDecisionKind
  /** One human sentence naming why, e.g. "stop: canary send-failure rate 8.0% > 5.0%". */
  reason: string
  /** Set when `decision` is `stop`. */
  guard: CanaryGuard | null
  elapsedHours: number
  arms: { control: ArmSummary; canary: ArmSummary }
  /** Null before `minReplies` per arm (no statistic is shown before it can be acted on). */
  test: CanaryTestResult | null
  config: Required<Omit<CanaryConfig, 'maxCostPerReplyUsd'>> & { maxCostPerReplyUsd: number | null }
}

const DEFAULTS = {
  minReplies: 200,
  maxHours: 72,
  margin: 0.02,
  alpha: 0.05,
  beta: 0.1,
  promoteWhen: 'nonInferior' as 'nonInferior' | 'superior',
  mixtureSd: 0.03,
  maxSendFailureRate: 0.05,
  maxFallbackRate: 0.2,
  maxP99LatencyMs: 15_000,
  guardMinReplies: 20,
}

type ResolvedConfig = CanaryDecision['config']
type HalfWidth = (variance: number, level: number, config: ResolvedConfig) => number

/**
 * Decides the canary at one look, with the always-valid normal-mixture confidence sequence.
 * Order: hard guards → `minReplies` → rollback → promote → keep (equivalence, `superior` only)
 * → `maxHours` → continue.
 */
export function decideCanary(input: CanaryInput, config: CanaryConfig = {}): CanaryDecision {
  return decide(input, resolveConfig(config), 'normal-mixture-confidence-sequence', mixtureWidth)
}

/**
 * The same rule with a fixed-sample Wald interval instead of the confidence sequence. NOT valid
 * when looked at more than once — it exists so the bench and tests can show what peeking does.
 */
export function naiveFixedSampleDecision(input: CanaryInput, config: CanaryConfig = {}): CanaryDecision {
  return decide(input, resolveConfig(config), 'fixed-sample-wald', fixedWidth)
}

function mixtureWidth(variance: number, level: number, c: ResolvedConfig): number {
  return mixtureHalfWidth(variance, level, c.mixtureSd)
}

function fixedWidth(variance: number, level: number): number {
  return fixedHalfWidth(variance, level)
}

function resolveConfig(config: CanaryConfig): ResolvedConfig {
  const d = DEFAULTS
  const c: ResolvedConfig = {
    minReplies: config.minReplies ?? d.minReplies,
    maxHours: config.maxHours ?? d.maxHours,
    margin: config.margin ?? d.margin,
    alpha: config.alpha ?? d.alpha,
    beta: config.beta ?? d.beta,
    promoteWhen: config.promoteWhen ?? d.promoteWhen,
    mixtureSd: config.mixtureSd ?? d.mixtureSd,
    maxSendFailureRate: config.maxSendFailureRate ?? d.maxSendFailureRate,
    maxFallbackRate: config.maxFallbackRate ?? d.maxFallbackRate,
    maxP99LatencyMs: config.maxP99LatencyMs ?? d.maxP99LatencyMs,
    guardMinReplies: config.guardMinReplies ?? d.guardMinReplies,
    maxCostPerReplyUsd: config.maxCostPerReplyUsd ?? null,
  }
  if (!inUnit(c.alpha) || !inUnit(c.beta)) throw new RangeError('canary: alpha and beta must be in (0, 1)')
  if (!(c.margin >= 0 && c.margin < 1)) throw new RangeError('canary: margin must be in [0, 1)')
  if (!(c.mixtureSd > 0)) throw new RangeError('canary: mixtureSd must be > 0')
  if (!(c.minReplies >= 1)) throw new RangeError('canary: minReplies must be >= 1')
  return c
}

function decide(
  input: CanaryInput,
  c: ResolvedConfig,
  method: CanaryTestResult['method'],
  halfWidth: HalfWidth,
): CanaryDecision {
  const arms = { control: summariseArm(input.control), canary: summariseArm(input.canary) }
  const base = { elapsedHours: input.elapsedHours, arms, config: c }
  const tripped = checkGuards(arms.canary, c)
  if (tripped) return { ...base, decision: 'stop', reason: tripped.reason, guard: tripped.guard, test: null }

  const n = Math.min(input.control.replies, input.canary.replies)
  const timedOut = input.elapsedHours >= c.maxHours
  if (n < c.minReplies) {
    const reason = timedOut
      ? `keep current: only ${n} replies per arm after ${fmtHours(input.elapsedHours)} (minReplies ${c.minReplies})`
      : `continue: ${n}/${c.minReplies} replies per arm`
    return { ...base, decision: timedOut ? 'keep' : 'continue', reason, guard: null, test: null }
  }

  const est = estimateDifference(
    { replies: input.control.replies, bad: input.control.badOutcomes },
    { replies: input.canary.replies, bad: input.canary.badOutcomes },
  )
  const test = buildTest(est, c, method, halfWidth)
  const diff = `bad rate ${pct(arms.canary.badRate)} vs ${pct(arms.control.badRate)}`
  const bounds = `difference ${signedPct(test.difference)} in [${signedPct(test.lower)}, ${signedPct(test.upper)}]`
  const out = (decision: CanaryDecisionKind, reason: string): CanaryDecision => ({
    ...base,
    decision,
    reason,
    guard: null,
    test,
  })

  if (test.lower > 0) return out('rollback', `rollback: canary clearly worse, ${diff}, ${bounds}`)
  if (c.promoteWhen === 'nonInferior' && test.upper < c.margin) {
    return out('promote', `promote: canary not worse than control + ${pct(c.margin)}, ${diff}, ${bounds}`)
  }
  if (c.promoteWhen === 'superior' && test.upper < 0)
    return out('promote', `promote: canary better, ${diff}, ${bounds}`)
  if (c.promoteWhen === 'superior' && test.upper < c.margin && test.lower > -c.margin) {
    return out('keep', `keep current: canary equal within ±${pct(c.margin)}, not better, ${diff}, ${bounds}`)
  }
  if (timedOut) {
    return out(
      'keep',
      `keep current: not better after ${n} replies per arm (${fmtHours(input.elapsedHours)}), ${diff}, ${bounds}`,
    )
  }
  return out('continue', `continue: undecided after ${n} replies per arm, ${diff}, ${bounds}`)
}

function buildTest(
  est: DifferenceEstimate,
  c: ResolvedConfig,
  method: CanaryTestResult['method'],
  halfWidth: HalfWidth,
): CanaryTestResult {
  const logLR = mixtureLogLR(est, 0, c.mixtureSd)
  return {
    method,
    difference: est.difference,
    stdError: est.stdError,
    lower: est.difference - halfWidth(est.variance, c.alpha, c),
    upper: est.difference + halfWidth(est.variance, c.beta, c),
    z: est.difference / est.stdError,
    logLR,
    logLRMargin: mixtureLogLR(est, c.margin, c.mixtureSd),
    pValue: Math.min(1, Math.exp(-logLR)),
    alpha: c.alpha,
    beta: c.beta,
    margin: c.margin,
    mixtureSd: c.mixtureSd,
  }
}

/**
 * Which arm a customer is on: sha256(salt ‖ key) → first 4 bytes as uint32 / 2^32 < percent/100.
 * Stable for a given salt (one per canary), so a customer stays on one side for the whole canary
 * and every gateway agrees without coordination; a new salt reshuffles.
 * @param pseudonymousKey the customer's pseudonymous key (never the raw Instagram id)
 * @param percent share of customers on the canary, 0–100
 * @param salt per-canary salt, e.g. the candidate id
 */
export function canaryArm(pseudonymousKey: string, percent: number, salt: string): CanaryArm {
  if (!(percent >= 0 && percent <= 100))
    throw new RangeError(`canaryArm: percent must be in [0, 100], got ${percent}`)
  const digest = createHash('sha256').update(salt).update('\u0000').update(pseudonymousKey).digest()
  return digest.readUInt32BE(0) / 2 ** 32 < percent / 100 ? 'canary' : 'control'
}

function inUnit(x: number): boolean {
  return x > 0 && x < 1
}

const signedPct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}pt`
const fmtHours = (h: number) => `${Math.round(h * 10) / 10} h`
