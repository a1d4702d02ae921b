import type { Pool } from '@loopdm/db/pool'
import { vectorParam } from '@loopdm/db/pool'
import { createAiClient } from '@loopdm/platform/openai'
import { captureLogger } from '@loopdm/testing/capture-logger'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMemoryRepository, type MemoryRepository } from '../src/repositories/memory.repository.js'
import { CODE_BYTES, createCodeCache, queryCode, SEEN_ENTRY_BYTES } from '../src/services/memory.codes.js'
import type { Memory, MemoryOptions } from '../src/services/memory.service.js'
import { testMemory, turnStore } from './support/memory-turns.js'

/**
 * Memory's quantised pass over codes held in the gateway (memory.codes.ts), against the real
 * embedded Postgres (pgvector computes the reference codes and distances) and openai-local's
 * embeddings through the real SDK.
 */

let server: OpenAILocal
let pool: Pool
let repo: MemoryRepository
const open: Memory[] = []

const DRESS = 'I ordered the blue linen dress in size M last week, order number 4471.'
const PARAPHRASE = 'Did my blue linen dress order ship yet?'
const TOPICS = ['wool scarf', 'leather boots', 'silk blouse', 'denim jacket', 'cotton socks', 'rain coat']

function memoryFor(opts: Partial<MemoryOptions> = {}) {
  const config = testConfig({
    OPENAI_BASE_URL: server.baseURL,
    OPENAI_MAX_RETRIES: '0',
    MEMORY_MIN_SCORE: '0.3',
    MEMORY_TOP_K: '5',
    MEMORY_RECENT_TURNS: '2',
  })
  // Every user with more than 5 embedded turns is in the quantised tier.
  const sut = testMemory(pool, config, { exactScanMaxTurns: 5, ...opts })
  open.push(sut)
  return sut
}

/** Stores a turn and hands it to memory (support/memory-turns.ts). */
const store = turnStore(() => pool)

/** A user with `n` embedded small-talk turns about products, the dress order among them. */
async function seedUser(sut: Memory, user: string, n = 40) {
  await store(sut, user, 'user', DRESS, 10_000)
  for (let i = 0; i < n; i++)
    await store(
      sut,
      user,
      i % 2 ? 'assistant' : 'user',
      `question ${i} about the ${TOPICS[i % TOPICS.length]} in colour ${i * 7}`,
      5000 - i,
    )
  await sut.flush()
}

/** Recalls until a recall is served from the codes in memory (they load in the background). */
async function recallFromCodes(
  sut: Memory,
  lines: Array<Record<string, unknown>>,
  user: string,
  text: string,
) {
  for (let i = 0; i < 40; i++) {
    const before = lines.length
    const r = await sut.recall({ igUserId: user, text })
    const line = lines.slice(before).find((l) => l.msg === 'memory recall')
    if (line?.codes === 'memory') return r
    await new Promise((res) => setTimeout(res, 25))
  }
  throw new Error('recall never used the codes in memory')
}

beforeAll(async () => {
  server = await startOpenAILocal({ port: 0 })
  pool = await testPool()
  repo = createMemoryRepository(pool)
})

afterAll(async () => {
  for (const m of open) await m.close()
  await pool?.query(`delete from conversation_messages where ig_user_id like 'codes-%'`)
  await pool?.end()
  await server?.close()
})

