import type { Pool } from '@loopdm/db/pool'
import type { Policy } from '@loopdm/models/policy'
import { type PromotionDeps, promoteModel, rollbackModel } from '@loopdm/models/promotion'
import { createRegistryRepository } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import { createOpenAISdk } from '@loopdm/platform/openai'
import { createRedis, type Redis } from '@loopdm/redis/client'
import { buildExemplarPolicy } from '@loopdm/testing/exemplars'
import { testConfig, testDatabaseUrl, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { type GatewayProc, sendDm, spawnGateway } from '@loopdm/testing/gateway-proc'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { snapshotRegistry } from '@loopdm/testing/registry-fixture'
import { waitFor } from '@loopdm/testing/wait'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * An exemplar policy goes through the same promotion, hot swap and rollback as a fine-tune,
 * across THREE real gateway processes: each answers with the demonstrations of the policy active
 * when its reply started (openai-local's base model answers with the shop answer of the nearest
 * demonstration), and logs `Selected Model` with the policy id and version.
 */
const pairs = (tag: string) =>
  Array.from({ length: 8 }, (_, i) => ({
    prompt: `do you have the ${['red', 'blue', 'green', 'grey', 'pink', 'black', 'white', 'teal'][i]} scarf in stock`,
    answer: `${tag}: yes, colour ${i} is in stock`,
  }))

describe('exemplar policies across three gateway processes', () => {
  let db: Pool
  let openai: OpenAILocal
  let config: Config
  let redis: Redis
  let gws: GatewayProc[] = []
  let registryState: Awaited<ReturnType<typeof snapshotRegistry>>
  let a: Policy
  let b: Policy
  const tag = uniqueId('pol')
  const deps = (): PromotionDeps => ({
    db,
    redis,
    sdk: createOpenAISdk({ config }),
    config,
    probe: { deadlineMs: 5_000, initialDelayMs: 20 },
  })

  /** Sends one DM to each gateway and returns the reply texts and their Selected Model lines. */
  async function askAll(text: string) {
    const from = gws.map((g) => g.logs.length)
    const sent = await Promise.all(gws.map((g) => sendDm(g.url, { user: uniqueId('igsid'), text })))
    expect(sent.every((s) => s.status === 200)).toBe(true)
    const rows = await waitFor(
      async () => {
        const r = await db.query<{ mid: string; text: string }>(
          `select mid, text from outbox where mid = any($1) and part = 0 and status in ('sent', 'logged')`,
          [sent.map((s) => s.mid)],
        )
        return r.rows.length === sent.length && r.rows
      },
      { what: 'a reply from each gateway', timeoutMs: 30_000, intervalMs: 100 },
    )
    const selected = gws.flatMap((g, i) =>
      g.logs
        .slice(from[i])
        .filter((e) => e.line.msg === 'Selected Model')
        .map((e) => e.line),
    )
    return { texts: rows.map((r) => r.text), selected }
  }

  const swappedOnAll = (version: number, from: number[]) =>
    Promise.all(
      gws.map((g, i) =>
        g.waitForLog((l) => l.msg === 'active model swapped' && l.version === version, 10_000, from[i]),
      ),
    )

  beforeAll(async () => {
    db = await testPool()
    registryState = await snapshotRegistry(db)
    await registryState.clearActive()
    openai = await startOpenAILocal({ port: 0 })
    config = testConfig({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: openai.baseURL })
    redis = createRedis({ url: config.redis.url })
    const sdk = createOpenAISdk({ config })
    a = (await buildExemplarPolicy({ db, sdk, pairs: pairs(`${tag}-A`), servingModel: config.models.base }))
      .policy
    b = (await buildExemplarPolicy({ db, sdk, pairs: pairs(`${tag}-B`), servingModel: config.models.base }))
      .policy
    await promoteModel({ ...deps(), ref: a.model, actor: 'test', reason: 'start on A' })
    const env = {
      DATABASE_URL: testDatabaseUrl(),
      REDIS_URL: config.redis.url,
      QUEUE_PREFIX: config.redis.prefix,
      MODEL_CHANNEL: config.models.channel,
      OPENAI_BASE_URL: openai.baseURL,
      OPENAI_MAX_RETRIES: '1',
      MEMORY_ENABLED: 'false',
      PROMOTE_PROBE_DEADLINE_MS: '2000',
    }
    gws = await Promise.all(['pg1', 'pg2', 'pg3'].map((n) => spawnGateway(n, env)))
  }, 180_000)

  afterAll(async () => {
    await Promise.all(gws.map((g) => g.stop()))
    await registryState.restore([a?.model, b?.model].filter(Boolean) as string[])
    await redis?.quit()
    await openai?.close()
    await db?.end()
  }, 60_000)

  it('starts every gateway on the active exemplar policy and answers with its demonstrations', async () => {
    for (const g of gws) {
      const r = await g.admin('/admin/models')
      expect(r.status).toBe(200)
      expect(r.json.active).toMatchObject({
        model: a.model,
        policy: {
          id: a.id,
          learner: 'exemplars',
          servingModel: config.models.base,
          exemplarSetId: a.exemplarSetId,
        },
      })
    }
    const { texts, selected } = await askAll('do you have the blue scarf in stock?')
    expect(texts).toEqual(Array(3).fill(`${tag}-A: yes, colour 1 is in stock`))
    expect(selected).toHaveLength(3)
    for (const s of selected)
      expect(s).toMatchObject({
        model: config.models.base,
        reason: 'active',
        policy: a.id,
        learner: 'exemplars',
        exemplarSet: a.exemplarSetId,
      })
  })

  it('promotes another exemplar policy on all three, then rolls back to the first', async () => {
    let from = gws.map((g) => g.logs.length)
    const p = await promoteModel({ ...deps(), ref: b.model, actor: 'test', reason: 'B is better' })
    expect(p.policy).toMatchObject({ id: b.id, learner: 'exemplars' })
    await swappedOnAll(p.version, from)
    const afterPromote = await askAll('do you have the teal scarf in stock?')
    expect(afterPromote.texts).toEqual(Array(3).fill(`${tag}-B: yes, colour 7 is in stock`))
    for (const s of afterPromote.selected) expect(s).toMatchObject({ policy: b.id, policyVersion: p.version })

    from = gws.map((g) => g.logs.length)
    const rb = await rollbackModel({ ...deps(), actor: 'test' })
    expect(rb).toMatchObject({ model: a.model, from: b.model })
    await swappedOnAll(rb.version, from)
    const afterRollback = await askAll('do you have the teal scarf in stock?')
    expect(afterRollback.texts).toEqual(Array(3).fill(`${tag}-A: yes, colour 7 is in stock`))
    for (const s of afterRollback.selected)
      expect(s).toMatchObject({ policy: a.id, policyVersion: rb.version })
  }, 60_000)

  it('answers the old admin routes and their policy aliases alike', async () => {
    const g = gws[0] as GatewayProc
    const [models, policies] = await Promise.all([g.admin('/admin/models'), g.admin('/admin/policies')])
    expect(models.status).toBe(200)
    expect(policies.status).toBe(200)
    expect(policies.json.active).toEqual(models.json.active)
    const listed = (policies.json.policies as Array<{ model: string; learner: string }>).find(
      (x) => x.model === b.model,
    )
    expect(listed).toMatchObject({ learner: 'exemplars', servingModel: config.models.base })

    // Promote through the old route, roll back through the new one: same registry, same swap.
    let from = gws.map((x) => x.logs.length)
    const viaOld = await g.admin(`/admin/models/${encodeURIComponent(b.model)}/promote`, {
      method: 'POST',
      body: { actor: 'test' },
    })
    expect(viaOld.status).toBe(200)
    expect(viaOld.json).toMatchObject({ model: b.model, changed: true, policy: { id: b.id } })
    await swappedOnAll(viaOld.json.version, from)
    from = gws.map((x) => x.logs.length)
    const viaNew = await g.admin('/admin/policies/rollback', { method: 'POST', body: { actor: 'test' } })
    expect(viaNew.status).toBe(200)
    expect(viaNew.json).toMatchObject({ model: a.model })
    await swappedOnAll(viaNew.json.version, from)
    expect((await createRegistryRepository(db).findActive())?.model).toBe(a.model)
  }, 60_000)
})
