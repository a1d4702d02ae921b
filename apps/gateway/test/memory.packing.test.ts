import { countTokens } from '@loopdm/platform/tokens'
import { describe, expect, it } from 'vitest'
import { type MemoryTurn, messageTokens, packTurns, summarise } from '../src/services/memory.packing.js'

/** The pure parts of memory: the bounded summary and the token-budget packing. */

let nextId = 1
const turn = (content: string, minutesAgo: number, over: Partial<MemoryTurn> = {}): MemoryTurn => ({
  id: nextId++,
  role: 'user',
  content,
  contentSummary: summarise(content),
  createdAt: new Date(Date.now() - minutesAgo * 60_000),
  ...over,
})

describe('summarise', () => {
  it('leaves short turns alone', () => {
    expect(summarise('short text')).toBeNull()
  })

  it('keeps whole leading sentences within the bound', () => {
    const text = `${'First sentence here. '.repeat(5)}${'x'.repeat(400)}`
    const s = summarise(text) as string
    expect(s.length).toBeLessThanOrEqual(280)
    expect(s.startsWith('First sentence here.')).toBe(true)
    expect(s.endsWith('.')).toBe(true)
  })

  it('cuts one endless sentence at a word boundary with an ellipsis', () => {
    const s = summarise('word '.repeat(200)) as string
    expect(s.length).toBeLessThanOrEqual(280)
    expect(s.endsWith('…')).toBe(true)
  })
})

describe('packTurns', () => {
  describe('when everything fits', () => {
    it('returns recent and recalled turns once each, chronologically', () => {
      const old = turn('old relevant', 600)
      const r1 = turn('recent one', 5)
      const r2 = turn('recent two', 1, { role: 'assistant' })
      const sut = packTurns({ recent: [r2, r1], recalled: [old, r1], maxTokens: 800 })
      expect(sut.messages.map((m) => m.content)).toEqual(['old relevant', 'recent one', 'recent two'])
      expect(sut.recalled).toBe(1)
      expect(sut.recent).toBe(2)
      expect(sut.messages[2]?.role).toBe('assistant')
    })
  })

  describe('when the budget is tight', () => {
    it('never exceeds it by real token count, whatever the turns (randomised)', () => {
      let seed = 7
      const rand = () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31
        return seed / 2 ** 31
      }
      const words = ['linen', 'dress', 'größe', '🙂', 'order', '4471', 'shipping', 'Zürich', 'ok', 'thanks!']
      for (let round = 0; round < 200; round++) {
        const mk = () =>
          turn(
            Array.from(
              { length: 1 + Math.floor(rand() * 120) },
              () => words[Math.floor(rand() * words.length)],
            ).join(' '),
            Math.floor(rand() * 10_000),
          )
        const recent = Array.from({ length: Math.floor(rand() * 5) }, mk)
        const recalled = Array.from({ length: Math.floor(rand() * 9) }, mk)
        const maxTokens = Math.floor(rand() * 900)
        const sut = packTurns({ recent, recalled, maxTokens })
        const billed = sut.messages.reduce((s, m) => s + messageTokens(m), 0)
        expect(billed).toBe(sut.tokens)
        expect(billed).toBeLessThanOrEqual(maxTokens)
        expect(sut.messages.reduce((s, m) => s + countTokens(m.content), 0)).toBeLessThanOrEqual(maxTokens)
      }
    })

    it('prefers the live conversation, newest first, then the newest recalled turns', () => {
      const recalledOld = turn('recalled older about the dress', 900)
      const recalledNew = turn('recalled newer about the dress', 800)
      const recent = turn('the latest message', 1)
      const budget =
        messageTokens({ role: 'user', content: recent.content }) +
        messageTokens({ role: 'user', content: recalledNew.content })
      const sut = packTurns({ recent: [recent], recalled: [recalledOld, recalledNew], maxTokens: budget })
      expect(sut.messages.map((m) => m.content)).toEqual([
        'recalled newer about the dress',
        'the latest message',
      ])
    })

    it('falls back to the content_summary of a long turn that does not fit whole', () => {
      const long = turn(
        `My order is 4471. ${'It is a long story about the dress and the linen. '.repeat(40)}`,
        100,
      )
      const sut = packTurns({ recent: [], recalled: [long], maxTokens: 120 })
      expect(sut.messages).toHaveLength(1)
      expect(sut.messages[0]?.content).toBe(long.contentSummary)
      expect(sut.tokens).toBeLessThanOrEqual(120)
    })

    it('returns nothing for a zero budget', () => {
      expect(packTurns({ recent: [turn('a', 1)], recalled: [], maxTokens: 0 }).messages).toEqual([])
    })
  })
})
