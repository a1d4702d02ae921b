import { createAiClient } from '@loopdm/platform/openai'
import { DM_QUEUE, dmJobId } from '@loopdm/queues/contracts'
import { captureLogger } from '@loopdm/testing/capture-logger'
import { TEST_PSEUDONYM_SECRET, testConfig, testPool } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { waitFor } from '@loopdm/testing/wait'
import { pseudonymousUserKey } from '@loopdm/training-data/pseudonym'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMemory, type Memory } from '../src/services/memory.service.js'
import { buildTestGateway, igUser, TEST_ADMIN_TOKEN, type TestGateway } from './support/test-gateway.js'

/**
 * Memory and GDPR erase through the real gateway: signed webhook → reply worker (memory recall →
 * router → completion → outbox) → assistant turn → embeddings back-filled; then the provider's
 * embeddings fail (DMs still answered), recover (back-filled), and the user is erased over the
 * admin API. Real Redis, embedded Postgres, openai-local, fake Graph API.
 */

const DRESS = 'I ordered the blue linen dress in size M last week, order number 4471.'
const PARAPHRASE = 'Did my blue linen dress order ship yet?'

let openai: OpenAILocal
let memory: Memory
let sut: TestGateway
const { logger: memoryLogger, lines: memoryLogs } = captureLogger()
const pool = await testPool(2)

async function unembedded(user: string): Promise<number> {
  const r = await pool.query(
    'select count(*)::int as n from conversation_messages where ig_user_id = $1 and embedding is null',
    [user],
  )
  return r.rows[0].n
}

/** The reply worker's `memory recalled` line for one DM. */
const recalledFor = (mid: string) =>
  sut.logs.find((l) => l.msg === 'memory recalled' && l.mid === mid)?.recalled as number | undefined

beforeAll(async () => {
  openai = await startOpenAILocal({ port: 0 })
  const config = testConfig({
    OPENAI_BASE_URL: openai.baseURL,
    OPENAI_MAX_RETRIES: '0',
    MEMORY_MIN_SCORE: '0.3',
  })
  memory = createMemory({
    db: pool,
    ai: createAiClient({ config }),
    config,
    logger: memoryLogger,
    flushMs: 20,
    backoffBaseMs: 50,
    maxAttempts: 1,
    breakerMs: 0,
    backfillIntervalMs: 0,
  })
  sut = await buildTestGateway({
    openai,
    env: { MEMORY_MIN_SCORE: '0.3' },
    // The gateway's GDPR erase drops the user's queued embeddings from this memory too.
    gateway: { memory },
  })
  memory.start()
})

afterAll(async () => {
  await sut?.close()
  await memory?.close()
  await openai?.close()
  await pool.end()
})

