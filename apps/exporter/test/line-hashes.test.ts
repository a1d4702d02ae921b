import { describe, expect, it } from 'vitest'
import { hashExample, LineHashSet, seedOf } from '../src/services/line-hashes.js'

describe('LineHashSet (the export duplicate index)', () => {
  it('agrees with a Map on 200,000 keys across several growths: duplicate, near-duplicate, unseen', () => {
    const set = new LineHashSet(16)
    const ref = new Map<string, number>()
    let x = 12345
    const next = () => {
      x = (Math.imul(x, 1103515245) + 12345) | 0
      return x
    }
    const keys: Array<[number, number, number, number]> = []
    let wrongAdds = 0
    for (let i = 0; i < 200_000; i++) {
      const k: [number, number, number, number] = [next(), next() | 1, next(), next()]
      keys.push(k)
      const fresh = !ref.has(`${k[0]}:${k[1]}`)
      if (set.add(...k) !== fresh) wrongAdds++
      if (fresh) ref.set(`${k[0]}:${k[1]}`, k[2] ^ k[3])
    }
    expect(wrongAdds).toBe(0)
    expect(set.size).toBe(ref.size)
    const verdicts = { duplicate: 0, near: 0, unseen: 0 }
    for (const [hi, lo, lh, ll] of keys) {
      if (set.check(hi, lo, lh, ll) === 'duplicate') verdicts.duplicate++
      if (set.check(hi, lo, lh ^ 1, ll) === 'near') verdicts.near++
    }
    let unknown = 0
    for (let i = 0; i < 10_000; i++) {
      const hi = next()
      const lo = next() | 1
      if (ref.has(`${hi}:${lo}`)) continue
      unknown++
      if (set.check(hi, lo, 0, 0) === undefined) verdicts.unseen++
    }
    expect(verdicts).toEqual({ duplicate: keys.length, near: keys.length, unseen: unknown })
    // Adding a known key again changes nothing, whatever its line hash.
    const [hi, lo] = keys[0] as [number, number, number, number]
    expect(set.add(hi, lo, 7, 7)).toBe(false)
    expect(set.size).toBe(ref.size)
  })

  it('hashes normalised text alike and whole lines apart', () => {
    const seed = seedOf('/exports')
    const a = hashExample(seed, 'Hi!  Open?', 'Yes, at 10.', '{"a":1}')
    const b = hashExample(seed, 'hi open', 'yes at 10', '{"a":2}')
    expect([a.hi, a.lo]).toEqual([b.hi, b.lo])
    expect([a.lineHi, a.lineLo]).not.toEqual([b.lineHi, b.lineLo])
    const set = new LineHashSet()
    set.add(a.hi, a.lo, a.lineHi, a.lineLo)
    expect(set.check(b.hi, b.lo, b.lineHi, b.lineLo)).toBe('near')
    expect(set.check(a.hi, a.lo, a.lineHi, a.lineLo)).toBe('duplicate')
    expect(hashExample(seedOf('/other'), 'hi open', 'yes at 10', '{"a":1}').hi).not.toBe(a.hi)
  })
})
