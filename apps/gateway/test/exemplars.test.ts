import type { Policy } from '@loopdm/models/policy'
import { promoteModel } from '@loopdm/models/promotion'
import { createOpenAISdk } from '@loopdm/platform/openai'
import { createRedis, type Redis } from '@loopdm/redis/client'
import { buildExemplarPolicy } from '@loopdm/testing/exemplars'
import { TEST_PSEUDONYM_SECRET, uniqueId } from '@loopdm/testing/fixtures'
import { pseudonymousUserKey } from '@loopdm/training-data/pseudonym'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildTestGateway, igUser, TEST_ADMIN_TOKEN, type TestGateway } from './support/test-gateway.js'

/**
 * The exemplar learner on the reply path, against a real gateway, Postgres (pgvector) and
 * openai-local (whose base model answers with the shop answer of the nearest demonstration in the
 * prompt): demonstrations are used and costed, and a GDPR erase removes a customer's exemplars
 * from every set — the active one included — so the very next reply can no longer use them.
 */
describe('exemplar policies on the reply path', () => {
  let sut: TestGateway
  let publisher: Redis
  const created: string[] = []
  const tag = uniqueId('ex')

  const activate = async (policy: Policy) => {
    const p = await promoteModel({
      db: sut.pool,
      redis: publisher,
      sdk: createOpenAISdk({ config: sut.config }),
      config: sut.config,
      ref: policy.model,
      actor: 'test',
      reason: 'test',
      probe: { deadlineMs: 5_000, initialDelayMs: 20 },
    })
    await expect.poll(() => sut.gateway.holder.current()?.version, { timeout: 10_000 }).toBe(p.version)
  }
  const ask = async (text: string) => {
    const { mid } = await sut.dm({ user: igUser(), text })
    const [row] = await sut.waitForReplies([mid])
    return { mid, text: row?.text ?? '' }
  }

  beforeAll(async () => {
    sut = await buildTestGateway({ env: { MEMORY_ENABLED: 'false' } })
    publisher = createRedis({ url: sut.config.redis.url, role: 'worker' })
    await sut.pool.query(`update models set status = 'inactive' where status = 'active'`)
  })
  afterEach(async () => {
    await sut.pool.query(`update models set status = 'inactive' where status = 'active'`)
  })
  afterAll(async () => {
    if (created.length) await sut.pool.query('delete from models where model = any($1)', [created])
    publisher?.disconnect()
    await sut?.close()
  })

  describe('when the active policy is an exemplar policy', () => {
    it('answers with the nearest demonstration and records its prompt tokens in the cost ledger', async () => {
      const sdk = createOpenAISdk({ config: sut.config })
      const { policy } = await buildExemplarPolicy({
        db: sut.pool,
        sdk,
        servingModel: sut.config.models.base,
        pairs: [
          { prompt: 'how long does shipping to austria take', answer: `${tag} Austria: 3-5 days, €6.` },
          { prompt: 'can I return a beanie I do not like', answer: `${tag} Returns: 30 days, free.` },
        ],
      })
      created.push(policy.model)
      const before = await ask('how long does shipping to austria take?')
      expect(before.text).not.toContain(tag)

      await activate(policy)
      const r = await ask('how long does shipping to austria take?')
      expect(r.text).toBe(`${tag} Austria: 3-5 days, €6.`)
      expect(sut.logs).toContainEqual(
        expect.objectContaining({ msg: 'Selected Model', policy: policy.id, learner: 'exemplars' }),
      )
      const ledger = await sut.pool.query<{ prompt_tokens: number; cost_usd: string }>(
        `select prompt_tokens, cost_usd::text from cost_ledger where operation = 'exemplars' and ref = $1`,
        [r.mid],
      )
      expect(ledger.rows).toHaveLength(1)
      expect(ledger.rows[0]?.prompt_tokens).toBeGreaterThan(20)
      // Attribution only: the tokens are billed in the reply's own chat row, never twice.
      expect(Number(ledger.rows[0]?.cost_usd)).toBe(0)
    })
  })

  describe('when a customer whose answer is an exemplar is erased (GDPR)', () => {
    it('deletes their exemplars from every set, the active one included, and the next reply no longer uses them', async () => {
      const erased = uniqueId('igsid-erased')
      const key = pseudonymousUserKey(erased, TEST_PSEUDONYM_SECRET)
      const sdk = createOpenAISdk({ config: sut.config })
      const theirs = {
        prompt: 'is the merino cardigan available in size xl',
        answer: `${tag} Yes — XL cardigan, I kept one aside for you, Anna!`,
        userKey: key,
      }
      const others = [
        {
          prompt: 'what are your opening hours',
          answer: `${tag} Mon–Fri 9–17.`,
          userKey: pseudonymousUserKey('x1', TEST_PSEUDONYM_SECRET),
        },
        {
          prompt: 'do you ship to the uk',
          answer: `${tag} Yes, 5–7 days.`,
          userKey: pseudonymousUserKey('x2', TEST_PSEUDONYM_SECRET),
        },
      ]
      const active = await buildExemplarPolicy({
        db: sut.pool,
        sdk,
        servingModel: sut.config.models.base,
        pairs: [theirs, ...others],
      })
      const older = await buildExemplarPolicy({
        db: sut.pool,
        sdk,
        servingModel: sut.config.models.base,
        pairs: [theirs, others[0] as (typeof others)[number]],
      })
      created.push(active.policy.model, older.policy.model)
      await activate(active.policy)
      const q = 'is the merino cardigan available in size xl?'
      expect((await ask(q)).text).toBe(theirs.answer)

      const res = await sut.gateway.app.inject({
        method: 'DELETE',
        url: `/admin/users/${erased}`,
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      })
      expect(res.statusCode).toBe(200)
      // One from the active set, one from the older set.
      expect(res.json().counts.exemplars).toBe(2)

      const next = await ask(q)
      expect(next.text).not.toContain('Anna')
      const left = await sut.pool.query<{ n: number }>(
        'select count(*)::int as n from exemplars where user_key = $1',
        [key],
      )
      expect(left.rows[0]?.n).toBe(0)
      const sizes = await sut.pool.query<{ id: number; examples: number }>(
        'select id::int8 as id, examples from exemplar_sets where id = any($1) order by id',
        [[active.set.id, older.set.id]],
      )
      expect(sizes.rows.map((r) => Number(r.examples))).toEqual([2, 1])
      // The other customers' demonstrations still answer.
      expect((await ask('what are your opening hours?')).text).toBe(`${tag} Mon–Fri 9–17.`)

      const again = await sut.gateway.app.inject({
        method: 'DELETE',
        url: `/admin/users/${erased}`,
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      })
      expect(again.json().counts.exemplars).toBe(0)
    })
  })

  describe('when the active policy points at a set that is not ready', () => {
    it('answers without demonstrations, and promotion refuses such a policy', async () => {
      const sdk = createOpenAISdk({ config: sut.config })
      const { policy, set } = await buildExemplarPolicy({
        db: sut.pool,
        sdk,
        servingModel: sut.config.models.base,
        pairs: [{ prompt: 'do you sell gift cards', answer: `${tag} Gift cards from €20.` }],
      })
      created.push(policy.model)
      await activate(policy)
      expect((await ask('do you sell gift cards?')).text).toBe(`${tag} Gift cards from €20.`)
      // A build that never committed its `ready` (e.g. a crashed, or an outside writer's, set).
      await sut.pool.query(`update exemplar_sets set status = 'building' where id = $1`, [set.id])
      expect((await ask('do you sell gift cards?')).text).not.toContain(tag)
      await sut.pool.query(`update models set status = 'inactive' where status = 'active'`)
      await expect(
        promoteModel({
          db: sut.pool,
          redis: publisher,
          sdk,
          config: sut.config,
          ref: policy.model,
          actor: 'test',
          reason: 'test',
        }),
      ).rejects.toMatchObject({
        code: 'CONFLICT',
        message: expect.stringMatching(/exemplar set \d+ is building/),
      })
    })
  })
})