describe('memory in the reply pipeline', () => {
  const user = igUser()

  it('embeds both turns of each DM and recalls an old turn for a paraphrased question', async () => {
    const first = await sut.dm({ user, text: DRESS })
    await sut.waitForReplies([first.mid])
    const small = await sut.dm({ user, text: 'Also, what are your opening hours on Saturday?' })
    await sut.waitForReplies([small.mid])
    const ack = await sut.dm({ user, text: 'ok thanks' })
    await sut.waitForReplies([ack.mid])
    await waitFor(async () => (await unembedded(user)) === 0, {
      what: 'embeddings back-filled',
      timeoutMs: 15_000,
    })

    const q = await sut.dm({ user, text: PARAPHRASE })
    await sut.waitForReplies([q.mid])
    expect(recalledFor(q.mid)).toBeGreaterThanOrEqual(1)
    // Memory logs counts under a pseudonymous key — never the text, never the raw id.
    const lines = memoryLogs.filter(
      (l) => l.msg === 'memory recall' && l.userKey === pseudonymousUserKey(user, TEST_PSEUDONYM_SECRET),
    )
    expect(lines.length).toBeGreaterThanOrEqual(4)
    expect(lines.at(-1)).toMatchObject({ strategy: 'exact' })
    expect(lines.at(-1)?.recalled).toBeGreaterThanOrEqual(1)
    for (const l of lines) {
      expect(JSON.stringify(l)).not.toContain('linen')
      expect(JSON.stringify(l)).not.toContain(user)
    }
  })

  it('still answers DMs while embeddings fail, and back-fills them once the provider recovers', async () => {
    openai.faults.failNext(1_000, 500, { paths: '/embeddings' })
    const down = await sut.dm({ user, text: 'Is the linen dress machine washable?' })
    const [reply] = await sut.waitForReplies([down.mid])
    expect(reply?.text.length).toBeGreaterThan(0)
    expect(recalledFor(down.mid)).toBe(0)
    await memory.flush()
    expect(await unembedded(user)).toBeGreaterThanOrEqual(1)

    openai.faults.reset()
    expect(await memory.backfill()).toBeGreaterThanOrEqual(1)
    expect(await unembedded(user)).toBe(0)
  })

  it('DELETE /admin/users/:igUserId erases the user (401 without token), then a new DM starts fresh', async () => {
    const noAuth = await sut.gateway.app.inject({ method: 'DELETE', url: `/admin/users/${user}` })
    expect(noAuth.statusCode).toBe(401)
    const badNoAuth = await sut.gateway.app.inject({ method: 'DELETE', url: '/admin/users/not%20valid' })
    expect(badNoAuth.statusCode).toBe(401)
    const headers = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }
    const bad = await sut.gateway.app.inject({ method: 'DELETE', url: '/admin/users/not%20valid', headers })
    expect(bad.statusCode).toBe(400)

    const res = await sut.gateway.app.inject({ method: 'DELETE', url: `/admin/users/${user}`, headers })
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body.counts.tables.conversation_messages).toBe(10)
    expect(body.counts.tables.outbox).toBeGreaterThanOrEqual(5)
    expect(body.counts.jobs).toBeGreaterThanOrEqual(5)
    for (const [table, n] of Object.entries(
      await (await import('../src/repositories/gdpr.repository.js'))
        .createGdprRepository(pool, { pseudonymSecret: sut.config.privacy.pseudonymSecret })
        .countUserRows(user),
    ))
      expect(n, table).toBe(0)
    const kept = await sut.gateway.queues[DM_QUEUE].getJobs(['completed'], 0, 1000)
    expect(kept.some((j) => (j.data as { igUserId?: string }).igUserId === user)).toBe(false)

    const again = await sut.gateway.app.inject({ method: 'DELETE', url: `/admin/users/${user}`, headers })
    expect(again.statusCode).toBe(200)
    expect(again.json().counts.rows).toBe(0)
    expect(again.json().counts.jobs).toBe(0)

    // A Meta re-delivery of an erased mid is acknowledged and not answered again (the kept job id).
    const sendsBefore = sut.graph.sendsTo(user).length
    const firstMid = kept.find((j) => (j.data as { erased?: boolean }).erased)?.id as string
    const redelivered = await sut.dm({ user, text: DRESS, mid: firstMid.replace(/^dm-/, '') })
    expect(redelivered.status).toBe(200)
    expect((await sut.gateway.queues[DM_QUEUE].getJob(firstMid))?.data).toEqual({ erased: true })
    await new Promise((r) => setTimeout(r, 300))
    expect(sut.graph.sendsTo(user)).toHaveLength(sendsBefore)

    const fresh = await sut.dm({ user, text: PARAPHRASE })
    await sut.waitForReplies([fresh.mid])
    expect(recalledFor(fresh.mid)).toBe(0)
    const rows = await pool.query(
      'select content from conversation_messages where ig_user_id = $1 order by id',
      [user],
    )
    expect(rows.rows.map((r) => r.content)[0]).toBe(PARAPHRASE)
    expect(await sut.gateway.queues[DM_QUEUE].getJob(dmJobId(fresh.mid))).toBeDefined()
  })
})