describe('the codes held in memory', () => {
  it('are the bits pgvector’s binary_quantize gives, in the stored layout', async () => {
    let seed = 3
    const rand = () => {
      seed = (seed * 1664525 + 1013904223) >>> 0
      return seed / 2 ** 32 - 0.5
    }
    for (let t = 0; t < 10; t++) {
      // Zeros too: binary_quantize sets a bit only for a value > 0.
      const v = Array.from({ length: 1536 }, (_, i) => (i % 11 === t ? 0 : rand()))
      const r = await pool.query<{ code: Buffer }>(
        `select substr(varbit_send(binary_quantize($1::vector)::bit(1536)), 5) as code`,
        [vectorParam(v)],
      )
      expect(Buffer.from(queryCode(v).buffer)).toEqual(r.rows[0]?.code)
    }
    expect(() => queryCode([1, 2, 3])).toThrow(/3 dimensions, expected 1536/)
  })

  it('rank a user’s turns by the Hamming distance pgvector measures, skipping the excluded', async () => {
    const sut = memoryFor()
    const user = uniqueId('codes-rank')
    await seedUser(sut, user)
    const codes = createCodeCache({ repo, maxBytes: 1 << 20 })
    await codes.warm(user)
    expect(codes.size(user)).toBe(41)
    const [q] = await createAiClient({ config: testConfig({ OPENAI_BASE_URL: server.baseURL }) }).embed([
      'the leather boots in colour 21',
    ])
    const truth = await pool.query<{ id: number; d: number }>(
      `select id, embedding_bq <~> binary_quantize($2::vector)::bit(1536) as d from conversation_messages
        where ig_user_id = $1 and embedding_bq is not null order by d, id`,
      [user, vectorParam(q as number[])],
    )
    const distance = new Map(truth.rows.map((r) => [Number(r.id), Number(r.d)]))
    const excluded = Number(truth.rows[0]?.id)
    const got = codes.nearest(user, q as number[], 10, new Set([excluded]))
    expect(got).toHaveLength(10)
    expect(got).not.toContain(excluded)
    const expected = truth.rows
      .filter((r) => Number(r.id) !== excluded)
      .slice(0, 10)
      .map((r) => Number(r.d))
    // Ties may pick different ids; the distances picked are exactly the 10 smallest.
    expect(got.map((id) => distance.get(id))).toEqual(expected)
  })

  it('stay within their memory bound: the least recently used user goes, a user too large is not held', async () => {
    const sut = memoryFor()
    const a = uniqueId('codes-lru-a')
    const b = uniqueId('codes-lru-b')
    await seedUser(sut, a, 20)
    await seedUser(sut, b, 20)
    // One user's entry: capacity 64 turns × (192-byte code + 8-byte id), and its 21 turns' ids
    // (seedUser's 20 and the dress turn) in a Set.
    const one = 64 * (CODE_BYTES + 8) + 21 * SEEN_ENTRY_BYTES
    const codes = createCodeCache({ repo, maxBytes: one + 100 })
    await codes.warm(a)
    expect(codes.has(a)).toBe(true)
    await codes.warm(b)
    expect(codes.has(b)).toBe(true)
    expect(codes.has(a)).toBe(false)
    expect(codes.bytes()).toBeLessThanOrEqual(one + 100)
    let reads = 0
    const counting = {
      codesOf: (...x: Parameters<MemoryRepository['codesOf']>) => {
        reads++
        return repo.codesOf(...x)
      },
    }
    const small = createCodeCache({ repo: counting, maxBytes: one - 1 })
    await small.warm(a)
    expect(small.has(a)).toBe(false)
    expect(small.bytes()).toBe(0)
    // Not re-read on every recall: it stays on the SQL pass until the next reload period.
    await small.warm(a)
    expect(await small.refresh(a)).toBe(false)
    expect(reads).toBe(1)
  })

  it('count the per-turn id set in their bound, not only the typed arrays', async () => {
    const sut = memoryFor()
    const a = uniqueId('codes-seen')
    await seedUser(sut, a, 20)
    const arrays = 64 * (CODE_BYTES + 8)
    const turns = 21 // seedUser's 20 and the dress turn
    // Room for the arrays but not for the Set of the 21 ids beside them: not held.
    const tight = createCodeCache({ repo, maxBytes: arrays + turns * SEEN_ENTRY_BYTES - 1 })
    await tight.warm(a)
    expect(tight.has(a)).toBe(false)
    expect(tight.bytes()).toBe(0)
    const room = createCodeCache({ repo, maxBytes: arrays + turns * SEEN_ENTRY_BYTES })
    await room.warm(a)
    expect(room.has(a)).toBe(true)
    expect(room.bytes()).toBe(arrays + turns * SEEN_ENTRY_BYTES)
    // A refresh that finds nothing new leaves the count as it was; forgetting gives it all back.
    expect(await room.refresh(a)).toBe(true)
    expect(room.bytes()).toBe(arrays + turns * SEEN_ENTRY_BYTES)
    room.forget(a)
    expect(room.bytes()).toBe(0)
  })
})

