import { describe, expect, it } from 'vitest'
import { IG_MAX_CHARS, splitReply } from './split-reply.js'

describe('splitReply', () => {
  it('keeps a short reply whole', () => {
    expect(splitReply('  Hello there!  ')).toEqual(['Hello there!'])
  })

  it('splits a long reply on sentence boundaries into parts of at most 1000 chars', () => {
    const sentence = 'Our linen shirts come in five sizes and ship within two days. '
    const text = sentence.repeat(40)
    const parts = splitReply(text)
    expect(parts.length).toBeGreaterThan(1)
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(IG_MAX_CHARS)
      expect(p.endsWith('.')).toBe(true)
    }
    expect(parts.join(' ')).toBe(text.trim())
  })

  it('falls back to word boundaries, then a hard cut that keeps surrogate pairs intact', () => {
    const words = 'word '.repeat(300)
    const parts = splitReply(words, 100)
    expect(
      parts.every((p) => p.length <= 100 && !p.startsWith(' ') && p.split(' ').every((w) => w === 'word')),
    ).toBe(true)
    const emoji = '😀'.repeat(80) // 160 UTF-16 units, no spaces
    const cut = splitReply(emoji, 101)
    expect(cut.every((p) => p.length <= 101)).toBe(true)
    expect(cut.join('')).toBe(emoji)
    expect(cut.every((p) => !/[\uD800-\uDBFF]$/.test(p))).toBe(true)
  })

  it('returns no parts for an empty reply', () => {
    expect(splitReply('   ')).toEqual([])
  })
})
