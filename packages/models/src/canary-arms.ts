/**
 * One arm of the canary (pure): its counts, the per-reply rates shown by `GET /admin/canary`,
 * and the hard guards — absolute thresholds on the canary arm, checked before any statistics.
 */

/** Cumulative counts of one arm since the canary started. Every rate is per bot reply. */
export interface ArmCounts {
  /** Bot replies produced by this arm (the denominator of every rate). */
  replies: number
  /** Bad outcomes: a human takeover within 30 min of a bot reply, or a negative reaction. */
  badOutcomes: number
  positiveReactions: number
  /** Replies that were the fallback answer. */
  fallbacks: number
  /** Replies that failed to send. */
  sendFailures: number
  /** p99 reply latency so far, ms (0 or omitted when unknown). */
  p99LatencyMs?: number
  /** Mean cost per reply, USD (omitted when unknown). */
  costPerReplyUsd?: number
}

export type CanaryGuard = 'sendFailureRate' | 'fallbackRate' | 'p99LatencyMs' | 'costPerReplyUsd'

export interface ArmSummary {
  replies: number
  badOutcomes: number
  badRate: number
  positiveRate: number
  fallbackRate: number
  sendFailureRate: number
  p99LatencyMs: number | null
  costPerReplyUsd: number | null
}

/** The hard-guard thresholds (see `CanaryConfig` for meanings and defaults). */
export interface GuardThresholds {
  guardMinReplies: number
  maxSendFailureRate: number
  maxFallbackRate: number
  maxP99LatencyMs: number
  maxCostPerReplyUsd: number | null
}

export function summariseArm(a: ArmCounts): ArmSummary {
  const n = a.replies
  return {
    replies: a.replies,
    badOutcomes: a.badOutcomes,
    badRate: perReply(a.badOutcomes, n),
    positiveRate: perReply(a.positiveReactions, n),
    fallbackRate: perReply(a.fallbacks, n),
    sendFailureRate: perReply(a.sendFailures, n),
    p99LatencyMs: a.p99LatencyMs ? a.p99LatencyMs : null,
    costPerReplyUsd: a.costPerReplyUsd ?? null,
  }
}

/** Hard guards on the canary arm alone: absolute thresholds, checked before any statistics. */
export function checkGuards(
  s: ArmSummary,
  c: GuardThresholds,
): { guard: CanaryGuard; reason: string } | null {
  if (s.replies < c.guardMinReplies) return null
  if (s.sendFailureRate > c.maxSendFailureRate) {
    return {
      guard: 'sendFailureRate',
      reason: `stop: canary send-failure rate ${pct(s.sendFailureRate)} > ${pct(c.maxSendFailureRate)}`,
    }
  }
  if (s.fallbackRate > c.maxFallbackRate) {
    return {
      guard: 'fallbackRate',
      reason: `stop: canary fallback rate ${pct(s.fallbackRate)} > ${pct(c.maxFallbackRate)}`,
    }
  }
  if (s.p99LatencyMs !== null && s.p99LatencyMs > c.maxP99LatencyMs) {
    return {
      guard: 'p99LatencyMs',
      reason: `stop: canary p99 latency ${s.p99LatencyMs} ms > ${c.maxP99LatencyMs} ms`,
    }
  }
  if (
    c.maxCostPerReplyUsd !== null &&
    s.costPerReplyUsd !== null &&
    s.costPerReplyUsd > c.maxCostPerReplyUsd
  ) {
    return {
      guard: 'costPerReplyUsd',
      reason: `stop: canary cost per reply $${s.costPerReplyUsd} > $${c.maxCostPerReplyUsd}`,
    }
  }
  return null
}

function perReply(x: number, replies: number): number {
  return replies > 0 ? x / replies : 0
}

export const pct = (x: number) => `${(x * 100).toFixed(1)}%`
