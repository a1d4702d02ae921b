import { canaryArm } from '@loopdm/models/canary-decision'
import { createRegistryRepository } from '@loopdm/models/registry'
import { type FakeGraph, startFakeGraph } from '@loopdm/testing/fake-graph'
import { testDatabaseUrl, testPool } from '@loopdm/testing/fixtures'
import { sendDm, spawnGateway } from '@loopdm/testing/gateway-proc'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { waitFor } from '@loopdm/testing/wait'
import { newMid } from '@loopdm/testing/webhook'
import { legacyUserKey } from '@loopdm/training-data/pseudonym'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { canaryRegistry } from './support/canary-registry.js'
import { echoTo, metaBody } from './support/meta.js'
import { buildTestGateway, igUser, TEST_ADMIN_TOKEN, type TestGateway } from './support/test-gateway.js'

/**
 * Canary rollouts on three real gateways (one process, shared Redis, Postgres, openai-local and a
 * fake Graph API): the split travels on the hot-swap channel, every gateway routes each customer
 * the same way, a worse candidate (its answers make the test's customers call a human) is rolled
 * back by the periodic check, an equal one is promoted, and a restarted gateway rejoins the split.
 */
const BASE = 'gpt-4.1-mini'
const WORSE = 'gpt-4.1-nano'
const EQUAL = 'gpt-4o-mini'
const SHADOW = 'gpt-4o'
const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }

