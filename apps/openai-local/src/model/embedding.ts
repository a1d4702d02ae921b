/**
 * openai-local's embedding model: not a neural network, a deterministic hashed n-gram vector.
 *
 * Features of the lowercased, accent-stripped, punctuation-free text: words, word bigrams and
 * character 3- and 4-grams of each word (padded with spaces so prefixes and suffixes count).
 * Each feature is signed-hashed (FNV-1a) into one of 1536 dimensions, weighted by kind and by a
 * sub-linear term frequency (1 + ln tf), and the vector is L2-normalised. So identical input gives
 * an identical vector, and texts sharing words or word pieces ("shipping"/"ship", "Germany"/
 * "germany?") score a high cosine, while unrelated texts score near 0.
 */

export const EMBEDDING_DIMENSIONS = 1536

/** Words so common they say little about meaning: they count, but much less. */
const STOPWORDS = new Set(
  (
    'a an the and or but if of to in on at by for with from as is are was were be been am do does did ' +
    'i you he she it we they me my your our their this that these those there here what which who whom ' +
    'how when where why can could would should will shall may might must have has had not no yes so ' +
    'just than then too very s t ll re ve d m'
  ).split(' '),
)

const WEIGHT = { word: 1, stopword: 0.25, bigram: 0.6, char3: 0.35, char4: 0.45 } as const

/** Lowercase, strip accents and punctuation, collapse whitespace. */
export function normaliseText(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/['’`]/g, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim()
}

/** 32-bit FNV-1a over UTF-16 code units. */
function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

/** Feature → [kind weight, occurrence count]. */
function features(text: string): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>()
  const add = (key: string, weight: number) => {
    const f = out.get(key)
    if (f) f[1] += 1
    else out.set(key, [weight, 1])
  }
  const norm = normaliseText(text)
  const words = norm === '' ? [] : norm.split(' ')
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string
    const stop = STOPWORDS.has(w)
    add(`w:${w}`, stop ? WEIGHT.stopword : WEIGHT.word)
    const next = words[i + 1]
    if (next !== undefined)
      add(`b:${w} ${next}`, stop || STOPWORDS.has(next) ? WEIGHT.bigram / 2 : WEIGHT.bigram)
    if (stop) continue
    const padded = ` ${w} `
    for (let j = 0; j + 3 <= padded.length; j++) add(`c3:${padded.slice(j, j + 3)}`, WEIGHT.char3)
    for (let j = 0; j + 4 <= padded.length; j++) add(`c4:${padded.slice(j, j + 4)}`, WEIGHT.char4)
  }
  return out
}

/**
 * The 1536-d, L2-normalised embedding of `text`. Empty or punctuation-only text maps to one fixed
 * unit vector (so the norm is always 1).
 */
export function embed(text: string): number[] {
  const v = new Float64Array(EMBEDDING_DIMENSIONS)
  const feats = features(text)
  if (feats.size === 0) feats.set('<empty>', [1, 1])
  for (const [key, [weight, count]] of feats) {
    const index = fnv1a(key) % EMBEDDING_DIMENSIONS
    // A second, independent hash picks the sign, so collisions cancel out on average.
    const sign = fnv1a(key, 0x9747b28c) & 1 ? 1 : -1
    // Sub-linear term frequency: a repeated word counts, but not linearly.
    v[index] = (v[index] as number) + sign * weight * (1 + Math.log(count))
  }
  let norm = 0
  for (const x of v) norm += x * x
  norm = Math.sqrt(norm)
  if (norm === 0) {
    // Every feature cancelled out by sign collisions (astronomically unlikely): fall back.
    v[0] = 1
    norm = 1
  }
  return Array.from(v, (x) => x / norm)
}

export { cosine } from '@loopdm/db/vectors'

/** Little-endian float32 bytes, base64 — OpenAI's `encoding_format: "base64"`. */
export function toBase64(vector: number[]): string {
  const f = Float32Array.from(vector)
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64')
}
