import type { Pool } from '@loopdm/db/pool'
import { createAiClient } from '@loopdm/platform/openai'
import { createQueue } from '@loopdm/queues/bullmq'
import { DM_QUEUE } from '@loopdm/queues/contracts'
import { createRedis } from '@loopdm/redis/client'
import { tryWithRedisLock } from '@loopdm/redis/lock'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { waitFor } from '@loopdm/testing/wait'
import type { Queue } from 'bullmq'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDmJobsRepository } from '../src/repositories/dm-jobs.repository.js'
import { createGdprService } from '../src/services/gdpr.service.js'
import { createMemory, type Memory, type MemoryOptions } from '../src/services/memory.service.js'
import { testMemory, turnStore } from './support/memory-turns.js'

/**
 * Memory when the embedding provider fails (openai-local answering 500, slow, or stopped), and
 * after a GDPR erase. Real embedded Postgres, real openai-local, real SDK.
 */

let pool: Pool
const servers: OpenAILocal[] = []
const open: Memory[] = []
let queue: Queue | undefined

const DRESS = 'I ordered the blue linen dress in size M last week, order number 4471.'
const PARAPHRASE = 'Did my blue linen dress order ship yet?'

function memoryAt(baseURL: string, opts: Partial<MemoryOptions> = {}, env: Record<string, string> = {}) {
  const config = testConfig({
    OPENAI_BASE_URL: baseURL,
    OPENAI_MAX_RETRIES: '0',
    MEMORY_MIN_SCORE: '0.3',
    MEMORY_RECENT_TURNS: '2',
    ...env,
  })
  const sut = testMemory(pool, config, { breakerMs: 0, ...opts })
  open.push(sut)
  return { sut, config }
}

/** Stores a turn and hands it to memory (support/memory-turns.ts). */
const store = turnStore(() => pool)

async function embedded(id: number): Promise<boolean> {
  const r = await pool.query('select embedding is not null as ok from conversation_messages where id = $1', [
    id,
  ])
  return Boolean(r.rows[0]?.ok)
}

beforeAll(async () => {
  pool = await testPool()
})

afterAll(async () => {
  for (const m of open) await m.close()
  // Bounded: the server that was made slow can keep a request open past the recall's timeout.
  for (const s of servers) await Promise.race([s.close(), new Promise((r) => setTimeout(r, 6000))])
  await queue?.obliterate({ force: true }).catch(() => {})
  await queue?.close()
  await pool?.query(`delete from conversation_messages where ig_user_id like 'mem-%'`)
  await pool?.end()
})

describe('memory when the embedding provider is down', () => {
  describe('when openai-local answers 500', () => {
    it('recall answers without recalled turns, and the turn is embedded once the provider is back', async () => {
      const server = await startOpenAILocal({ port: 0 })
      servers.push(server)
      const { sut } = memoryAt(server.baseURL, { maxAttempts: 1 })
      const user = uniqueId('mem-500')
      await store(sut, user, 'user', DRESS, 60)
      await sut.flush()

      server.faults.failNext(10_000, 500)
      const live = await store(sut, user, 'user', PARAPHRASE)
      const r = await sut.recall({ igUserId: user, text: PARAPHRASE, excludeIds: [live] })
      // The DM can still be answered: recent turns only, nothing recalled.
      expect(r.recalled).toBe(0)
      expect(r.messages.map((m) => m.content)).toEqual([DRESS])
      await sut.flush()
      expect(await embedded(live)).toBe(false)
      // The batcher gave up (maxAttempts 1); the row stays back-fillable.
      await expect(sut.backfill()).rejects.toThrow()

      server.faults.reset()
      expect(await sut.backfill()).toBeGreaterThanOrEqual(1)
      expect(await embedded(live)).toBe(true)
      const after = await sut.recall({ igUserId: user, text: PARAPHRASE, excludeIds: [live] })
      expect(after.messages.map((m) => m.content)).toContain(DRESS)
    })

    it('the batcher retries a failed batch with backoff and succeeds when the provider recovers', async () => {
      const server = await startOpenAILocal({ port: 0 })
      servers.push(server)
      const { sut } = memoryAt(server.baseURL, { maxAttempts: 20 })
      server.faults.failNext(2, 500)
      const id = await store(sut, uniqueId('mem-retry'), 'user', 'hello, is the shop open on Sunday?')
      expect(await waitFor(() => embedded(id), { what: `embedding of ${id}`, timeoutMs: 10_000 })).toBe(true)
    })
  })

  describe('when the provider is slow', () => {
    it('recall gives up after recallTimeoutMs and answers with the live conversation', async () => {
      const server = await startOpenAILocal({ port: 0 })
      servers.push(server)
      const { sut } = memoryAt(server.baseURL, { recallTimeoutMs: 200 })
      const user = uniqueId('mem-slow')
      await store(sut, user, 'user', DRESS, 60)
      await sut.flush()
      server.faults.setLatency(5000)
      const started = Date.now()
      const r = await sut.recall({ igUserId: user, text: PARAPHRASE })
      expect(Date.now() - started).toBeLessThan(4000)
      expect(r.recalled).toBe(0)
      server.faults.reset()
    })
  })

  describe('when openai-local is stopped', () => {
    it('answers without recall, and the periodic sweep back-fills the turn once it is restarted', async () => {
      const first = await startOpenAILocal({ port: 0 })
      const port = Number(new URL(first.url).port)
      const { sut } = memoryAt(
        first.baseURL,
        { backfillIntervalMs: 100, maxAttempts: 1 },
        { MEMORY_RECENT_TURNS: '1' },
      )
      const user = uniqueId('mem-stop')
      await store(sut, user, 'user', DRESS, 120)
      await store(sut, user, 'assistant', 'Thanks for your order!', 119)
      await sut.flush()
      await first.close()

      const live = await store(sut, user, 'user', PARAPHRASE)
      const r = await sut.recall({ igUserId: user, text: PARAPHRASE, excludeIds: [live] })
      expect(r.recalled).toBe(0)
      expect(r.messages.map((m) => m.content)).toEqual(['Thanks for your order!'])
      await sut.flush()
      expect(await embedded(live)).toBe(false)

      sut.start()
      const again = await startOpenAILocal({ port })
      servers.push(again)
      expect(await waitFor(() => embedded(live), { what: `embedding of ${live}`, timeoutMs: 10_000 })).toBe(
        true,
      )
      const after = await sut.recall({ igUserId: user, text: PARAPHRASE, excludeIds: [live] })
      expect(after.recalled).toBeGreaterThanOrEqual(1)
      expect(after.messages.map((m) => m.content)).toEqual([DRESS, 'Thanks for your order!'])
    })
  })
})