describe('canary on three gateways', () => {
  let openai: OpenAILocal
  let graph: FakeGraph
  const gw: TestGateway[] = []
  let pool: Awaited<ReturnType<typeof testPool>>
  let registry: Awaited<ReturnType<typeof canaryRegistry>> | undefined
  const prefix = `test-canary-${Date.now()}`
  const env = {
    QUEUE_PREFIX: prefix,
    MODEL_CHANNEL: `${prefix}:model:active`,
    BASE_MODEL: BASE,
    CANARY_CHECK_INTERVAL_MS: '100',
    MODEL_RECONCILE_INTERVAL_MS: '500',
    CANARY_AUTO_PROMOTE: 'true',
    CANARY_MAX_P99_LATENCY_MS: '120000',
    CANARY_UNANSWERED_QUIET_MS: '0',
    DM_CONCURRENCY: '8',
  }
  const start = () => buildTestGateway({ openai, graph, env })
  const admin = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
    (gw[0] as TestGateway).gateway.app.inject({ method, url, headers: auth, payload: payload as object })

  /** One DM from each user, through the gateways in turn; resolves once every one is answered. */
  async function dmAll(users: string[], offset = 0) {
    const mids: string[] = []
    for (const [i, user] of users.entries()) {
      const g = gw[(i + offset) % gw.length] as TestGateway
      const r = await g.dm({ user, text: `where is my order ${i}` })
      expect(r.status).toBe(200)
      mids.push(r.mid)
    }
    return (gw[0] as TestGateway).waitForReplies(mids, 60_000)
  }

  async function liveRun() {
    const r = await pool.query<{ id: number; status: string }>(
      'select id::int8 as id, status from canary_runs order by id desc limit 1',
    )
    return r.rows[0]
  }

  beforeAll(async () => {
    pool = await testPool(2)
    registry = await canaryRegistry(
      pool,
      [WORSE, EQUAL, SHADOW].map((model) => ({ model, kind: 'base' as const })),
    )
    openai = await startOpenAILocal({ port: 0 })
    graph = await startFakeGraph()
    for (let i = 0; i < 3; i++) gw.push(await start())
  }, 120_000)

  afterAll(async () => {
    for (const g of gw) await g.close()
    await graph?.close()
    await openai?.close()
    await pool.query(`delete from cost_ledger where purpose = 'shadow-test'`)
    await registry?.restore()
    await pool.end()
  })

  it('routes each of 200 customers to one arm on all 3 gateways, and a restarted gateway rejoins the split', async () => {
    const res = await admin('POST', `/admin/candidates/${WORSE}/canary`, {
      percent: 50,
      minReplies: 100_000,
      maxHours: 10,
    })
    expect(res.statusCode, res.body).toBe(201)
    const { run } = res.json() as { run: { id: number; salt: string } }
    for (const g of gw) await expect.poll(() => g.gateway.rollout.split.current()?.runId).toBe(run.id)

    const users = Array.from({ length: 200 }, () => igUser())
    const first = await dmAll(users)
    const second = await dmAll(users, 1)
    const arms = users.map((u) => canaryArm(legacyUserKey(u), 50, run.salt))
    const onCanary = arms.filter((a) => a === 'canary').length
    expect(onCanary).toBeGreaterThan(70)
    expect(onCanary).toBeLessThan(130)
    for (const [i, user] of users.entries()) {
      const want = arms[i] === 'canary' ? WORSE : BASE
      expect([first[i]?.model, second[i]?.model]).toEqual([want, want])
      for (const g of gw) expect(g.gateway.rollout.split.route(user, null)?.arm).toBe(arms[i])
    }
    // Every gateway's worker answered some of them, and said which arm in Selected Model.
    for (const g of gw)
      expect(g.logs.some((l) => l.msg === 'Selected Model' && l.canaryRun === run.id && l.arm)).toBe(true)
    const stored = await pool.query<{ n: number }>(
      `select count(*)::int as n from conversation_messages where ig_user_id = any($1) and role = 'assistant'
          and canary_arm = case when model = $2 then 'canary' else 'control' end`,
      [users, WORSE],
    )
    expect(stored.rows[0]?.n).toBe(400)

    // A gateway restarted mid-canary reads the split back from Postgres at start.
    await (gw[1] as TestGateway).close()
    gw[1] = await start()
    expect(gw[1].gateway.rollout.split.current()).toMatchObject({
      runId: run.id,
      salt: run.salt,
      percent: 50,
    })
    for (const [i, user] of users.entries())
      expect(gw[1].gateway.rollout.split.route(user, null)?.arm).toBe(arms[i])

    const view = (await admin('GET', '/admin/canary')).json()
    expect(view.live.counts.canary.replies).toBe(onCanary * 2)
    expect(view.live.counts.control.replies).toBe((200 - onCanary) * 2)
    expect(view.live.decision).toBe('continue')
    expect(view.events.some((e: { kind: string }) => e.kind === 'check')).toBe(true)
    const metrics = (await gw[0]?.gateway.app.inject({ url: '/metrics', headers: auth }))?.body
    expect(metrics).toContain('loopdm_canary_percent 50')
    expect(metrics).toMatch(/loopdm_canary_replies\{arm="canary"\} [1-9]/)

    // Two customers a human took over ask again and get no answer: unanswered at the end, on their arm.
    for (const user of users.slice(0, 2)) {
      expect((await admin('POST', `/admin/users/${user}/pause`)).statusCode).toBe(200)
      await gw[0]?.dm({ user, text: 'hello? anyone there?' })
    }
    const unanswered = async () => {
      const c = (await admin('GET', '/admin/canary')).json().live.counts
      return c.control.unanswered + c.canary.unanswered
    }
    await expect.poll(unanswered, { timeout: 10_000 }).toBe(2)
    const armOf0 = arms[0] as 'canary' | 'control'
    expect(
      (await admin('GET', '/admin/canary')).json().live.counts[armOf0].unanswered,
    ).toBeGreaterThanOrEqual(1)

    // The console's overview shows the canary as of its last check.
    const app = (gw[0] as TestGateway).gateway.app
    const login = await app.inject({
      method: 'POST',
      url: '/console/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ token: TEST_ADMIN_TOKEN, next: '/console' }).toString(),
    })
    const cookie = String(login.headers['set-cookie']).split(';')[0] as string
    const overview = await app.inject({ url: '/console', headers: { cookie } })
    expect(overview.body).toContain('data-testid="canary"')
    expect(overview.body).toContain(`<strong>${WORSE}</strong> on 50% of customers · running`)

    expect((await admin('POST', '/admin/canary/stop', { reason: 'test done' })).statusCode).toBe(200)
    for (const g of gw) await expect.poll(() => g.gateway.rollout.split.current()).toBeNull()
  }, 180_000)

  it('a gateway process killed (-9) mid-canary comes back on the same split and answers by it', async () => {
    const res = await admin('POST', `/admin/candidates/${WORSE}/canary`, {
      percent: 30,
      minReplies: 100_000,
      maxHours: 10,
    })
    expect(res.statusCode, res.body).toBe(201)
    const { run } = res.json() as { run: { id: number; salt: string } }
    const procEnv = {
      ...env,
      DATABASE_URL: testDatabaseUrl(),
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      OPENAI_BASE_URL: openai.baseURL,
      IG_GRAPH_BASE_URL: graph.baseUrl,
      IG_ACCESS_TOKEN: 'test-ig-access-token',
      MEMORY_ENABLED: 'false',
    }
    let proc = await spawnGateway('gw-canary', procEnv)
    try {
      const split = async () => (await proc.admin('/admin/canary')).json.split
      await expect
        .poll(split, { timeout: 10_000 })
        .toMatchObject({ runId: run.id, salt: run.salt, percent: 30 })
      await proc.kill()
      proc = await spawnGateway('gw-canary-restarted', procEnv)
      expect(await split()).toMatchObject({ runId: run.id, salt: run.salt, percent: 30 })
      const users = Array.from({ length: 30 }, () => igUser())
      const mids: string[] = []
      for (const user of users) mids.push((await sendDm(proc.url, { user, text: 'do you ship abroad?' })).mid)
      const replies = await (gw[0] as TestGateway).waitForReplies(mids, 60_000)
      for (const [i, user] of users.entries()) {
        const arm = canaryArm(legacyUserKey(user), 30, run.salt)
        expect(replies[i]?.model).toBe(arm === 'canary' ? WORSE : BASE)
      }
    } finally {
      await proc.kill()
    }
    expect((await admin('POST', '/admin/canary/stop')).statusCode).toBe(200)
  }, 180_000)

  it('rolls a worse candidate back automatically, logged with the numbers, with no failed DM', async () => {
    const res = await admin('POST', `/admin/candidates/${WORSE}/canary`, {
      percent: 50,
      minReplies: 20,
      maxHours: 10,
    })
    expect(res.statusCode, res.body).toBe(201)
    const { run } = res.json() as { run: { id: number } }
    for (const g of gw) await expect.poll(() => g.gateway.rollout.split.current()?.runId).toBe(run.id)
    const users = Array.from({ length: 80 }, () => igUser())
    const replies = await dmAll(users)
    // The scripted customers: whoever got the candidate's answer asks for a human, who replies.
    for (const r of replies)
      if (r.model === WORSE)
        await gw[0]?.postWebhook(
          metaBody([echoTo(r.igUserId, newMid(), 'Hi, a human here, sorry about that')]),
        )
    await waitFor(async () => (await liveRun())?.status === 'rolled_back', {
      what: 'the canary rolled back',
      timeoutMs: 30_000,
    })
    const log = await pool.query<{ decision: string; reason: string; numbers: Record<string, any> }>(
      `select decision, reason, numbers from canary_events where run_id = $1 and kind = 'decision'`,
      [run.id],
    )
    expect(log.rows).toHaveLength(1)
    expect(log.rows[0]?.reason).toMatch(/^rollback: canary clearly worse/)
    expect(log.rows[0]?.numbers.test.lower).toBeGreaterThan(0)
    expect(log.rows[0]?.numbers.signals.canary.takeovers).toBeGreaterThanOrEqual(20)
    const failed = await pool.query(`select 1 from outbox where ig_user_id = any($1) and status <> 'sent'`, [
      users,
    ])
    expect(failed.rowCount).toBe(0)
    expect((await createRegistryRepository(pool).findByIdOrModel(WORSE))?.status).toBe('rejected')
    for (const g of gw) await expect.poll(() => g.gateway.rollout.split.current()).toBeNull()
    // After the rollback every customer is answered by the control again (the ones a human took over stay paused).
    const after = await dmAll(Array.from({ length: 6 }, () => igUser()))
    expect(after.every((r) => r.model === BASE)).toBe(true)
  }, 120_000)

  it('promotes an equal candidate (CANARY_AUTO_PROMOTE=true) through the promotion log', async () => {
    const res = await admin('POST', `/admin/policies/${EQUAL}/canary`, {
      percent: 50,
      minReplies: 30,
      maxHours: 10,
      margin: 0.15,
    })
    expect(res.statusCode, res.body).toBe(201)
    const { run } = res.json() as { run: { id: number } }
    for (const g of gw) await expect.poll(() => g.gateway.rollout.split.current()?.runId).toBe(run.id)
    const users = Array.from({ length: 100 }, () => igUser())
    await dmAll(users)
    await waitFor(async () => (await liveRun())?.status === 'promoted', {
      what: 'promoted',
      timeoutMs: 30_000,
    })
    const p = await pool.query<{ actor: string; reason: string; metrics: Record<string, any> }>(
      'select actor, reason, metrics from model_promotions where to_model = $1 order by id desc limit 1',
      [EQUAL],
    )
    expect(p.rows[0]).toMatchObject({ actor: 'canary' })
    expect(p.rows[0]?.reason).toMatch(/^promote: canary not worse/)
    expect(p.rows[0]?.metrics.canary.arms.canary.replies).toBeGreaterThanOrEqual(30)
    for (const g of gw) await expect.poll(() => g.gateway.holder.current()?.model).toBe(EQUAL)
  }, 120_000)

  it('refuses a bad canary request naming the field, and an unknown candidate', async () => {
    const bad = await admin('POST', `/admin/candidates/${EQUAL}/canary`, {
      percent: 0,
      minReplies: 5,
      maxHours: 1,
    })
    expect(bad.statusCode).toBe(400)
    expect(bad.body).toContain('percent')
    const missing = await admin('POST', '/admin/candidates/no-such-model/canary', {
      percent: 5,
      minReplies: 5,
      maxHours: 1,
    })
    expect(missing.statusCode).toBe(404)
  })

  it('stores a shadow candidate answers beside the sent ones, scored, and never sends them', async () => {
    const res = await admin('POST', `/admin/candidates/${SHADOW}/shadow`, { sample: 1 })
    expect(res.statusCode, res.body).toBe(201)
    const { run } = res.json() as { run: { id: number } }
    for (const g of gw) await expect.poll(() => g.gateway.rollout.shadow.current()?.id).toBe(run.id)
    const users = Array.from({ length: 10 }, () => igUser())
    const replies = await dmAll(users)
    const answers = await waitFor(
      async () => {
        const r = await pool.query<{
          mid: string
          model: string
          content: string
          sent_content: string
          scores: any
        }>('select mid, model, content, sent_content, scores from shadow_answers where run_id = $1', [run.id])
        return r.rows.length === users.length && r.rows
      },
      { what: 'shadow answers', timeoutMs: 30_000 },
    )
    for (const a of answers) {
      const sent = replies.find((r) => r.mid === a.mid)
      expect(a.model).toBe(SHADOW)
      expect(a.sent_content).toBe(sent?.text)
      expect(a.scores).toMatchObject({ piiOk: true, lengthOk: true, judge: null })
      expect(a.scores.similarity).toBeGreaterThan(0.5)
    }
    // The fake Graph API got exactly the live replies: one send per DM, none from the shadow.
    for (const [i, user] of users.entries()) {
      expect(graph.sendsTo(user).map((x) => x.text)).toEqual([replies[i]?.text])
    }
    const ledger = await pool.query<{ n: number }>(
      `select count(*)::int as n from cost_ledger where purpose = 'shadow' and model = $1`,
      [SHADOW],
    )
    expect(ledger.rows[0]?.n).toBeGreaterThanOrEqual(users.length)

    // At SHADOW_MAX_USD for the day the shadow answers are skipped; the live replies go on.
    await pool.query(
      `insert into cost_ledger (operation, model, purpose, cost_usd) values ('chat', $1, 'shadow-test', 1000)`,
      [SHADOW],
    )
    const more = Array.from({ length: 3 }, () => igUser())
    await dmAll(more)
    const metrics = async () =>
      (await gw[0]?.gateway.app.inject({ url: '/metrics', headers: auth }))?.body ?? ''
    await waitFor(
      async () => {
        const all = await Promise.all(
          gw.map(async (g) => (await g.gateway.app.inject({ url: '/metrics', headers: auth })).body),
        )
        return all.some((m) => /loopdm_shadow_answers_total\{result="capped"\} [1-9]/.test(m))
      },
      { what: 'a capped shadow answer', timeoutMs: 20_000 },
    )
    const stored = await pool.query(
      'select 1 from shadow_answers where run_id = $1 and ig_user_id = any($2)',
      [run.id, more],
    )
    expect(stored.rowCount).toBe(0)
    const view = (await admin('GET', '/admin/shadow')).json()
    expect(view.summary.answers).toBe(users.length)
    expect(view.spentTodayUsd).toBeGreaterThanOrEqual(1000)
    expect(await metrics()).toContain('loopdm_shadow_answers_total')
    expect((await admin('POST', '/admin/shadow/stop')).statusCode).toBe(200)
  }, 120_000)
})
