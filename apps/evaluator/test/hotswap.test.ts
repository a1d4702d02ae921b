import { type OpenAILocal, startOpenAILocal } from '@loopdm/openai-local/server'
import type { Config } from '@loopdm/shared/config'
import type { Pool } from '@loopdm/shared/db'
import { encodeActiveModelMessage } from '@loopdm/shared/hotswap'
import { createOpenAISdk } from '@loopdm/shared/openai'
import { type PromotionDeps, promoteModel } from '@loopdm/shared/promotion'
import { createRedis, type Redis } from '@loopdm/shared/redis'
import { createRegistryRepository } from '@loopdm/shared/registry'
import { testConfig, testDatabaseUrl, testPool, uniqueId } from '@loopdm/shared/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GatewayProc, sendDm, spawnGateway, startPrivateRedis, trainModel } from './support/cluster.js'
import { snapshotRegistry } from './support/registry-fixture.js'

/**
 * Hot swap across THREE real gateway processes (apps/gateway/src/main.ts children on their own
 * ports) sharing this run's Postgres, Redis and an openai-local: promotion under load, an older
 * version message, a gateway cut off from Redis during a promotion, an uncallable model.
 */
const PAIRS = (tag: string): Array<[string, string]> =>
  Array.from({ length: 12 }, (_, i) => [`question ${i} about the shop`, `${tag} answer ${i}`])

