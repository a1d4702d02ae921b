import {
  type ArmCounts,
  type CanaryInput,
  canaryArm,
  decideCanary,
  naiveFixedSampleDecision,
} from '@loopdm/models/canary-decision'
import { binomial, seededRandom, simulateCanary } from '@loopdm/models/canary-sim'
import { fixedHalfWidth, mixtureHalfWidth, normalQuantile } from '@loopdm/models/canary-stats'
import { describe, expect, it } from 'vitest'

const arm = (overrides: Partial<ArmCounts> = {}): ArmCounts => ({
  replies: 2000,
  badOutcomes: 200,
  positiveReactions: 300,
  fallbacks: 10,
  sendFailures: 2,
  p99LatencyMs: 1800,
  costPerReplyUsd: 0.0004,
  ...overrides,
})
const input = (control: Partial<ArmCounts>, canary: Partial<ArmCounts>, elapsedHours = 5): CanaryInput => ({
  control: arm(control),
  canary: arm(canary),
  elapsedHours,
})

describe('canaryArm', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `psn_${i.toString(36)}`)

  it('puts a customer on the same side at every call', () => {
    for (const key of keys.slice(0, 500)) {
      expect(canaryArm(key, 10, 'cand-42')).toBe(canaryArm(key, 10, 'cand-42'))
    }
  })

  it('splits about percent of 10k keys onto the canary', () => {
    for (const percent of [10, 50]) {
      const share = keys.filter((k) => canaryArm(k, percent, 'cand-42') === 'canary').length / keys.length
      // 4 standard errors of a binomial share over 10k keys: ±1.2 pt at 10 %, ±2 pt at 50 %.
      const tolerance = 4 * Math.sqrt(((percent / 100) * (1 - percent / 100)) / keys.length)
      expect(Math.abs(share - percent / 100)).toBeLessThan(tolerance)
    }
  })

  it('sends nobody at 0 % and everybody at 100 %, and rejects a percent out of range', () => {
    expect(keys.slice(0, 200).every((k) => canaryArm(k, 0, 's') === 'control')).toBe(true)
    expect(keys.slice(0, 200).every((k) => canaryArm(k, 100, 's') === 'canary')).toBe(true)
    expect(() => canaryArm('k', 101, 's')).toThrow(RangeError)
  })

  it('reshuffles customers under a different salt', () => {
    const a = keys.map((k) => canaryArm(k, 50, 'canary-1'))
    const b = keys.map((k) => canaryArm(k, 50, 'canary-2'))
    const agree = a.filter((side, i) => side === b[i]).length / keys.length
    // Independent halves agree ~50 % of the time; an unsalted hash would agree 100 %.
    expect(agree).toBeGreaterThan(0.46)
    expect(agree).toBeLessThan(0.54)
  })
})

