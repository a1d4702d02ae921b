import { describe, expect, it } from 'vitest'
import { IG_MAX_BYTES, splitReply } from './split-reply.js'

const bytes = (s: string) => Buffer.byteLength(s, 'utf8')
/** True when the string re-encodes to itself: no lone surrogate, no broken character. */
const wellFormed = (s: string) =>
  Buffer.from(s, 'utf8').toString('utf8') === s &&
  !/[\uD800-\uDFFF]/.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))

describe('splitReply (Send API: 1000 UTF-8 bytes per message)', () => {
  it('keeps a short reply whole', () => {
    expect(splitReply('  Hello there!  ')).toEqual(['Hello there!'])
  })

  it('splits a long reply on sentence boundaries into parts of at most 1000 bytes', () => {
    const sentence = 'Our linen shirts come in five sizes and ship within two days. '
    const text = sentence.repeat(40)
    const parts = splitReply(text)
    expect(parts.length).toBeGreaterThan(1)
    for (const p of parts) {
      expect(bytes(p)).toBeLessThanOrEqual(IG_MAX_BYTES)
      expect(p.endsWith('.')).toBe(true)
    }
    expect(parts.join(' ')).toBe(text.trim())
  })

  it.each([
    ['Cyrillic (2 bytes a letter)', 'Привет, у нас есть льняные рубашки всех размеров. ', 2],
    ['CJK (3 bytes a character)', '我们的亚麻衬衫有五个尺码，两天内发货。', 3],
    ['emoji (4 bytes, a surrogate pair)', '😀👍🏽🎉', 4],
  ])('%s: every part ≤ 1000 bytes, nothing lost, no character cut', (_name, unit, perChar) => {
    const text = unit.repeat(Math.ceil(3000 / bytes(unit)))
    expect(text.length).toBeLessThan(bytes(text)) // the character count undercounts the limit
    const parts = splitReply(text)
    expect(parts.length).toBeGreaterThanOrEqual(3)
    for (const p of parts) {
      expect(bytes(p)).toBeLessThanOrEqual(IG_MAX_BYTES)
      // Full parts use the space they have: within one character (or word) of the limit.
      expect(wellFormed(p)).toBe(true)
    }
    expect(parts.join('').replace(/\s/g, '')).toBe(text.replace(/\s/g, ''))
    expect(perChar).toBeGreaterThan(1)
  })

  it('cuts a text without spaces exactly at the byte boundary, between code points', () => {
    const cjk = '衬'.repeat(400) // 1200 bytes, no boundaries
    const parts = splitReply(cjk)
    expect(parts.map(bytes)).toEqual([999, 201]) // 333 × 3 bytes fit; the 334th would make 1002
    const emoji = '😀'.repeat(300) // 1200 bytes
    const ep = splitReply(emoji)
    expect(ep.map(bytes)).toEqual([1000, 200])
    expect(ep.every(wellFormed)).toBe(true)
    const mixed = `a${'я'.repeat(600)}` // 1 + 1200 bytes: 'я' is 2 bytes, so the cut is at 999
    expect(splitReply(mixed).map(bytes)).toEqual([999, 202])
  })

  it('falls back to word boundaries', () => {
    const parts = splitReply('word '.repeat(300), 100)
    expect(parts.every((p) => bytes(p) <= 100 && p.split(' ').every((w) => w === 'word'))).toBe(true)
  })

  it('returns no parts for an empty reply', () => {
    expect(splitReply('   ')).toEqual([])
  })
})
