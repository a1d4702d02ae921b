import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import {
  tokenLimitFor,
  validateFtExample,
  validateFtFile,
  validateFtLine,
} from '@loopdm/training-data/ft-format'
import { describe, expect, it } from 'vitest'

const good = JSON.stringify({
  messages: [
    { role: 'system', content: 'You are a shop assistant.' },
    { role: 'user', content: 'Do you ship to Austria?' },
    { role: 'assistant', content: 'Yes, in 3-5 days.' },
  ],
})

describe('ft-format', () => {
  describe('validateFtLine', () => {
    it('accepts a valid example and counts its tokens', () => {
      const sut = validateFtLine(good, 1)
      expect(sut.ok).toBe(true)
      expect(sut.problems).toEqual([])
      expect(sut.tokens).toBeGreaterThan(10)
    })
    it.each([
      ['{not json', 'invalid_json'],
      ['[1,2]', 'not_object'],
      [JSON.stringify({ messages: [{ role: 'assistant', content: 'x' }], id: 1 }), 'extra_keys'],
      [JSON.stringify({ prompt: 'x' }), 'missing_messages'],
      [JSON.stringify({ messages: [] }), 'missing_messages'],
      [JSON.stringify({ messages: ['hi', { role: 'assistant', content: 'x' }] }), 'bad_message'],
      [
        JSON.stringify({
          messages: [
            { role: 'bot', content: 'x' },
            { role: 'assistant', content: 'y' },
          ],
        }),
        'bad_role',
      ],
      [
        JSON.stringify({
          messages: [
            { role: 'user', content: 'x' },
            { role: 'assistant', content: '  ' },
          ],
        }),
        'empty_content',
      ],
      [JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }), 'no_assistant'],
    ])('flags %s as %s', (line, kind) => {
      const sut = validateFtLine(line, 7)
      expect(sut.ok).toBe(false)
      expect(sut.problems.map((p) => p.kind)).toContain(kind)
      expect(sut.problems[0]?.line).toBe(7)
      expect(sut.problems[0]?.message).toContain('line 7')
    })
    it('flags an example over the token limit', () => {
      const sut = validateFtLine(good, 1, { maxTokens: 10 })
      expect(sut.problems.map((p) => p.kind)).toEqual(['too_many_tokens'])
    })
  })
  describe('tokenLimitFor', () => {
    it('knows the base models and fine-tuned ids', () => {
      expect(tokenLimitFor('gpt-3.5-turbo-0125')).toBe(16385)
      expect(tokenLimitFor('gpt-4o-mini')).toBe(65536)
      expect(tokenLimitFor('gpt-4o-mini-2024-07-18')).toBe(65536)
      expect(tokenLimitFor('ft:gpt-4o-mini-2024-07-18:org::abc')).toBe(65536)
      expect(tokenLimitFor('unknown-model')).toBe(16385)
    })
  })
  describe('validateFtFile', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ftformat-'))
    const body = `${[good, good, '{bad', JSON.stringify({ messages: [{ role: 'user', content: 'q' }] })].join('\n')}\n`
    it('reports examples, tokens, longest and problems by kind', async () => {
      const path = join(dir, 'a.jsonl')
      writeFileSync(path, body)
      const sut = await validateFtFile(path, { model: 'gpt-4o-mini' })
      expect(sut.examples).toBe(4)
      expect(sut.valid).toBe(2)
      expect(sut.byKind).toEqual({ invalid_json: 1, no_assistant: 1 })
      expect(sut.problems.map((p) => p.line)).toEqual([3, 4])
      expect(sut.longest).toBe(validateFtLine(good, 1).tokens)
    })
    it('reads gzipped files too', async () => {
      const path = join(dir, 'a.jsonl.gz')
      writeFileSync(path, gzipSync(body))
      const sut = await validateFtFile(path)
      expect(sut.examples).toBe(4)
      expect(sut.valid).toBe(2)
    })
  })
})

describe('validateFtExample', () => {
  const example = JSON.parse(good)
  it('runs the same checks on a parsed object', () => {
    expect(validateFtExample(example, 1)).toEqual(validateFtLine(good, 1))
    expect(validateFtExample({ messages: [{ role: 'user', content: 'q' }] }, 2).problems[0]?.kind).toBe(
      'no_assistant',
    )
  })
  describe("with countTokens 'when-near-limit'", () => {
    it('skips tokenizing short examples and still catches long ones', () => {
      expect(validateFtExample(example, 1, { countTokens: 'when-near-limit' })).toMatchObject({
        ok: true,
        tokens: 0,
      })
      const long = {
        messages: [
          { role: 'user', content: 'word '.repeat(200) },
          { role: 'assistant', content: 'ok' },
        ],
      }
      const r = validateFtExample(long, 1, { countTokens: 'when-near-limit', maxTokens: 100 })
      expect(r.problems.map((p) => p.kind)).toEqual(['too_many_tokens'])
      expect(r.tokens).toBeGreaterThan(100)
    })
  })
})

describe('weight on assistant messages (multi-turn examples)', () => {
  const multi = (over: Record<number, Record<string, unknown>> = {}) =>
    JSON.stringify({
      messages: [
        { role: 'system', content: 'You are a shop assistant.' },
        { role: 'user', content: 'Hi, do you ship?' },
        { role: 'assistant', content: 'Yes, everywhere in the EU.', weight: 0 },
        { role: 'user', content: 'And to Austria?' },
        { role: 'assistant', content: 'Yes, in 3-5 days.', weight: 1 },
      ].map((m, i) => ({ ...m, ...over[i] })),
    })

  it('accepts weight 0 on context answers and 1 on the taught one', () => {
    expect(validateFtLine(multi(), 1)).toMatchObject({ ok: true, problems: [] })
  })
  it.each([
    [{ 1: { weight: 1 } }, 'messages[1] (user) has a "weight"'],
    [{ 0: { weight: 0 } }, 'messages[0] (system) has a "weight"'],
    [{ 4: { weight: 0.5 } }, 'messages[4].weight must be 0 or 1 (got 0.5)'],
    [{ 4: { weight: '1' } }, 'messages[4].weight must be 0 or 1 (got "1")'],
  ])('rejects %j with a clear error', (over, message) => {
    const r = validateFtLine(multi(over), 3)
    expect(r.ok).toBe(false)
    expect(r.problems.map((p) => p.kind)).toContain('bad_weight')
    expect(r.problems.map((p) => p.message).join('\n')).toContain(message)
  })
  it('rejects an example whose every answer has weight 0 (nothing to learn)', () => {
    const r = validateFtLine(multi({ 4: { weight: 0 } }), 2)
    expect(r.problems.map((p) => p.kind)).toEqual(['no_assistant'])
  })
})
