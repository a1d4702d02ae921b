import { createRegistryRepository, type ModelStatus } from '@loopdm/models/registry'
import { testPool } from '@loopdm/testing/fixtures'
import { snapshotRegistry } from '@loopdm/testing/registry-fixture'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestGateway, igUser, TEST_ADMIN_TOKEN, type TestGateway } from './support/test-gateway.js'

/**
 * The promotion log (issue 19): a canary's start, its checks and its decision appear in
 * `GET /admin/promotions` and on the console's Promotions timeline, interleaved by time with the
 * promotions, with their numbers. The periodic check is hourly; the test runs each check itself.
 */
const BASE = 'gpt-4.1-mini'
const CANDIDATE = 'gpt-4o-mini'
const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }

interface Entry {
  kind: string
  id: number
  runId?: number
  model?: string
  toModel?: string
  fromModel?: string | null
  actor: string
  reason: string
  decision?: string | null
  createdAt: string
  arms?: Record<'control' | 'canary', { replies: number; badRate: number }> | null
  statistic?: { z: number; logLR: number; lower: number; upper: number } | null
  numbers?: Record<string, unknown> | null
}

describe('the promotion log with canary events', () => {
  let sut: TestGateway
  let pool: Awaited<ReturnType<typeof testPool>>
  let snapshot: Awaited<ReturnType<typeof snapshotRegistry>>
  let before: ModelStatus | null = null
  const admin = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
    sut.gateway.app.inject({ method, url, headers: auth, payload: payload as object })
  const log = async (query = '') => {
    const res = await admin('GET', `/admin/promotions${query}`)
    expect(res.statusCode, res.body).toBe(200)
    return (res.json() as { promotions: Entry[] }).promotions
  }

  beforeAll(async () => {
    pool = await testPool(2)
    await pool.query('delete from canary_runs')
    snapshot = await snapshotRegistry(pool)
    await snapshot.clearActive()
    const registry = createRegistryRepository(pool)
    before = (await registry.findByIdOrModel(CANDIDATE))?.status ?? null
    await registry.upsertModel({ model: CANDIDATE, kind: 'base', status: 'candidate' })
    await registry.setStatus(CANDIDATE, 'candidate')
    sut = await buildTestGateway({
      env: {
        BASE_MODEL: BASE,
        CANARY_CHECK_INTERVAL_MS: '3600000',
        CANARY_MAX_P99_LATENCY_MS: '120000',
        DM_CONCURRENCY: '8',
      },
    })
  }, 90_000)

  afterAll(async () => {
    await sut?.close()
    await pool.query('delete from canary_runs')
    await snapshot?.restore(before === null ? [CANDIDATE] : [])
    if (before) await pool.query('update models set status = $2 where model = $1', [CANDIDATE, before])
    await pool.end()
  })

  it('lists the start, each check and the decision with their numbers, interleaved with promotions', async () => {
    const started = await admin('POST', `/admin/candidates/${CANDIDATE}/canary`, {
      percent: 50,
      minReplies: 3,
      maxHours: 10,
      margin: 0,
    })
    expect(started.statusCode, started.body).toBe(201)
    const runId = (started.json() as { run: { id: number } }).run.id
    await expect.poll(() => sut.gateway.rollout.split.current()?.runId).toBe(runId)

    const mids: string[] = []
    for (let i = 0; i < 24; i++) mids.push((await sut.dm({ user: igUser(), text: `hello ${i}` })).mid)
    await sut.waitForReplies(mids, 60_000)
    // Margin 0 and no bad outcome on either arm: neither worse nor better, the test goes on.
    expect((await sut.gateway.rollout.checker.check())?.decision.decision).toBe('continue')
    // maxHours goes by (the run's start is moved back instead of waiting): undecided → keep current.
    await pool.query(`update canary_runs set started_at = now() - interval '11 hours' where id = $1`, [runId])
    expect((await sut.gateway.rollout.checker.check())?.action).toBe('kept')

    const promoted = await admin('POST', `/admin/models/${CANDIDATE}/promote`, { actor: 'tester' })
    expect(promoted.statusCode, promoted.body).toBe(200)

    const entries = await log()
    const kinds = entries.map((e) => e.kind)
    expect(kinds.slice(0, 5)).toEqual([
      'promotion',
      'canary-keep',
      'canary-check',
      'canary-check',
      'canary-start',
    ])
    const times = entries.map((e) => Date.parse(e.createdAt))
    expect(times).toEqual([...times].sort((a, b) => b - a))

    // The promotion row keeps its fields; a kind is added.
    const [promotion, keep, lastCheck, firstCheck, start] = entries as [Entry, Entry, Entry, Entry, Entry]
    expect(Object.keys(promotion).sort()).toEqual(
      ['actor', 'createdAt', 'fromModel', 'id', 'kind', 'metrics', 'reason', 'toModel'].sort(),
    )
    expect(promotion).toMatchObject({ toModel: CANDIDATE, actor: 'tester' })

    expect(start).toMatchObject({ runId, model: CANDIDATE, controlModel: null, decision: null, arms: null })
    expect(start.reason).toMatch(/^start: 50% of customers on gpt-4o-mini vs gpt-4.1-mini/)
    expect(start.numbers).toMatchObject({ percent: 50, minReplies: 3, maxHours: 10 })

    for (const check of [firstCheck, lastCheck]) {
      expect(check.actor).toBe('canary')
      const arms = check.arms as NonNullable<Entry['arms']>
      expect(arms.control.replies + arms.canary.replies).toBe(24)
      expect(arms.canary.replies).toBeGreaterThanOrEqual(3)
      expect(arms.canary.badRate).toBe(0)
      expect(check.statistic).toMatchObject({ z: expect.any(Number), logLR: expect.any(Number) })
      expect(check.numbers).toHaveProperty('signals')
    }
    expect(firstCheck.decision).toBe('continue')
    expect(lastCheck.decision).toBe('keep')
    expect(keep).toMatchObject({ runId, decision: 'keep', actor: 'canary' })
    expect(keep.reason).toMatch(/keep/)
    expect(keep.arms?.canary.replies).toBe(lastCheck.arms?.canary.replies)

    // Without the periodic checks: promotions, starts and decisions only.
    expect((await log('?checks=false')).slice(0, 3).map((e) => e.kind)).toEqual([
      'promotion',
      'canary-keep',
      'canary-start',
    ])
    expect((await admin('GET', '/admin/promotions?limit=0')).statusCode).toBe(400)

    // The console's Promotions timeline lists the same events with their numbers.
    const login = await sut.gateway.app.inject({
      method: 'POST',
      url: '/console/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ token: TEST_ADMIN_TOKEN }).toString(),
    })
    const cookie = String(login.headers['set-cookie']).split(';')[0] as string
    const page = await sut.gateway.app.inject({ url: '/console/promotions', headers: { cookie } })
    expect(page.statusCode).toBe(200)
    const items = [...page.body.matchAll(/<li data-testid="(promotion-row|canary-event)"[^>]*>/g)].map(
      (m) => /data-kind="([^"]+)"/.exec(m[0])?.[1] ?? m[1],
    )
    expect(items.slice(0, 5)).toEqual([
      'promotion-row',
      'canary-keep',
      'canary-check',
      'canary-check',
      'canary-start',
    ])
    const lc = lastCheck.arms as NonNullable<Entry['arms']>
    expect(page.body).toContain(
      `control ${lc.control.replies} replies, bad 0.0% · canary ${lc.canary.replies} replies, bad 0.0%`,
    )
    expect(page.body).toMatch(/data-testid="canary-numbers">[^<]* · z -?\d/)
  }, 120_000)
})
