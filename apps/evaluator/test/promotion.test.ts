import type { Pool } from '@loopdm/db/pool'
import { type ActiveModelMessage, decodeActiveModelMessage } from '@loopdm/models/hotswap'
import {
  approveCandidate,
  type PromotionDeps,
  promoteModel,
  rejectCandidate,
  rollbackModel,
  seedRegistry,
} from '@loopdm/models/promotion'
import { createRegistryRepository } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import { ConflictError, ModelNotCallableError } from '@loopdm/platform/errors'
import { createOpenAISdk } from '@loopdm/platform/openai'
import { createRedis, type Redis } from '@loopdm/redis/client'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { snapshotRegistry } from '@loopdm/testing/registry-fixture'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type FakeOpenAI, startFakeOpenAI } from './support/fake-openai.js'

describe('promotion service', () => {
  let db: Pool
  let fake: FakeOpenAI
  let config: Config
  let redis: Redis
  let sub: Redis
  let messages: ActiveModelMessage[] = []
  const created: string[] = []
  let registryState: Awaited<ReturnType<typeof snapshotRegistry>>
  /** Models that answer 404 until `callableAt[model]` (ms since epoch); missing → always 404. */
  const callableAt = new Map<string, number>()
  const ft = (tag: string) => {
    const m = `ft:gpt-3.5-turbo-0125:loopdm::${uniqueId(tag)}`
    created.push(m)
    return m
  }
  const deps = (): PromotionDeps => ({
    db,
    redis,
    sdk: createOpenAISdk({ config }),
    config,
    probe: { deadlineMs: 2_000, initialDelayMs: 20, maxDelayMs: 100 },
  })
  const registry = () => createRegistryRepository(db)

  beforeAll(async () => {
    db = await testPool()
    registryState = await snapshotRegistry(db)
    await registryState.clearActive()
    fake = await startFakeOpenAI((model) => {
      const at = callableAt.get(model)
      if (at === undefined || Date.now() < at)
        return { status: 404, message: `The model ${model} does not exist` }
      return 'pong'
    })
    config = testConfig({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: fake.baseURL, BASE_MODEL: 'gpt-4o-mini' })
    callableAt.set(config.models.base, 0)
    redis = createRedis({ url: config.redis.url })
    sub = createRedis({ url: config.redis.url, role: 'subscriber' })
    sub.on('message', (_c, m) => {
      const d = decodeActiveModelMessage(m)
      if (d) messages.push(d)
    })
    await sub.subscribe(config.models.channel)
  })
  afterEach(() => {
    messages = []
  })
  afterAll(async () => {
    await registryState.restore([...created, config.models.base])
    await sub.quit()
    await redis.quit()
    await fake.close()
    await db.end()
  })

  describe('when an approved_pending candidate is approved', () => {
    it('promotes it: active in the registry, a promotion row, and a published newer version', async () => {
      const m = ft('approve')
      callableAt.set(m, 0)
      await registry().upsertModel({ model: m, status: 'approved_pending' })
      await registry().setStatus(m, 'approved_pending', { metrics: { score: 0.9 } })
      const before = (await registry().promotions(1))[0]?.id ?? 0

      const r = await approveCandidate({ ...deps(), ref: m, actor: 'mira' })

      expect(r.changed).toBe(true)
      expect(r.published).toBe(true)
      expect(r.version).toBeGreaterThan(before)
      const active = await registry().findActive()
      expect(active?.model).toBe(m)
      expect(Number(active?.version)).toBe(r.version)
      const p = (await registry().promotions(1))[0]
      expect(p).toMatchObject({ toModel: m, actor: 'mira', metrics: { score: 0.9 } })
      // Filtered to this test's model: an earlier test's publish may still be in flight.
      await expect.poll(() => messages.filter((x) => x.model === m).length).toBe(1)
      expect(messages.find((x) => x.model === m)).toMatchObject({ model: m, version: r.version })
    })

    it('refuses to approve a model that is not awaiting approval', async () => {
      const m = ft('rejected')
      await registry().upsertModel({ model: m, status: 'rejected' })
      await expect(approveCandidate({ ...deps(), ref: m, actor: 'mira' })).rejects.toBeInstanceOf(
        ConflictError,
      )
    })
  })

  describe('when a candidate is rejected by a reviewer', () => {
    it('keeps it in the registry as rejected with the reason', async () => {
      const m = ft('reject')
      await registry().upsertModel({ model: m, status: 'approved_pending' })
      const r = await rejectCandidate({ db, ref: m, actor: 'mira', reason: 'tone too casual' })
      expect(r.status).toBe('rejected')
      expect((await registry().findByIdOrModel(m))?.reason).toBe('tone too casual')
    })
  })

  describe('when the model is not callable', () => {
    it('refuses the promotion with a clear error and changes nothing', async () => {
      const m = ft('uncallable')
      await registry().upsertModel({ model: m, status: 'approved_pending' })
      const activeBefore = await registry().findActive()
      const t = Date.now()
      const err = await promoteModel({
        ...deps(),
        probe: { deadlineMs: 300, initialDelayMs: 20 },
        ref: m,
        actor: 'ops',
        reason: 'test',
      }).catch((e) => e)
      expect(err).toBeInstanceOf(ModelNotCallableError)
      expect((err as Error).message).toMatch(/is not callable .*404.*nothing was changed/)
      expect(Date.now() - t).toBeGreaterThanOrEqual(250)
      expect(await registry().findActive()).toEqual(activeBefore)
      expect((await registry().findByIdOrModel(m))?.status).toBe('approved_pending')
      await new Promise((r) => setTimeout(r, 50))
      expect(messages.filter((x) => x.model === m)).toEqual([])
    })
  })

  describe('when a fresh fine-tune becomes callable only after a while', () => {
    it('probes with back-off until it answers, then promotes', async () => {
      const m = ft('fresh')
      callableAt.set(m, Date.now() + 400)
      await registry().upsertModel({ model: m, status: 'approved_pending' })
      const r = await promoteModel({ ...deps(), ref: m, actor: 'ops', reason: 'fresh' })
      expect(r.probeAttempts).toBeGreaterThan(1)
      expect((await registry().findActive())?.model).toBe(m)
    })
  })

  describe('when the provider serves a model the registry lacks', () => {
    it('registers it on the fly after the probe and promotes it', async () => {
      const m = ft('onthefly')
      callableAt.set(m, 0)
      const r = await promoteModel({ ...deps(), ref: m, actor: 'ops', reason: 'manual' })
      expect(r.changed).toBe(true)
      const row = await registry().findByIdOrModel(m)
      expect(row).toMatchObject({ model: m, status: 'active', kind: 'fine_tuned' })
    })
    it('registers nothing when the probe fails', async () => {
      const m = ft('ghost')
      await expect(
        promoteModel({ ...deps(), probe: { deadlineMs: 0 }, ref: m, actor: 'ops', reason: 'manual' }),
      ).rejects.toBeInstanceOf(ModelNotCallableError)
      expect(await registry().findByIdOrModel(m)).toBeNull()
    })
  })

  describe('rollback', () => {
    it('promotes the previously active model the same way, with a newer version', async () => {
      const a = ft('rb-a')
      const b = ft('rb-b')
      callableAt.set(a, 0)
      callableAt.set(b, 0)
      const pa = await promoteModel({ ...deps(), ref: a, actor: 'ops', reason: 'a' })
      const pb = await promoteModel({ ...deps(), ref: b, actor: 'ops', reason: 'b' })
      const r = await rollbackModel({ ...deps(), actor: 'ops' })
      expect(r.model).toBe(a)
      expect(r.from).toBe(b)
      expect(pa.version).toBeLessThan(pb.version)
      expect(pb.version).toBeLessThan(r.version)
      expect((await registry().findActive())?.model).toBe(a)
      // Only this test's models: a previous test's publish may still be arriving on the channel.
      const mine = () => messages.filter((x) => x.model === a || x.model === b)
      await expect.poll(() => mine().map((x) => x.model)).toEqual([a, b, a])
      expect(mine().map((x) => x.version)).toEqual([pa.version, pb.version, r.version])
      // …and forward again: rollback of a rollback returns to b.
      const fwd = await rollbackModel({ ...deps(), actor: 'ops' })
      expect(fwd.model).toBe(b)
    })
  })

  describe('seedRegistry (LOOP_DM_FT_MODEL)', () => {
    it('registers and activates the seed once, only when nothing is active', async () => {
      await registryState.clearActive()
      const seed = ft('seed')
      callableAt.set(seed, 0)
      const cfg = testConfig({
        OPENAI_API_KEY: 'k',
        OPENAI_BASE_URL: fake.baseURL,
        LOOP_DM_FT_MODEL: seed,
        MODEL_CHANNEL: config.models.channel,
      })
      const first = await seedRegistry({ ...deps(), config: cfg })
      expect(first?.model).toBe(seed)
      expect((await registry().findActive())?.model).toBe(seed)
      // A restart with the registry already holding an active model changes nothing…
      expect(await seedRegistry({ ...deps(), config: cfg })).toBeNull()
      // …and neither does one after the operator moved on and cleared it: the seed is used once.
      await registryState.clearActive()
      expect(await seedRegistry({ ...deps(), config: cfg })).toBeNull()
      expect(await registry().findActive()).toBeNull()
    })
  })
})
