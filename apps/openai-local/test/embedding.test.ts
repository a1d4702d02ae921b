import { describe, expect, it } from 'vitest'
import { cosine, EMBEDDING_DIMENSIONS, embed, normaliseText, toBase64 } from '../src/model/embedding.js'
import { SIMILARITY_THRESHOLD } from '../src/model/fine-tuned.js'

const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0))

describe('embed (hashed word + char n-gram vectors)', () => {
  it('is 1536-d, unit length and deterministic, including for empty text', () => {
    for (const t of ['how much does shipping cost to Germany', '', '?!', 'ü'.repeat(500)]) {
      const v = embed(t)
      expect(v).toHaveLength(EMBEDDING_DIMENSIONS)
      expect(Math.abs(norm(v) - 1)).toBeLessThan(1e-9)
      expect(embed(t)).toEqual(v)
    }
  })

  it('scores paraphrases clearly above unrelated text', () => {
    const a = embed('how much does shipping cost to Germany')
    const paraphrase = embed("what's the delivery price to germany?")
    const unrelated = embed('are you open on sunday')
    expect(cosine(a, paraphrase)).toBeGreaterThan(cosine(a, unrelated) + 0.15)
    expect(cosine(a, unrelated)).toBeLessThan(0.15)
  })

  it('puts near-verbatim repeats above the fine-tuned model threshold and unrelated questions below it', () => {
    const trained = embed('Do you still have the blue ceramic mug?')
    expect(cosine(trained, embed('do you still have the blue ceramic mug'))).toBeGreaterThan(0.95)
    expect(cosine(trained, embed('Do you still have the blue mug?'))).toBeGreaterThan(SIMILARITY_THRESHOLD)
    expect(cosine(trained, embed('What is the capital of Peru?'))).toBeLessThan(SIMILARITY_THRESHOLD)
  })

  it('ignores case, accents and punctuation', () => {
    expect(normaliseText('  Crème Brûlée,  PLEASE!! ')).toBe('creme brulee please')
    expect(embed('Crème Brûlée!')).toEqual(embed('creme brulee'))
  })

  it('encodes base64 as little-endian float32, as OpenAI does', () => {
    const v = embed('hello')
    const bytes = Buffer.from(toBase64(v), 'base64')
    const back = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
    expect(back).toHaveLength(EMBEDDING_DIMENSIONS)
    expect(back[0]).toBeCloseTo(v[0] as number, 6)
  })
})