describe('memory after a GDPR erase', () => {
  it('a new DM from the erased user starts with a fresh memory', async () => {
    const server = await startOpenAILocal({ port: 0 })
    servers.push(server)
    const { sut, config } = memoryAt(server.baseURL)
    queue = createQueue(DM_QUEUE, { config })
    const gdpr = createGdprService({ db: pool, config, dmJobs: createDmJobsRepository(queue), memory: sut })
    const user = uniqueId('mem-gdpr')
    await store(sut, user, 'user', DRESS, 60)
    await store(sut, user, 'assistant', 'Your blue linen dress is on its way.', 59)
    await sut.flush()
    expect((await sut.recall({ igUserId: user, text: PARAPHRASE })).messages.length).toBeGreaterThan(0)

    const erased = await gdpr.eraseUser({ igUserId: user, actor: 'test' })
    expect(erased.counts.tables.conversation_messages).toBe(2)

    const live = await store(sut, user, 'user', PARAPHRASE)
    await sut.flush()
    const r = await sut.recall({ igUserId: user, text: PARAPHRASE, excludeIds: [live] })
    expect(r).toEqual({ messages: [], recalled: 0 })
    const next = await sut.recall({ igUserId: user, text: 'and the shipping cost?' })
    expect(next.messages.map((m) => m.content)).toEqual([PARAPHRASE])
  })
})

describe('memory back-fill on several gateways', () => {
  it('one sweeps while the others skip, so no turn is embedded (and paid for) twice', async () => {
    // Earlier tests' memories sweep on a timer: stop them, so only these replicas back-fill.
    for (const m of open.splice(0)) await m.close()
    const server = await startOpenAILocal({ port: 0 })
    servers.push(server)
    const user = uniqueId('mem-sweep')
    const ids: number[] = []
    for (let i = 0; i < 5; i++) {
      const r = await pool.query<{ id: number }>(
        `insert into conversation_messages (ig_user_id, role, content, ig_message_id)
         values ($1, 'user', $2, $3) returning id`,
        [user, `question ${i} about my order`, uniqueId('mid')],
      )
      ids.push(Number(r.rows[0]?.id))
    }
    const redis = createRedis({ url: testConfig().redis.url, role: 'producer' })
    if (redis.status !== 'ready') await new Promise((r) => redis.once('ready', r))
    const key = uniqueId('sweep-lock')
    const replicas = [0, 1, 2].map(() => {
      const config = testConfig({ OPENAI_BASE_URL: server.baseURL, OPENAI_MAX_RETRIES: '0' })
      const ai = createAiClient({ config })
      const counted = { embedded: 0 }
      const sut = createMemory({
        db: pool,
        ai: {
          embed: (texts, o) => {
            counted.embedded += texts.length
            return ai.embed(texts, o)
          },
        },
        config,
        backfillIntervalMs: 0,
        sweepLock: (sweep) => tryWithRedisLock(redis, key, sweep),
      })
      open.push(sut)
      return { sut, counted }
    })
    try {
      // A slow provider keeps the first sweep busy while the others try.
      server.faults.setLatency(300)
      const swept = await Promise.all(replicas.map((r) => r.sut.backfill()))
      server.faults.reset()
      const sweepers = replicas.filter((r) => r.counted.embedded > 0)
      expect(sweepers).toHaveLength(1)
      expect(swept.filter((n) => n === 0)).toHaveLength(2)
      for (const id of ids) expect(await embedded(id)).toBe(true)
      // The lease was released: the next sweep runs (and finds nothing of this user left).
      expect(await redis.exists(key)).toBe(0)
    } finally {
      redis.disconnect()
    }
  })
})