describe('memory recall through the codes in memory', () => {
  it('finds the paraphrased old turn, first through the SQL pass and then from memory', async () => {
    const { logger, lines } = captureLogger({ name: 'memory' })
    const sut = memoryFor({ logger })
    const user = uniqueId('codes-recall')
    await seedUser(sut, user)
    const first = await sut.recall({ igUserId: user, text: PARAPHRASE })
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'memory recall', strategy: 'quantized', codes: 'sql' }),
    )
    expect(first.messages.map((m) => m.content)).toContain(DRESS)
    const later = await recallFromCodes(sut, lines, user, PARAPHRASE)
    expect(later.messages).toEqual(first.messages)
  })

  it('finds a turn embedded after the codes were loaded on the very next recall', async () => {
    const { logger, lines } = captureLogger({ name: 'memory' })
    const sut = memoryFor({ logger })
    const user = uniqueId('codes-fresh')
    await seedUser(sut, user)
    // Stored before the codes load but embedded after it (the back-fill sweep's case): the row's
    // sequence number is renewed when its embedding is written.
    const news = 'Please send the green velvet hat to my sister in Lyon instead.'
    const late = await store(undefined, user, 'user', news, 60)
    await store(sut, user, 'assistant', 'Noted, it goes to Lyon.', 59)
    await store(sut, user, 'user', 'thanks', 2)
    await store(sut, user, 'assistant', 'You are welcome!', 1)
    await sut.flush()
    await recallFromCodes(sut, lines, user, PARAPHRASE)
    // The sweep embeds every turn still without an embedding (other tests' too).
    expect(await sut.backfill()).toBeGreaterThanOrEqual(1)
    const embedded = await pool.query(
      'select 1 from conversation_messages where id = $1 and embedding is not null',
      [late],
    )
    expect(embedded.rowCount).toBe(1)
    const before = lines.length
    const r = await sut.recall({
      igUserId: user,
      text: 'where does the green velvet hat go, my sister in Lyon?',
    })
    expect(r.messages.map((m) => m.content)).toContain(news)
    expect(lines.slice(before)).toContainEqual(
      expect.objectContaining({ msg: 'memory recall', codes: 'memory' }),
    )
  })

  it('never returns a turn deleted since the codes were loaded (another gateway’s GDPR erase)', async () => {
    const { logger, lines } = captureLogger({ name: 'memory' })
    const sut = memoryFor({ logger })
    const user = uniqueId('codes-erased')
    await seedUser(sut, user)
    const got = await recallFromCodes(sut, lines, user, PARAPHRASE)
    expect(got.messages.map((m) => m.content)).toContain(DRESS)
    // Deleted behind this gateway's back: its codes still hold the turn.
    await pool.query('delete from conversation_messages where ig_user_id = $1 and content = $2', [
      user,
      DRESS,
    ])
    const before = lines.length
    const r = await sut.recall({ igUserId: user, text: PARAPHRASE })
    expect(r.messages.map((m) => m.content)).not.toContain(DRESS)
    expect(lines.slice(before)).toContainEqual(
      expect.objectContaining({ msg: 'memory recall', codes: 'memory' }),
    )
  })

  it('answers through the SQL pass when the user’s codes outgrow MEMORY_CODE_CACHE_MB', async () => {
    const { logger, lines } = captureLogger({ name: 'memory' })
    // Room for the first load (41 turns: capacity 82 × 200 bytes, and 41 ids in a Set) and no more.
    const sut = memoryFor({ logger, codeCacheBytes: 82 * (CODE_BYTES + 8) + 41 * SEEN_ENTRY_BYTES })
    const user = uniqueId('codes-outgrown')
    await seedUser(sut, user)
    await recallFromCodes(sut, lines, user, PARAPHRASE)
    for (let i = 0; i < 45; i++)
      await store(
        sut,
        user,
        i % 2 ? 'assistant' : 'user',
        `note ${i}: the size chart for the ${TOPICS[i % TOPICS.length]}`,
        100 - i,
      )
    await sut.flush()
    const before = lines.length
    const r = await sut.recall({ igUserId: user, text: PARAPHRASE })
    expect(r.messages.map((m) => m.content)).toContain(DRESS)
    expect(lines.slice(before)).toContainEqual(
      expect.objectContaining({ msg: 'memory recall', codes: 'sql' }),
    )
  })

  it('answers through the SQL pass, with a warning, when refreshing the codes fails', async () => {
    const { logger, lines } = captureLogger({ name: 'memory' })
    const failing: MemoryRepository = {
      ...repo,
      codesOf: (user, since) =>
        since === null ? repo.codesOf(user, since) : Promise.reject(new Error('connection reset')),
    }
    const sut = memoryFor({ logger, repository: failing })
    const user = uniqueId('codes-fail')
    await seedUser(sut, user)
    await sut.recall({ igUserId: user, text: PARAPHRASE })
    // Wait for the background load, then the next refresh fails.
    for (
      let i = 0;
      i < 40 && !lines.some((l) => l.msg === 'memory: refreshing codes failed; using the SQL pass');
      i++
    ) {
      const before = lines.length
      const r = await sut.recall({ igUserId: user, text: PARAPHRASE })
      expect(r.messages.map((m) => m.content)).toContain(DRESS)
      expect(lines.slice(before)).toContainEqual(
        expect.objectContaining({ msg: 'memory recall', codes: 'sql' }),
      )
      await new Promise((res) => setTimeout(res, 25))
    }
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 40,
        msg: 'memory: refreshing codes failed; using the SQL pass',
        err: 'connection reset',
      }),
    )
  })

  it('keeps every user’s codes apart: another user’s identical text is never recalled', async () => {
    const { logger, lines } = captureLogger({ name: 'memory' })
    const sut = memoryFor({ logger })
    const owner = uniqueId('codes-owner')
    const stranger = uniqueId('codes-stranger')
    await seedUser(sut, stranger)
    const secret = `My new address is ${uniqueId('street')} Road 12, please ship there.`
    await store(sut, owner, 'user', secret, 60)
    await sut.flush()
    const r = await recallFromCodes(sut, lines, stranger, secret)
    expect(r.messages.map((m) => m.content)).not.toContain(secret)
  })
})
