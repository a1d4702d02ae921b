import { addPiiCounts, redactPII } from '@loopdm/training-data/redaction'
import { describe, expect, it } from 'vitest'
import { REDACTION_CORPUS, type RedactionCase } from './redaction.corpus.js'
import { REDACTION_HELDOUT } from './redaction.heldout.js'
import { type HeldoutClass, REDACTION_HELDOUT2 } from './redaction.heldout2.js'
import { scoreRedaction } from './redaction.score.js'

describe('redactPII', () => {
  /** Scores `corpus`, printing the figures and every miss or false alarm. */
  const scored = (name: string, corpus: RedactionCase[]) => {
    const sut = scoreRedaction(corpus)
    console.log(
      `redaction ${name}: ${sut.cases} cases, ${sut.tp + sut.fn} PII spans — recall ${sut.recall.toFixed(3)}, precision ${sut.precision.toFixed(3)} (tp ${sut.tp}, fp ${sut.fp}, fn ${sut.fn})`,
    )
    for (const f of sut.failures)
      console.log(`  miss/false alarm: ${JSON.stringify(f.text)} → ${JSON.stringify(f.got)}`)
    return sut
  }

  describe('on the labelled corpus', () => {
    it('scores recall ≥ 0.98 and precision ≥ 0.97', () => {
      const sut = scored('corpus', REDACTION_CORPUS)
      expect(REDACTION_CORPUS.length).toBeGreaterThanOrEqual(100)
      expect(sut.recall).toBeGreaterThanOrEqual(0.98)
      expect(sut.precision).toBeGreaterThanOrEqual(0.97)
    })
  })

  describe('on the held-out corpus (written without looking at the rules)', () => {
    it('scores recall ≥ 0.98 and precision ≥ 0.98', () => {
      const sut = scored('held-out', REDACTION_HELDOUT)
      expect(REDACTION_HELDOUT.length).toBeGreaterThanOrEqual(120)
      expect(sut.recall).toBeGreaterThanOrEqual(0.98)
      expect(sut.precision).toBeGreaterThanOrEqual(0.98)
    })
  })

  describe('on the second held-out corpus, class by class', () => {
    /** The text with every labelled span replaced by its placeholder, in order. */
    const expected = (c: RedactionCase) => c.pii.reduce((t, [type, v]) => t.replace(v, `[${type}]`), c.text)
    const classes = Object.entries(REDACTION_HELDOUT2) as Array<[HeldoutClass, RedactionCase[]]>
    it('holds at least 60 sentences', () => {
      expect(classes.reduce((n, [, cs]) => n + cs.length, 0)).toBeGreaterThanOrEqual(60)
    })
    it.each(classes)('%s: every span replaced by its type, nothing else changed', (name, cases) => {
      const sut = scored(`held-out 2 / ${name}`, cases)
      expect(sut.fn).toBe(0)
      expect(sut.fp).toBe(0)
      for (const c of cases) expect(redactPII(c.text).text, c.text).toBe(expected(c))
    })
  })

  describe('when the text mixes PII types', () => {
    it('replaces each with its typed placeholder and counts them', () => {
      const sut = redactPII(
        'I am @sofia.m, sofia@gmx.net, +49 170 1234567, shop.de, 4111 1111 1111 1111, DE89370400440532013000',
      )
      expect(sut.text).toBe('I am [HANDLE], [EMAIL], [PHONE], [URL], [CARD], [IBAN]')
      expect(sut.counts).toEqual({ HANDLE: 1, EMAIL: 1, PHONE: 1, URL: 1, CARD: 1, IBAN: 1 })
    })
  })

  describe('when the text has look-alikes only', () => {
    it('leaves prices, times, dates, order numbers, sizes, versions and filenames alone', () => {
      const text = '€49.99 at 10:30 on 2024-05-01, order #48213, size 38, v2.3.1, invoice.pdf'
      expect(redactPII(text)).toEqual({ text, counts: {} })
    })
    it('keeps card and IBAN look-alikes that fail their checksums', () => {
      const text = '4111 1111 1111 1112 / DE89 3704 0044 0532 0130 01'
      expect(redactPII(text).text).toBe(text)
    })
  })

  describe('when numbers are joined by " - " or " / "', () => {
    it('judges each side: one phone, two phones, or a date range', () => {
      expect(redactPII('Tel. 0211 - 55 66 77 oder 030 1234567 - 0172 9988776').text).toBe(
        'Tel. [PHONE] oder [PHONE] - [PHONE]',
      )
      const text = 'weg vom 01.03.26 - 05.03.26, Bestellnummer 100234561 / 100234562'
      expect(redactPII(text).text).toBe(text)
    })
  })

  describe('when " at " is an everyday word', () => {
    it('takes a spelled-out address only with a separator in the name or a mail provider', () => {
      expect(redactPII('anna at gmail dot com / look at zara dot com').text).toBe(
        '[EMAIL] / look at zara dot com',
      )
    })
  })

  it('adds counts', () => {
    expect(addPiiCounts({ EMAIL: 1 }, { EMAIL: 2, URL: 1 })).toEqual({ EMAIL: 3, URL: 1 })
  })
})