describe('decideCanary', () => {
  describe('when the canary is much worse', () => {
    it('rolls back with the bounds above zero', () => {
      const sut = decideCanary(input({ badOutcomes: 200 }, { badOutcomes: 400 }))
      expect(sut.decision).toBe('rollback')
      expect(sut.test?.lower).toBeGreaterThan(0)
      expect(sut.test?.difference).toBeCloseTo(0.1, 10)
      expect(sut.test?.logLR).toBeGreaterThan(Math.log(1 / 0.05))
      expect(sut.reason).toMatch(/^rollback: canary clearly worse/)
    })
  })

  describe('when both arms are equal', () => {
    it('promotes under the default non-inferiority rule once the upper bound is below the margin', () => {
      const sut = decideCanary(
        input({ replies: 6000, badOutcomes: 600 }, { replies: 6000, badOutcomes: 600 }),
      )
      expect(sut.decision).toBe('promote')
      expect(sut.test?.upper).toBeLessThan(0.02)
    })

    it('keeps current under the superior rule (equal within ±margin, not better)', () => {
      const sut = decideCanary(
        input({ replies: 6000, badOutcomes: 600 }, { replies: 6000, badOutcomes: 600 }),
        {
          promoteWhen: 'superior',
        },
      )
      expect(sut.decision).toBe('keep')
      expect(sut.reason).toMatch(/^keep current: canary equal/)
    })

    it('continues while the evidence is thin, then keeps current at maxHours and says so', () => {
      const thin = input({ replies: 400, badOutcomes: 40 }, { replies: 400, badOutcomes: 40 }, 10)
      expect(decideCanary(thin, { maxHours: 48 }).decision).toBe('continue')
      const sut = decideCanary({ ...thin, elapsedHours: 48 }, { maxHours: 48 })
      expect(sut.decision).toBe('keep')
      expect(sut.reason).toMatch(/^keep current: not better after 400 replies per arm/)
    })
  })

  describe('when the canary is better', () => {
    it('promotes, under either rule', () => {
      const better = input({ badOutcomes: 300 }, { badOutcomes: 150 })
      expect(decideCanary(better).decision).toBe('promote')
      expect(decideCanary(better, { promoteWhen: 'superior' }).decision).toBe('promote')
      expect(decideCanary(better).test?.upper).toBeLessThan(0)
    })
  })

  describe('before minReplies per arm', () => {
    it('continues without a statistic even when the canary looks terrible', () => {
      const sut = decideCanary(input({ replies: 100, badOutcomes: 5 }, { replies: 100, badOutcomes: 60 }))
      expect(sut.decision).toBe('continue')
      expect(sut.test).toBeNull()
    })
  })

  describe('when a hard guard trips', () => {
    it.each([
      ['sendFailureRate', { sendFailures: 5 }, /send-failure rate 10\.0% > 5\.0%/],
      ['fallbackRate', { fallbacks: 13 }, /fallback rate 26\.0% > 20\.0%/],
      ['p99LatencyMs', { p99LatencyMs: 20_000 }, /p99 latency 20000 ms > 15000 ms/],
    ] as const)('stops at once on %s, before minReplies, naming it', (guard, canary, reason) => {
      const healthy = { replies: 50, badOutcomes: 5, fallbacks: 0, sendFailures: 0 }
      const sut = decideCanary(input(healthy, { ...healthy, ...canary }))
      expect(sut.decision).toBe('stop')
      expect(sut.guard).toBe(guard)
      expect(sut.reason).toMatch(reason)
    })

    it('stops on cost per reply only when that guard is configured', () => {
      const pricey = input({}, { costPerReplyUsd: 0.01 })
      expect(decideCanary(pricey).decision).not.toBe('stop')
      expect(decideCanary(pricey, { maxCostPerReplyUsd: 0.002 }).guard).toBe('costPerReplyUsd')
    })
  })

  it('returns a plain JSON-serialisable object', () => {
    const sut = decideCanary(input({}, { badOutcomes: 260 }))
    expect(JSON.parse(JSON.stringify(sut))).toEqual(sut)
  })

  it('rejects an alpha outside (0, 1)', () => {
    expect(() => decideCanary(input({}, {}), { alpha: 0 })).toThrow(RangeError)
  })
})

describe('canary-stats', () => {
  it('normalQuantile matches known quantiles', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5)
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9)
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326348, 5)
  })

  it('the confidence sequence is wider than the one-look interval, and both shrink with data', () => {
    for (const v of [1e-3, 1e-4, 1e-5])
      expect(mixtureHalfWidth(v, 0.05, 0.03)).toBeGreaterThan(fixedHalfWidth(v, 0.05))
    expect(mixtureHalfWidth(1e-5, 0.05, 0.03)).toBeLessThan(mixtureHalfWidth(1e-4, 0.05, 0.03))
  })

  it('binomial draws have mean n·p', () => {
    const random = seededRandom(7)
    let sum = 0
    for (let i = 0; i < 20_000; i++) sum += binomial(50, 0.1, random)
    expect(sum / 20_000).toBeGreaterThan(4.9)
    expect(sum / 20_000).toBeLessThan(5.1)
  })
})

describe('peeking: equal rates, a look after every batch of 50 replies per arm', () => {
  // 600 canaries × up to 60 looks (3 000 replies per arm), base bad rate 10 %, α = 0.05.
  const sim = { controlRate: 0.1, canaryRate: 0.1, runs: 600, maxLooks: 60, seed: 19 }
  const alpha = 0.05

  it('keeps the sequential rule’s false-rollback rate at or below α', () => {
    const sut = simulateCanary(decideCanary, sim)
    // + 1 standard error of a 5 % rate over 600 runs as Monte-Carlo slack.
    expect(sut.rates.rollback).toBeLessThanOrEqual(alpha + Math.sqrt((alpha * (1 - alpha)) / sim.runs))
  })

  it('lets a naive fixed-sample test checked at every look exceed α', () => {
    const naive = simulateCanary(naiveFixedSampleDecision, sim)
    expect(naive.rates.rollback).toBeGreaterThan(alpha + 2 * Math.sqrt((alpha * (1 - alpha)) / sim.runs))
  })
})
