import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadGold, parseGold } from '../src/services/gold.js'
import { detectPII } from '../src/services/pii.js'
import { checkFacts, decide, itemScore, normalizeForFacts, summarize } from '../src/services/scoring.js'

const GOLD_PATH = resolve(import.meta.dirname, '../../../evals/gold.jsonl')

describe('evals/gold.jsonl', () => {
  const gold = loadGold(GOLD_PATH)
  it('has at least 60 exchanges with unique ids covering every topic of a small shop', () => {
    expect(gold.items.length).toBeGreaterThanOrEqual(60)
    const cats = new Set(gold.items.map((i) => i.category))
    for (const c of [
      'prices',
      'sizes',
      'shipping',
      'returns',
      'hours',
      'order_status',
      'small_talk',
      'complaints',
    ])
      expect(cats).toContain(c)
  })
  it('states every required fact in its own ideal reply, and no ideal contains PII', () => {
    for (const item of gold.items) {
      expect(checkFacts(item.ideal, item.facts).missing, item.id).toEqual([])
      expect(detectPII(item.ideal), item.id).toEqual([])
      expect(item.ideal.length, item.id).toBeLessThanOrEqual(1000)
    }
  })
  it('rejects a malformed line naming it', () => {
    expect(() => parseGold('{"id":"a","messages":["hi"],"ideal":"x"}\n{"id":"b"}', 'g.jsonl')).toThrow(
      /g.jsonl:2/,
    )
    expect(() =>
      parseGold('{"id":"a","messages":["hi"],"ideal":"x"}\n{"id":"a","messages":["hi"],"ideal":"y"}'),
    ).toThrow(/duplicate id a/)
  })
})

describe('scoring', () => {
  it('matches facts across dash and case variants', () => {
    expect(normalizeForFacts('3–5 Business  Days')).toBe('3-5 business days')
    expect(
      checkFacts('Delivery takes 3 – 5 business days for €4.90', ['3-5 business days', '€4.90', '€60']),
    ).toEqual({
      recall: 2 / 3,
      missing: ['€60'],
    })
    expect(checkFacts('anything', [])).toEqual({ recall: null, missing: [] })
  })
  it('zeroes a reply that leaks PII and halves one over the Instagram limit', () => {
    const base = { similarity: 0.8, factRecall: 1, lengthOk: true, piiOk: true, judge: null }
    expect(itemScore(base)).toBeCloseTo(0.9)
    expect(itemScore({ ...base, piiOk: false })).toBe(0)
    expect(itemScore({ ...base, lengthOk: false })).toBeCloseTo(0.45)
  })
  it('gates on improvement and on every regression', () => {
    const row = (
      score: number,
      over: Partial<{ lengthOk: boolean; piiOk: boolean; factRecall: number }> = {},
    ) => ({
      similarity: score,
      factRecall: over.factRecall ?? 1,
      lengthOk: over.lengthOk ?? true,
      piiOk: over.piiOk ?? true,
      judge: null,
      score,
    })
    const current = summarize('cur', [row(0.5), row(0.5)])
    expect(decide(summarize('c', [row(0.6), row(0.6)]), current, 0.05).approved).toBe(true)
    expect(decide(summarize('c', [row(0.52), row(0.52)]), current, 0.05).reason).toMatch(/improvement/)
    expect(decide(summarize('c', [row(0.9), row(0.9, { lengthOk: false })]), current, 0.05).reason).toMatch(
      /length/,
    )
    expect(decide(summarize('c', [row(0.9), row(0.9, { factRecall: 0.5 })]), current, 0.05).reason).toMatch(
      /facts/,
    )
  })
})

describe('detectPII', () => {
  it('finds emails, phones, urls, handles and ignores prices, times and order numbers', () => {
    expect(detectPII('mail me at a.b@example.com')).toContain('EMAIL')
    expect(detectPII('call +49 151 2345 6789')).toContain('PHONE')
    expect(detectPII('see www.shop.de/x')).toContain('URL')
    expect(detectPII('ask @mira_knits')).toContain('HANDLE')
    expect(detectPII('€49, 10:00–18:00, order LL-10234, size 42–44, 3–5 days')).toEqual([])
  })
})

describe('holdout', () => {
  it('takes recent exported exchanges that are not in the candidate’s training file', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const { buildHoldout } = await import('../src/services/holdout.js')
    const dir = mkdtempSync(join(tmpdir(), 'holdout-'))
    const line = (u: string, a: string) =>
      JSON.stringify({
        messages: [
          { role: 'system', content: 's' },
          { role: 'user', content: u },
          { role: 'assistant', content: a },
        ],
      })
    writeFileSync(
      join(dir, 'fine_tune_2026-11-01.jsonl'),
      `${line('old q', 'old a')}\n${line('trained q', 'trained a')}\n`,
    )
    writeFileSync(
      join(dir, 'fine_tune_2026-11-02.jsonl'),
      `${line('new q', 'new a')}\n${line('trained q', 'trained a')}\n`,
    )
    const training = `${line('old q', 'old a')}\n${line('trained q', 'trained a')}\n`
    const items = buildHoldout({ exportDir: dir, size: 10, trainingText: training })
    expect(items.map((i) => i.ideal)).toEqual(['new a'])
    expect(items[0]?.source).toBe('holdout')
    // Without the training file there is no holdout: it could not be proven disjoint.
    expect(buildHoldout({ exportDir: dir, size: 10, trainingText: null })).toEqual([])
  })
})
