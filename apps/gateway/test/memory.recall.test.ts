import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import { type AiClient, createAiClient } from '@loopdm/platform/openai'
import { countTokens } from '@loopdm/platform/tokens'
import { captureLogger } from '@loopdm/testing/capture-logger'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { messageTokens } from '../src/services/memory.packing.js'
import { createMemory, type Memory } from '../src/services/memory.service.js'
import { turnStore } from './support/memory-turns.js'

/**
 * Memory against the real embedded Postgres (pgvector) and a real openai-local (hashed n-gram
 * embeddings through the real `openai` SDK). openai-local's paraphrases score ~0.5 cosine and
 * unrelated texts ~0.05, so the documented default MEMORY_MIN_SCORE of 0.82 only admits
 * near-identical text here; these tests use 0.3 unless a test is about the threshold itself.
 */

let server: OpenAILocal
let pool: Pool
const open: Memory[] = []

const DRESS = 'I ordered the blue linen dress in size M last week, order number 4471.'
const DRESS_REPLY = 'Thanks! Your blue linen dress in size M (order 4471) is being packed.'
const DOG = 'My dog is allergic to chicken so I need grain-free salmon treats.'
const PARAPHRASE = 'Did my blue linen dress order ship yet?'

/** The real client, counting embedding calls (inputs per call). */
function countingAi(config: Config): AiClient & { calls: number[] } {
  const ai = createAiClient({ config })
  const calls: number[] = []
  return {
    ...ai,
    calls,
    embed(input, meta) {
      calls.push(input.length)
      return ai.embed(input, meta)
    },
  }
}

function memoryFor(
  overrides: Record<string, string> = {},
  opts: Partial<Parameters<typeof createMemory>[0]> = {},
) {
  const config = testConfig({
    OPENAI_BASE_URL: server.baseURL,
    OPENAI_MAX_RETRIES: '0',
    MEMORY_MIN_SCORE: '0.3',
    MEMORY_TOP_K: '5',
    MEMORY_RECENT_TURNS: '2',
    ...overrides,
  })
  const ai = countingAi(config)
  const sut = createMemory({
    db: pool,
    ai,
    config,
    backfillIntervalMs: 0,
    flushMs: 20,
    backoffBaseMs: 50,
    ...opts,
  })
  open.push(sut)
  return { sut, ai, config }
}

/** Stores a turn and hands it to memory (support/memory-turns.ts). */
const store = turnStore(() => pool)

/** A user with an old dress conversation, an old dog conversation, and small talk since. */
async function seedHistory(sut: Memory, igUserId: string) {
  await store(sut, igUserId, 'user', DRESS, 7 * 24 * 60)
  await store(sut, igUserId, 'assistant', DRESS_REPLY, 7 * 24 * 60 - 1)
  await store(sut, igUserId, 'user', DOG, 3 * 24 * 60)
  await store(
    sut,
    igUserId,
    'assistant',
    'We have grain-free salmon treats for sensitive dogs.',
    3 * 24 * 60 - 1,
  )
  await store(sut, igUserId, 'user', 'hi again', 5)
  await store(sut, igUserId, 'assistant', 'Hello! How can I help you today?', 4)
  await sut.flush()
}

async function embeddingOf(id: number): Promise<number[] | null> {
  const r = await pool.query('select embedding from conversation_messages where id = $1', [id])
  return r.rows[0]?.embedding ?? null
}

beforeAll(async () => {
  server = await startOpenAILocal({ port: 0 })
  pool = await testPool()
})

afterAll(async () => {
  for (const m of open) await m.close()
  await pool?.query(`delete from conversation_messages where ig_user_id like 'mem-%'`)
  await pool?.end()
  await server?.close()
})

