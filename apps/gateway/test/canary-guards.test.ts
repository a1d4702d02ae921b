import { startCanary } from '@loopdm/models/canary-control'
import { createRegistryRepository } from '@loopdm/models/registry'
import { createRedis } from '@loopdm/redis/client'
import { fineTuneModel } from '@loopdm/testing/fine-tune'
import { testPool } from '@loopdm/testing/fixtures'
import { freePort } from '@loopdm/testing/gateway-proc'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { waitFor } from '@loopdm/testing/wait'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { canaryRegistry } from './support/canary-registry.js'
import { buildTestGateway, igUser, TEST_ADMIN_TOKEN, type TestGateway } from './support/test-gateway.js'

/**
 * The canary's other outcomes on a real gateway: with CANARY_AUTO_PROMOTE=false a candidate shown
 * not worse waits for approval (the split goes on) and is promoted by the approval; a hard guard
 * (the candidate disappears at the provider: every reply on its arm falls back) stops it at once.
 */
const BASE = 'gpt-4.1-mini'
const EQUAL = 'gpt-4o-2024-08-06'
const UNAPPROVED = 'gpt-4o-mini-2024-07-18'
const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }

describe('canary approval and hard guards', () => {
  let openai: OpenAILocal
  let sut: TestGateway
  let pool: Awaited<ReturnType<typeof testPool>>
  let registry: Awaited<ReturnType<typeof canaryRegistry>> | undefined
  let ft: string
  let ftShadow: string
  const admin = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
    sut.gateway.app.inject({ method, url, headers: auth, payload: payload as object })
  const run = async () =>
    (
      await pool.query<{ id: number; status: string; reason: string }>(
        'select id::int8 as id, status, reason from canary_runs order by id desc limit 1',
      )
    ).rows[0]
  async function dmAll(n: number) {
    const mids: string[] = []
    for (let i = 0; i < n; i++) mids.push((await sut.dm({ user: igUser(), text: `hello ${i}` })).mid)
    return sut.waitForReplies(mids, 60_000)
  }

  beforeAll(async () => {
    pool = await testPool(2)
    openai = await startOpenAILocal({ port: 0, ftStepMs: 10 })
    ft = await fineTuneModel(openai.baseURL, { suffix: `guard${Date.now() % 100_000}`, timeoutMs: 30_000 })
    ftShadow = await fineTuneModel(openai.baseURL, {
      suffix: `shadow${Date.now() % 100_000}`,
      timeoutMs: 30_000,
    })
    registry = await canaryRegistry(pool, [
      { model: EQUAL, kind: 'base' },
      { model: UNAPPROVED, kind: 'base' },
      { model: ft, kind: 'fine_tuned' },
      { model: ftShadow, kind: 'fine_tuned' },
    ])
    sut = await buildTestGateway({
      openai,
      env: {
        BASE_MODEL: BASE,
        CANARY_CHECK_INTERVAL_MS: '100',
        CANARY_AUTO_PROMOTE: 'false',
        CANARY_GUARD_MIN_REPLIES: '5',
        CANARY_MAX_P99_LATENCY_MS: '120000',
        MODEL_RECONCILE_INTERVAL_MS: '300',
        DM_CONCURRENCY: '8',
      },
    })
  }, 90_000)

  afterAll(async () => {
    await sut?.close()
    await openai?.close()
    await registry?.restore()
    await pool.end()
  })

  it('waits for approval when the candidate is not worse, keeps splitting, and the approval promotes it', async () => {
    const res = await admin('POST', `/admin/candidates/${EQUAL}/canary`, {
      percent: 50,
      minReplies: 25,
      maxHours: 10,
      margin: 0.15,
    })
    expect(res.statusCode, res.body).toBe(201)
    await dmAll(90)
    await waitFor(async () => (await run())?.status === 'awaiting_approval', { what: 'awaiting approval' })
    expect((await run())?.reason).toMatch(/^promote: canary not worse .*; waiting for approval/)
    expect(sut.gateway.holder.current()).toBeNull()
    expect(sut.gateway.rollout.split.current()?.model).toBe(EQUAL)

    const approve = await admin('POST', `/admin/candidates/${EQUAL}/approve`, { actor: 'tester' })
    expect(approve.statusCode, approve.body).toBe(200)
    await waitFor(async () => (await run())?.status === 'promoted', { what: 'the run ended as promoted' })
    await expect.poll(() => sut.gateway.rollout.split.current()).toBeNull()
    expect(sut.gateway.holder.current()?.model).toBe(EQUAL)
  }, 120_000)

  it('keeps the current policy when a canary waiting for approval reaches maxHours unapproved', async () => {
    const res = await admin('POST', `/admin/candidates/${UNAPPROVED}/canary`, {
      percent: 50,
      minReplies: 25,
      maxHours: 1,
      margin: 0.15,
    })
    expect(res.statusCode, res.body).toBe(201)
    await dmAll(90)
    await waitFor(async () => (await run())?.status === 'awaiting_approval', { what: 'awaiting approval' })
    // Nobody approves: an hour goes by (the run's start is moved back instead of waiting).
    await pool.query(
      `update canary_runs set started_at = now() - interval '61 minutes' where status = 'awaiting_approval'`,
    )
    await waitFor(async () => (await run())?.status === 'kept', { what: 'kept' })
    expect((await run())?.reason).toMatch(/^keep current: not approved within maxHours 1 \(promote: /)
    await expect.poll(() => sut.gateway.rollout.split.current()).toBeNull()
    expect(sut.gateway.holder.current()?.model).toBe(EQUAL)
  }, 60_000)

  it('a canary whose publish failed reaches the gateway through its periodic registry read', async () => {
    // The fault: the publishing Redis is unreachable (nothing listens on that port).
    const down = createRedis({ url: `redis://127.0.0.1:${await freePort()}`, role: 'producer' })
    try {
      const sdk = new OpenAI({ apiKey: 'test', baseURL: openai.baseURL })
      const started = await startCanary({
        ...{ db: pool, redis: down, sdk, config: sut.config, logger: sut.gateway.dmDeps.logger },
        ...{ ref: UNAPPROVED, percent: 20, minReplies: 1000, maxHours: 10, actor: 'test' },
      })
      await expect.poll(() => sut.gateway.rollout.split.current()?.runId, { timeout: 5_000 }).toBe(started.id)
      expect(sut.logs).toContainEqual(
        expect.objectContaining({
          msg: 'canary publish failed; gateways converge on their reconcile interval',
        }),
      )
      expect(sut.logs).toContainEqual(
        expect.objectContaining({ msg: 'canary split applied', run: started.id, source: 'reconcile' }),
      )
      expect((await admin('POST', '/admin/canary/stop')).statusCode).toBe(200)
      await expect.poll(() => sut.gateway.rollout.split.current()).toBeNull()
    } finally {
      down.disconnect()
    }
  }, 60_000)

  it('stops at once when the canary arm falls back over the threshold, and no DM fails', async () => {
    const res = await admin('POST', `/admin/candidates/${ft}/canary`, {
      percent: 50,
      minReplies: 1000,
      maxHours: 10,
    })
    expect(res.statusCode, res.body).toBe(201)
    await expect.poll(() => sut.gateway.rollout.split.current()?.model).toBe(ft)
    // The fault: the candidate is deleted at the provider while its canary runs.
    await new OpenAI({ apiKey: 'test', baseURL: openai.baseURL }).models.delete(ft)
    const replies = await dmAll(40)
    await waitFor(async () => (await run())?.status === 'stopped', { what: 'the guard stopped the canary' })
    expect((await run())?.reason).toMatch(/^stop: canary fallback rate \d+\.\d% > 20\.0%/)
    expect(replies.every((r) => r.status === 'sent')).toBe(true)
    expect((await createRegistryRepository(pool).findByIdOrModel(ft))?.status).toBe('rejected')
    await expect.poll(() => sut.gateway.rollout.split.current()).toBeNull()
  }, 120_000)

  it('a shadow whose candidate fails never fails a real reply, and its failures are counted', async () => {
    const res = await admin('POST', `/admin/candidates/${ftShadow}/shadow`, { sample: 1 })
    expect(res.statusCode, res.body).toBe(201)
    // The fault: the shadow candidate disappears at the provider.
    await new OpenAI({ apiKey: 'test', baseURL: openai.baseURL }).models.delete(ftShadow)
    const replies = await dmAll(10)
    expect(replies.every((r) => r.status === 'sent')).toBe(true)
    const errors = async () => {
      const m = (await sut.gateway.metrics.shadowAnswers.get()).values
      return m.find((v) => v.labels.result === 'error')?.value ?? 0
    }
    await expect.poll(errors, { timeout: 20_000 }).toBeGreaterThanOrEqual(10)
    const stored = await pool.query('select 1 from shadow_answers where model = $1', [ftShadow])
    expect(stored.rowCount).toBe(0)
    for (const r of replies) expect(sut.graph.sendsTo(r.igUserId)).toHaveLength(1)
    expect(sut.logs.some((l) => l.msg === 'job failed' && l.queue === 'shadow')).toBe(true)
  }, 120_000)

  it('drops a queued shadow answer of a customer erased (GDPR) after it was queued', async () => {
    const live = await pool.query<{ id: number }>(
      `select id::int8 as id from shadow_runs where status = 'running'`,
    )
    const runId = Number(live.rows[0]?.id)
    const user = igUser()
    const job = await sut.gateway.queues.shadow.add(
      'answer',
      {
        runId,
        mid: `mid.erase-${user}`,
        igUserId: user,
        messages: [{ role: 'user', content: 'hi' }],
        sentText: 'hello',
      },
      { delay: 1500 },
    )
    const erase = await sut.gateway.app.inject({
      method: 'DELETE',
      url: `/admin/users/${user}`,
      headers: auth,
    })
    expect(erase.statusCode, erase.body).toBe(200)
    await waitFor(
      async () => (await sut.gateway.queues.shadow.getJob(job.id as string))?.returnvalue === 'erased',
      {
        what: 'the shadow job dropped as erased',
        timeoutMs: 15_000,
      },
    )
    expect((await pool.query('select 1 from shadow_answers where ig_user_id = $1', [user])).rowCount).toBe(0)
  }, 60_000)
})
