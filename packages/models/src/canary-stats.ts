/**
 * The statistics under the canary decision (pure, no I/O): the estimate of the difference of two
 * bad-outcome rates, its variance, and two half-widths around it — the always-valid
 * normal-mixture confidence sequence the canary uses, and the fixed-sample Wald interval that is
 * only valid when you look once (kept for the bench and the peeking test).
 *
 * Method (Robbins' normal mixture; the mSPRT of Johari, Pekelis & Walsh 2017, "Always valid
 * inference", and Howard, Ramdas, McAuliffe & Sekhon 2021, eq. for the two-sided normal mixture):
 * with Δ̂ ≈ N(Δ, V), mixing the likelihood ratio over Δ ~ N(0, τ²) gives a non-negative
 * martingale; Ville's inequality bounds the chance it ever exceeds 1/α by α, which turns into
 * the time-uniform interval Δ̂ ± sqrt(V(V+τ²)/τ² · (ln((V+τ²)/V) + 2 ln(1/α))).
 */

/** Counts of one arm that the test needs. */
export interface RateCounts {
  /** Bot replies in the arm (the denominator). */
  replies: number
  /** Bad outcomes among them (takeover within 30 min, or a negative reaction). */
  bad: number
}

export interface DifferenceEstimate {
  /** Observed canary bad rate − control bad rate. */
  difference: number
  /** Plug-in variance of `difference` (smoothed rates, so never 0). */
  variance: number
  /** sqrt(variance). */
  stdError: number
}

/**
 * Δ̂ = p̂_canary − p̂_control with variance Σ p̃(1−p̃)/n. The variance uses the add-one smoothed
 * rate p̃ = (bad+1)/(replies+2) so an arm with 0 bad outcomes so far does not claim certainty.
 */
export function estimateDifference(control: RateCounts, canary: RateCounts): DifferenceEstimate {
  const rate = (a: RateCounts) => (a.replies > 0 ? a.bad / a.replies : 0)
  const armVar = (a: RateCounts) => {
    const p = (a.bad + 1) / (a.replies + 2)
    return (p * (1 - p)) / Math.max(1, a.replies)
  }
  const variance = armVar(control) + armVar(canary)
  return { difference: rate(canary) - rate(control), variance, stdError: Math.sqrt(variance) }
}

/**
 * Half-width of the two-sided (1−α) normal-mixture confidence sequence: valid at every look at
 * once, however often you look. `mixtureSd` (τ) is the spread of effects the mixture bets on,
 * in absolute rate units; the interval is tightest when V ≈ τ²/(a few), i.e. sized for effects
 * of about τ.
 */
export function mixtureHalfWidth(variance: number, alpha: number, mixtureSd: number): number {
  const tau2 = mixtureSd * mixtureSd
  return Math.sqrt(
    ((variance * (variance + tau2)) / tau2) *
      (Math.log((variance + tau2) / variance) + 2 * Math.log(1 / alpha)),
  )
}

/**
 * Log of the mixture likelihood ratio (the mSPRT statistic) against H0: Δ = `null`. It crosses
 * ln(1/α) exactly when `null` leaves the (1−α) confidence sequence; 1/exp(it) is the
 * always-valid p-value.
 */
export function mixtureLogLR(estimate: DifferenceEstimate, nullDiff: number, mixtureSd: number): number {
  const { variance: v, difference } = estimate
  const tau2 = mixtureSd * mixtureSd
  const d = difference - nullDiff
  return 0.5 * Math.log(v / (v + tau2)) + (tau2 * d * d) / (2 * v * (v + tau2))
}

/** Half-width of the fixed-sample two-sided (1−α) Wald interval: valid for ONE look only. */
export function fixedHalfWidth(variance: number, alpha: number): number {
  return normalQuantile(1 - alpha / 2) * Math.sqrt(variance)
}

/**
 * Inverse standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9).
 * @param p probability in (0, 1)
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile: p must be in (0, 1), got ${p}`)
  const a = [
    -39.69683028665376, 220.9460984245205, -275.928510446969, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ]
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572]
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ]
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416]
  const poly = (k: number[], x: number) => k.reduce((acc, ki) => acc * x + ki, 0)
  const low = 0.02425
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p))
    return poly(c, q) / (poly(d, q) * q + 1)
  }
  if (p > 1 - low) return -normalQuantile(1 - p)
  const q = p - 0.5
  const r = q * q
  return (poly(a, r) * q) / (poly(b, r) * r + 1)
}
