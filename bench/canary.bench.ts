/**
 * Canary decision rule on synthetic arms (issue 19): control bad-outcome rate 10 %, canary
 * 10 % + effect, a look after every 50 replies per arm, up to 120 looks (6 000 replies per arm),
 * minReplies 200, default margin/α/β. For each effect: the rate of the decision that matters
 * (false rollback at 0 %, rollback when worse, promote when better) and the median replies per
 * arm to a decision — the sequential rule (value) against the same rule with a naive
 * fixed-sample Wald interval checked at every look (baseline), same seed, same run.
 */
import { decideCanary, naiveFixedSampleDecision } from '@loopdm/models/canary-decision'
import { type SimulationOptions, simulateCanary } from '@loopdm/models/canary-sim'
import type { BenchRow } from './harness.js'

const BASE = 0.1
const RUNS = 1000
const ALPHA = 0.05
const EFFECTS = [0, 0.02, 0.05, 0.1, -0.02, -0.05, -0.1]

export default async function canaryBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = []
  for (const effect of EFFECTS) {
    const sim: SimulationOptions = {
      controlRate: BASE,
      canaryRate: BASE + effect,
      runs: RUNS,
      maxLooks: 120,
      seed: 19 + Math.round(effect * 1000),
      config: { minReplies: 200, alpha: ALPHA },
    }
    const seq = simulateCanary(decideCanary, sim)
    const naive = simulateCanary(naiveFixedSampleDecision, sim)
    const label = `canary ${effect >= 0 ? '+' : ''}${(effect * 100).toFixed(0)}%`
    const note = (r: typeof seq) =>
      `rollback ${pct(r.rates.rollback)} promote ${pct(r.rates.promote)} undecided ${pct(r.rates.continue)}`
    if (effect === 0) {
      rows.push({
        name: `${label} false-rollback rate`,
        value: seq.rates.rollback * 100,
        baseline: naive.rates.rollback * 100,
        unit: '%',
        better: 'lower',
        target: `value ≤ α = ${ALPHA * 100}%`,
        note: `seq: ${note(seq)}; naive: ${note(naive)}`,
      })
    } else {
      const kind = effect > 0 ? 'rollback' : 'promote'
      rows.push({
        name: `${label} ${kind} rate`,
        value: seq.rates[kind] * 100,
        baseline: naive.rates[kind] * 100,
        unit: '%',
        better: 'higher',
        note: `seq: ${note(seq)}; naive: ${note(naive)}`,
      })
    }
    if (effect === 0.02) {
      // Worse by exactly the margin: a promotion here is the β error.
      rows.push({
        name: `${label} false-promote rate (at margin)`,
        value: seq.rates.promote * 100,
        baseline: naive.rates.promote * 100,
        unit: '%',
        better: 'lower',
        target: 'value ≤ β = 10%',
      })
    }
    rows.push({
      name: `${label} median replies/arm to decision`,
      // Over runs that decided within 120 looks (undecided runs are in the rate row's note).
      value: seq.medianRepliesToDecision,
      baseline: naive.medianRepliesToDecision,
      unit: 'replies',
      better: 'lower',
    })
  }
  return rows
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`
