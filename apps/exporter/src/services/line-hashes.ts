/**
 * The export's duplicate index in memory: 64-bit hashes of every example the master holds (its
 * normalised customer text + answer → the hash of its whole line), in an open-addressing table of
 * one typed array — no strings, no per-entry objects — so a million lines cost 12–24 MB however
 * long they are. Loaded from `export_line_hashes` (16-byte records in bytea
 * blocks) at the start of a run; the run's new entries are written back one block a page.
 */

const out = new Int32Array(2)

/** Two 32-bit lanes of a multiplicative string hash (cyrb53-style): 64 bits, into `out`. */
function hash64(s: string, seed: number): Int32Array {
  let h1 = 0xdeadbeef ^ seed
  let h2 = 0x41c6ce57 ^ seed
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i)
    h1 = Math.imul(h1 ^ ch, 2654435761)
    h2 = Math.imul(h2 ^ ch, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  out[0] = h1
  out[1] = h2
  return out
}

/** Whitespace, ASCII punctuation/symbols and the common Unicode ones (folded to one separator). */
function isSeparator(c: number): boolean {
  if (c < 128) return !((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122))
  return (
    c === 0xa0 ||
    (c >= 0x2000 && c <= 0x206f) || // spaces, dashes, quotes, ellipsis
    (c >= 0x20a0 && c <= 0x20cf) || // currency signs
    (c >= 0x3000 && c <= 0x303f) || // CJK punctuation
    c === 0xfeff ||
    (c >= 0xff01 && c <= 0xff0f) ||
    c === 0xbf ||
    c === 0xa1 ||
    c === 0xab ||
    c === 0xbb
  )
}

/** The two lanes of the hash being built (module state: no closure or array per call). */
let n1 = 0
let n2 = 0

function mix(ch: number): void {
  n1 = Math.imul(n1 ^ ch, 2654435761)
  n2 = Math.imul(n2 ^ ch, 1597334677)
}

/** Mixes `s` normalised: ASCII letters lower-cased, separator runs folded to one, ends dropped. */
function mixNormalised(s: string): void {
  let pendingSep = false
  let any = false
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i)
    if (isSeparator(c)) {
      pendingSep = any
      continue
    }
    if (pendingSep) mix(32)
    pendingSep = false
    any = true
    if (c >= 65 && c <= 90) c += 32
    else if (c >= 128) c = s[i]?.toLowerCase().charCodeAt(0) ?? c
    mix(c)
  }
  mix(0)
}

/**
 * The near-duplicate hash of a customer text and an answer, normalised as it is read (no string
 * is built): "Hi!  Open?" and "hi open" hash alike.
 */
function hashNormalised(seed: number, a: string, b: string): Int32Array {
  n1 = 0xdeadbeef ^ seed
  n2 = 0x41c6ce57 ^ seed
  mixNormalised(a)
  mixNormalised(b)
  const x = Math.imul(n1 ^ (n1 >>> 16), 2246822507) ^ Math.imul(n2 ^ (n2 >>> 13), 3266489909)
  const y = Math.imul(n2 ^ (n2 >>> 16), 2246822507) ^ Math.imul(x ^ (x >>> 13), 3266489909)
  out[0] = x
  out[1] = y
  return out
}

export interface Hashed {
  hi: number
  lo: number
  lineHi: number
  lineLo: number
}

/** Hashes of one example under `seed` (the export directory's): near (customer text + answer) and line. */
export function hashExample(seed: number, userText: string, answer: string, line: string): Hashed {
  const n = hashNormalised(seed, userText, answer)
  const hi = n[0] as number
  const lo = (n[1] as number) | (hi === 0 && n[1] === 0 ? 1 : 0)
  const l = hash64(line, seed ^ 0x5bd1e995)
  return { hi, lo, lineHi: l[0] as number, lineLo: l[1] as number }
}

export function seedOf(scope: string): number {
  return hash64(scope, 0)[0] as number
}

/**
 * The open-addressing table: 12 bytes a slot (the 64-bit key, and the line hash folded to 32 bits:
 * it only tells a `duplicate` from a `near-duplicate`, and both are dropped), filled to at most
 * 3/4 before it doubles — 2.4M examples (5M messages) fit in 50 MB of one typed array.
 */
export class LineHashSet {
  private slots: Int32Array
  private mask: number
  size = 0

  constructor(capacity = 1 << 16) {
    let cap = 1 << 4
    while (cap * 3 < capacity * 4) cap <<= 1
    this.slots = new Int32Array(cap * 3)
    this.mask = cap - 1
  }

  private find(hi: number, lo: number): number {
    let i = (Math.imul(hi ^ lo, 0x9e3779b1) >>> 0) & this.mask
    for (;;) {
      const k = i * 3
      const a = this.slots[k] as number
      const b = this.slots[k + 1] as number
      if ((a === 0 && b === 0) || (a === hi && b === lo)) return k
      i = (i + 1) & this.mask
    }
  }

  /** Whether this key is recorded with this line hash (`duplicate`), another one (`near`), or not at all. */
  check(hi: number, lo: number, lineHi: number, lineLo: number): 'duplicate' | 'near' | undefined {
    const k = this.find(hi, lo)
    if (this.slots[k] === 0 && this.slots[k + 1] === 0) return undefined
    return this.slots[k + 2] === (lineHi ^ lineLo) ? 'duplicate' : 'near'
  }

  /** Records a key (false if it was there already). */
  add(hi: number, lo: number, lineHi: number, lineLo: number): boolean {
    if ((this.size + 1) * 4 > (this.mask + 1) * 3) this.grow()
    const k = this.find(hi, lo)
    if (!(this.slots[k] === 0 && this.slots[k + 1] === 0)) return false
    this.slots[k] = hi
    this.slots[k + 1] = lo
    this.slots[k + 2] = lineHi ^ lineLo
    this.size++
    return true
  }

  private grow(): void {
    const old = this.slots
    this.slots = new Int32Array(old.length * 2)
    this.mask = ((this.mask + 1) << 1) - 1
    for (let k = 0; k < old.length; k += 3) {
      if (old[k] !== 0 || old[k + 1] !== 0) {
        const j = this.find(old[k] as number, old[k + 1] as number)
        this.slots[j] = old[k] as number
        this.slots[j + 1] = old[k + 1] as number
        this.slots[j + 2] = old[k + 2] as number
      }
    }
  }
}