describe('hot swap across three gateway processes', () => {
  let db: Pool
  let openai: OpenAILocal
  let config: Config
  let redis: Redis
  let gws: GatewayProc[] = []
  let registryState: Awaited<ReturnType<typeof snapshotRegistry>>
  let modelA: string
  let modelB: string
  const deps = (): PromotionDeps => ({
    db,
    redis,
    sdk: createOpenAISdk({ config }),
    config,
    probe: { deadlineMs: 5_000, initialDelayMs: 20 },
  })
  const registry = () => createRegistryRepository(db)
  const envFor = (over: Record<string, string> = {}) => ({
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: config.redis.url,
    QUEUE_PREFIX: config.redis.prefix,
    MODEL_CHANNEL: config.models.channel,
    OPENAI_BASE_URL: openai.baseURL,
    OPENAI_MAX_RETRIES: '1',
    MEMORY_ENABLED: 'false',
    PROMOTE_PROBE_DEADLINE_MS: '500',
    ...over,
  })
  /** Waits until every gateway logged a swap to `version`; returns the latest receipt time. */
  const swappedOnAll = async (procs: GatewayProc[], version: number, from: number[]) => {
    const entries = await Promise.all(
      procs.map((g, i) =>
        g.waitForLog((l) => l.msg === 'active model swapped' && l.version === version, 10_000, from[i]),
      ),
    )
    return Math.max(...entries.map((e) => e.at))
  }

  beforeAll(async () => {
    db = await testPool()
    registryState = await snapshotRegistry(db)
    await registryState.clearActive()
    openai = await startOpenAILocal({ port: 0, ftStepMs: 10 })
    config = testConfig({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: openai.baseURL })
    redis = createRedis({ url: config.redis.url })
    const sdk = createOpenAISdk({ config })
    ;[modelA, modelB] = await Promise.all([
      trainModel(sdk, uniqueId('hsa'), PAIRS('A')),
      trainModel(sdk, uniqueId('hsb'), PAIRS('B')),
    ])
    await promoteModel({ ...deps(), ref: modelA, actor: 'test', reason: 'start on A' })
    gws = await Promise.all(['gw1', 'gw2', 'gw3'].map((n) => spawnGateway(n, envFor())))
  }, 180_000)

  afterAll(async () => {
    await Promise.all(gws.map((g) => g.stop()))
    await registryState.restore([modelA, modelB].filter(Boolean))
    await redis?.quit()
    await openai?.close()
    await db?.end()
  }, 60_000)

  it('starts every gateway on the registry’s active model', async () => {
    for (const g of gws) {
      const r = await g.admin('/admin/models')
      expect(r.status).toBe(200)
      expect(r.json.active.model).toBe(modelA)
    }
  })

  it('swaps all three under a load of signed DMs: zero failures, one reply each, by the model active when it started', async () => {
    const users = Array.from({ length: 12 }, () => uniqueId('igsid'))
    const from = gws.map((g) => g.logs.length)
    const sent: Array<{ mid: string; status: number; sentAt: number }> = []
    let promotedAt = 0
    let allSwappedAt = 0
    let version = 0
    const load = (async () => {
      for (let i = 0; i < 72; i++) {
        const g = gws[i % 3] as GatewayProc
        const user = users[i % users.length] as string
        const r = await sendDm(g.url, { user, text: `question ${i % 12} about the shop` })
        sent.push({ ...r, sentAt: performance.now() })
        await new Promise((res) => setTimeout(res, 25))
      }
    })()
    await new Promise((res) => setTimeout(res, 600))
    promotedAt = performance.now()
    const p = await promoteModel({ ...deps(), ref: modelB, actor: 'test', reason: 'under load' })
    version = p.version
    allSwappedAt = await swappedOnAll(gws, version, from)
    await load
    const swapMs = allSwappedAt - promotedAt
    process.stdout.write(
      `hot swap under load: promotion → in use on all three gateways in ${swapMs.toFixed(1)} ms\n`,
    )
    // The benchmark holds the < 50 ms p99 target; here only a loose bound (shared, noisy machine).
    expect(swapMs).toBeLessThan(2_000)

    // Zero failed requests.
    expect(sent.every((s) => s.status === 200)).toBe(true)
    const mids = sent.map((s) => s.mid)
    // Every DM answered exactly once (one delivered outbox part, one assistant turn).
    const until = Date.now() + 60_000
    let rows: Array<{ mid: string; n: number; model: string }> = []
    for (;;) {
      const r = await db.query<{ mid: string; n: number; model: string }>(
        `select mid, count(*)::int as n, min(model) as model from outbox
          where mid = any($1) and part = 0 group by mid`,
        [mids],
      )
      rows = r.rows
      if (rows.length === mids.length || Date.now() > until) break
      await new Promise((res) => setTimeout(res, 100))
    }
    expect(rows.length).toBe(mids.length)
    expect(rows.every((r) => r.n === 1)).toBe(true)
    // Each reply came from the model active when its job started: every `Selected Model` line
    // carries the version the job captured at its start, and version ↔ model never disagree.
    const selected = gws.flatMap((g, i) =>
      g.logs.slice(from[i]).filter((e) => e.line.msg === 'Selected Model'),
    )
    // (≥: a job retried after a transient database error logs its selection again.)
    expect(selected.length).toBeGreaterThanOrEqual(mids.length)
    const versionA = Number((await registry().promotions(50)).find((x) => x.toModel === modelA)?.id)
    for (const s of selected) {
      const expected = s.line.activeVersion === version ? modelB : modelA
      expect([versionA, version]).toContain(s.line.activeVersion)
      expect(s.line.model).toBe(expected)
    }
    const byModel = (m: string) => rows.filter((r) => r.model === m).length
    expect(byModel(modelA)).toBeGreaterThan(0)
    expect(byModel(modelA) + byModel(modelB)).toBe(mids.length)
    // DMs sent after the swap was in use everywhere were all answered by the new model.
    const after = sent.filter((s) => s.sentAt > allSwappedAt + 1).map((s) => s.mid)
    expect(after.length).toBeGreaterThan(0)
    expect(rows.filter((r) => after.includes(r.mid)).every((r) => r.model === modelB)).toBe(true)
  }, 120_000)

  it('ignores an older version message', async () => {
    const active = await registry().findActive()
    const from = gws.map((g) => g.logs.length)
    await redis.publish(
      config.models.channel,
      encodeActiveModelMessage({
        model: modelA,
        version: Number(active?.version) - 1,
        at: new Date().toISOString(),
        reason: 'stale replay',
      }),
    )
    await Promise.all(
      gws.map((g, i) =>
        g.waitForLog((l) => l.msg === 'ignored hot-swap message (not newer)', 10_000, from[i]),
      ),
    )
    for (const g of gws) expect((await g.admin('/admin/models')).json.active.model).toBe(active?.model)
  })

  it('refuses to promote an uncallable model through the admin API, and changes nothing', async () => {
    const before = await registry().findActive()
    const g = gws[0] as GatewayProc
    const ghost = `ft:gpt-3.5-turbo-0125:loopdm::${uniqueId('ghost')}`
    const r = await g.admin(`/admin/models/${encodeURIComponent(ghost)}/promote`, {
      method: 'POST',
      body: {},
    })
    expect(r.status).toBe(422)
    expect(r.json.error).toMatch(/not callable/)
    expect(await registry().findActive()).toEqual(before)
    expect(await registry().findByIdOrModel(ghost)).toBeNull()
  })

  it('approves a candidate through the admin API and every gateway swaps to it', async () => {
    await registry().upsertModel({ model: modelA, status: 'inactive' })
    await registry().setStatus(modelA, 'approved_pending', { reason: 'gate passed' })
    const from = gws.map((g) => g.logs.length)
    const r = await (gws[1] as GatewayProc).admin(`/admin/candidates/${encodeURIComponent(modelA)}/approve`, {
      method: 'POST',
      body: { actor: 'mira' },
    })
    expect(r.status).toBe(200)
    expect(r.json).toMatchObject({ model: modelA, changed: true, published: true })
    await swappedOnAll(gws, r.json.version, from)
    const rb = await (gws[2] as GatewayProc).admin('/admin/models/rollback', { method: 'POST', body: {} })
    expect(rb.status).toBe(200)
    expect(rb.json.model).toBe(modelB)
    await swappedOnAll(gws, rb.json.version, from)
  })

  describe('when a gateway is disconnected from Redis during a promotion', () => {
    it('converges within its reconcile interval', async () => {
      const privateRedis = await startPrivateRedis()
      const reconcileMs = 1_000
      const lonely = await spawnGateway(
        'gw-lonely',
        envFor({ REDIS_URL: privateRedis.url, MODEL_RECONCILE_INTERVAL_MS: String(reconcileMs) }),
      )
      try {
        const active = (await registry().findActive())?.model
        const target = active === modelA ? modelB : modelA
        await privateRedis.stop()
        const from = lonely.logs.length
        const t0 = performance.now()
        const p = await promoteModel({ ...deps(), ref: target, actor: 'test', reason: 'while disconnected' })
        const e = await lonely.waitForLog(
          (l) => l.msg === 'active model swapped' && l.version === p.version,
          reconcileMs * 4,
          from,
        )
        const convergedMs = e.at - t0
        process.stdout.write(
          `disconnected gateway converged in ${convergedMs.toFixed(0)} ms (reconcile ${reconcileMs} ms)\n`,
        )
        expect(e.line.source).toBe('reconcile')
        expect(convergedMs).toBeLessThan(reconcileMs + 1_500)
        await privateRedis.start()
        expect((await lonely.admin('/admin/models')).json.active.model).toBe(target)
      } finally {
        await lonely.stop()
        await privateRedis.stop()
      }
    }, 120_000)
  })
})