describe('memory recall', () => {
  describe('with openai-local embeddings', () => {
    it('scores a paraphrase far above an unrelated text, but below the 0.82 default', async () => {
      const { ai } = memoryFor()
      const [a, b, c] = await ai.embed([DRESS, PARAPHRASE, DOG])
      const cos = (x: number[], y: number[]) => x.reduce((s, v, i) => s + v * (y[i] as number), 0)
      const paraphrase = cos(a as number[], b as number[])
      const unrelated = cos(b as number[], c as number[])
      // Recorded in README ("Memory"): why the tests use 0.3.
      expect(paraphrase).toBeGreaterThan(0.3)
      expect(paraphrase).toBeLessThan(0.82)
      expect(unrelated).toBeLessThan(0.2)
    })
  })

  describe('when the user asks a paraphrase of an old turn', () => {
    it('recalls the relevant old turn and not an unrelated one, after the live conversation', async () => {
      const { sut } = memoryFor()
      const user = uniqueId('mem-u')
      await seedHistory(sut, user)
      const live = await store(sut, user, 'user', PARAPHRASE)
      const r = await sut.recall({ igUserId: user, text: PARAPHRASE, excludeIds: [live] })
      const contents = r.messages.map((m) => m.content)
      expect(contents).toContain(DRESS)
      expect(contents).not.toContain(DOG)
      expect(contents).not.toContain(PARAPHRASE)
      expect(r.recalled).toBeGreaterThanOrEqual(1)
      // Layout: chronological; the live conversation's last turns come last.
      expect(contents.slice(-2)).toEqual(['hi again', 'Hello! How can I help you today?'])
      expect(contents.indexOf(DRESS)).toBeLessThan(contents.indexOf('hi again'))
    })

    for (const [path, strategy] of [
      ['quantized', { exactScanMaxTurns: 0 }],
      ['hnsw', { exactScanMaxTurns: 0, quantizedMaxTurns: 0 }],
    ] as const)
      it(`finds it through the ${path} path as well`, async () => {
        const { logger, lines } = captureLogger({ name: 'memory' })
        const { sut } = memoryFor({}, { ...strategy, logger })
        const user = uniqueId('mem-u')
        await seedHistory(sut, user)
        const r = await sut.recall({ igUserId: user, text: PARAPHRASE })
        expect(r.messages.map((m) => m.content)).toContain(DRESS)
        expect(r.messages.map((m) => m.content)).not.toContain(DOG)
        expect(lines).toContainEqual(expect.objectContaining({ msg: 'memory recall', strategy: path }))
      })
  })

  describe('when another user has identical text', () => {
    it('never returns the other user’s turns, on either search path', async () => {
      for (const strategy of [
        { exactScanMaxTurns: 1000 },
        { exactScanMaxTurns: 0 },
        { exactScanMaxTurns: 0, quantizedMaxTurns: 0 },
      ]) {
        const { sut } = memoryFor({ MEMORY_RECENT_TURNS: '0' }, strategy)
        const owner = uniqueId('mem-owner')
        const stranger = uniqueId('mem-stranger')
        const secret = `My new address is ${uniqueId('street')} Road 12, please ship there.`
        await store(sut, owner, 'user', secret, 60)
        await store(sut, stranger, 'user', 'hello there', 60)
        await sut.flush()
        const s = await sut.recall({ igUserId: stranger, text: secret })
        expect(s.messages).toEqual([])
        expect(s.recalled).toBe(0)
        // Each sees one copy at most: their own. The exact and quantised paths must find it; the
        // HNSW path (meant for > 20,000-turn users) is approximate, and for a one-turn user among
        // every other suite's rows its iterative scan may stop (hnsw.scan_mem_multiplier × work_mem)
        // before reaching the row — seen once in a full CI run.
        const copies = strategy.quantizedMaxTurns === 0 ? [0, 1] : [1]
        await store(sut, stranger, 'user', secret, 30)
        await sut.flush()
        const o = await sut.recall({ igUserId: owner, text: secret })
        expect(copies).toContain(o.messages.filter((m) => m.content === secret).length)
        const s2 = await sut.recall({ igUserId: stranger, text: secret })
        expect(copies).toContain(s2.messages.filter((m) => m.content === secret).length)
      }
    })
  })

  describe('when there is more relevant history than MEMORY_MAX_TOKENS', () => {
    it('never exceeds the budget by real token count, and falls back to summaries', async () => {
      for (const max of [60, 150, 300, 800]) {
        const { sut } = memoryFor({
          MEMORY_MAX_TOKENS: String(max),
          MEMORY_TOP_K: '20',
          MEMORY_RECENT_TURNS: '4',
        })
        const user = uniqueId('mem-budget')
        for (let i = 0; i < 24; i++) {
          const long = `About the blue linen dress, question ${i}: ${'the blue linen dress fits well and the linen is soft, '.repeat(3 + (i % 5))}thanks.`
          await store(sut, user, i % 2 ? 'assistant' : 'user', long, 100 - i)
        }
        await sut.flush()
        const r = await sut.recall({ igUserId: user, text: PARAPHRASE })
        const billed = r.messages.reduce((s, m) => s + messageTokens(m), 0)
        const content = r.messages.reduce((s, m) => s + countTokens(m.content), 0)
        expect(billed).toBeLessThanOrEqual(max)
        expect(content).toBeLessThanOrEqual(max)
        expect(r.messages.length).toBeGreaterThan(0)
        if (max === 800) expect(r.recalled).toBeGreaterThan(0)
      }
    })

    it('stores a bounded content_summary for long turns', async () => {
      const { sut } = memoryFor()
      const user = uniqueId('mem-summary')
      const long = `${'This is the first sentence about my order. '.repeat(3)}${'More details follow here and go on. '.repeat(20)}`
      const id = await store(sut, user, 'user', long)
      const short = await store(sut, user, 'user', 'short one')
      await sut.flush()
      const r = await pool.query('select id, content_summary from conversation_messages where id = any($1)', [
        [id, short],
      ])
      const byId = new Map(r.rows.map((x) => [Number(x.id), x.content_summary as string | null]))
      expect(byId.get(id)?.length).toBeGreaterThan(0)
      expect(byId.get(id)?.length).toBeLessThanOrEqual(280)
      expect(byId.get(short)).toBeNull()
    })
  })

  describe('MEMORY_MIN_SCORE', () => {
    it('excludes turns scoring under it', async () => {
      const user = uniqueId('mem-score')
      const seed = memoryFor()
      await seedHistory(seed.sut, user)
      // 0.3: the paraphrase (~0.5) is in, the unrelated dog turn (~0.05) is out.
      const low = await seed.sut.recall({ igUserId: user, text: PARAPHRASE })
      expect(low.messages.map((m) => m.content)).toContain(DRESS)
      // 0.9: the paraphrase is out (only recent turns remain) …
      const high = memoryFor({ MEMORY_MIN_SCORE: '0.9' }).sut
      const r = await high.recall({ igUserId: user, text: PARAPHRASE })
      expect(r.recalled).toBe(0)
      expect(r.messages.map((m) => m.content)).not.toContain(DRESS)
      // … while identical text (cosine 1) clears even the 0.82 default.
      const def = memoryFor({ MEMORY_MIN_SCORE: '0.82' }).sut
      const same = await def.recall({ igUserId: user, text: DRESS })
      expect(same.messages.map((m) => m.content)).toContain(DRESS)
      const para = await def.recall({ igUserId: user, text: PARAPHRASE })
      expect(para.recalled).toBe(0)
    })
  })

  describe('when MEMORY_ENABLED=false', () => {
    it('recalls nothing and makes no embedding calls', async () => {
      const { sut, ai } = memoryFor({ MEMORY_ENABLED: 'false' })
      const user = uniqueId('mem-off')
      const id = await store(sut, user, 'user', DRESS)
      await sut.flush()
      expect(await sut.backfill()).toBe(0)
      const r = await sut.recall({ igUserId: user, text: DRESS })
      expect(r).toEqual({ messages: [], recalled: 0 })
      expect(ai.calls).toEqual([])
      expect(await embeddingOf(id)).toBeNull()
    })
  })

  describe('batching', () => {
    it('embeds many stored turns in batches of at most 64 per call', async () => {
      const { sut, ai } = memoryFor()
      const user = uniqueId('mem-batch')
      const ids: number[] = []
      const text = (i: number) => `message number ${i} about hats`
      for (let i = 0; i < 150; i++) ids.push(await store(undefined, user, 'user', text(i)))
      // A burst, as a busy reply worker produces it.
      for (const [i, id] of ids.entries())
        sut.afterStore({ id, igUserId: user, role: 'user', content: text(i) })
      await sut.flush()
      expect(ai.calls).toEqual([64, 64, 22])
      const r = await pool.query(
        'select count(*)::int as n from conversation_messages where id = any($1) and embedding is not null',
        [ids],
      )
      expect(r.rows[0].n).toBe(150)
    })
  })
})
