import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { createGoldRepository, goldItemsHash } from '@loopdm/models/gold-items'
import { approveCandidate } from '@loopdm/models/promotion'
import { createRegistryRepository } from '@loopdm/models/registry'
import { createAiClient, createOpenAISdk } from '@loopdm/platform/openai'
import { createRedis, type Redis } from '@loopdm/redis/client'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { snapshotRegistry } from '@loopdm/testing/registry-fixture'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createEvalRepository } from '../src/repositories/eval.repository.js'
import { createEvaluationService } from '../src/services/evaluation.service.js'
import { buildHoldout } from '../src/services/holdout.js'
import { type FakeOpenAI, startFakeOpenAI } from './support/fake-openai.js'

/**
 * The deployment's gold set in the evaluator: gold_items replaces the demo file when it has items
 * (EVAL_GOLD_SOURCE=auto), each run records the set's source, size and hash and every item's prompt
 * and ideal; a set smaller than EVAL_MIN_GOLD blocks auto-promotion (manual approval still works);
 * the holdout prefers recent human answers and never holds a gold item.
 */
const PAIRS: Array<[string, string]> = Array.from({ length: 6 }, (_, i) => [
  `Gold question ${i}: do you have the sage scarf in stock?`,
  `Yes, the sage scarf ${i} is in stock for €${40 + i}.`,
])
const IDEAL = new Map(PAIRS)
const GENERIC = 'Thanks for your message! A team member will get back to you soon.'

describe('deployment gold set in the evaluator', () => {
  let db: Pool
  let fake: FakeOpenAI
  let redis: Redis
  let registryState: Awaited<ReturnType<typeof snapshotRegistry>>
  let dir: string
  const created: string[] = []
  const users: string[] = []
  const good = () => {
    const m = `ft:gpt-4.1-mini-2025-04-14:loopdm::${uniqueId('gold')}`
    created.push(m)
    return m
  }
  const build = (env: Record<string, string> = {}) => {
    const config = testConfig({
      OPENAI_API_KEY: 'test-key',
      OPENAI_BASE_URL: fake.baseURL,
      OPENAI_MAX_RETRIES: '0',
      EVAL_HOLDOUT_SIZE: '0',
      EVAL_MIN_IMPROVEMENT: '0.05',
      EVAL_GOLD_PATH: join(dir, 'demo-gold.jsonl'),
      EXPORT_DIR: join(dir, 'exports'),
      ...env,
    })
    const ai = createAiClient({ config })
    return { config, sut: createEvaluationService({ db, redis, ai, config, probe: { deadlineMs: 0 } }) }
  }
  const addGold = async () => {
    const gold = createGoldRepository(db)
    for (const [q, a] of PAIRS)
      await gold.add({ customerText: q, idealAnswer: a, createdBy: 'gold-set-test' })
  }

  beforeAll(async () => {
    db = await testPool()
    registryState = await snapshotRegistry(db)
    await registryState.clearActive()
    dir = mkdtempSync(join(tmpdir(), 'loopdm-gold-set-'))
    writeFileSync(
      join(dir, 'demo-gold.jsonl'),
      `${JSON.stringify({ id: 'demo-1', messages: ['How much is the beanie?'], ideal: 'The beanie is €29.' })}\n`,
    )
    fake = await startFakeOpenAI((model, messages) => {
      const q = [...messages].reverse().find((m) => m.role === 'user')?.content ?? ''
      return model.includes('::gold') ? (IDEAL.get(q) ?? GENERIC) : GENERIC
    })
    redis = createRedis({ url: testConfig().redis.url })
  })
  afterEach(async () => {
    await db.query(`delete from gold_items where created_by = 'gold-set-test' or ig_user_id = any($1)`, [
      users,
    ])
    await db.query('delete from conversation_messages where ig_user_id = any($1)', [users.splice(0)])
    await registryState.clearActive()
  })
  afterAll(async () => {
    await registryState.restore(created)
    await redis.quit()
    await fake.close()
    await db.end()
    rmSync(dir, { recursive: true, force: true })
  })

  it('uses the file while gold_items is empty, then the table, recording source, size, hash and every prompt', async () => {
    expect(await createGoldRepository(db).count(), 'gold_items must start empty').toBe(0)
    const { sut } = build()
    const first = await sut.evaluate({ candidate: good() })
    expect(first.gold).toMatchObject({ source: 'file', size: 1 })

    await addGold()
    const r = await sut.evaluate({ candidate: good() })
    const rows = await createGoldRepository(db).list()
    expect(r.gold).toEqual({ source: 'table', size: PAIRS.length, sha256: goldItemsHash(rows) })
    expect(r.table).toContain(`gold set: table, ${PAIRS.length} items, sha256 ${r.gold.sha256.slice(0, 12)}`)
    const run = await createEvalRepository(db).findRun(r.runId)
    expect(run).toMatchObject({ goldSource: 'table', goldSize: PAIRS.length, goldSha256: r.gold.sha256 })
    const items = await db.query<{ customer_text: string; ideal: string; reply: string }>(
      `select customer_text, ideal, reply from eval_items where run_id = $1 and role = 'candidate' order by item_id`,
      [r.runId],
    )
    expect(items.rows).toHaveLength(PAIRS.length)
    for (const it of items.rows) expect(it.ideal).toBe(IDEAL.get(it.customer_text))
    expect(items.rows.every((x) => x.reply === x.ideal)).toBe(true)

    const both = await build({ EVAL_GOLD_SOURCE: 'both' }).sut.evaluate({ candidate: good() })
    expect(both.gold).toMatchObject({ source: 'table+file', size: PAIRS.length + 1 })
    expect(both.gold.sha256).not.toBe(r.gold.sha256)
  })

  it('refuses EVAL_GOLD_SOURCE=table with an empty table, naming the fix', async () => {
    const { sut } = build({ EVAL_GOLD_SOURCE: 'table' })
    await expect(sut.evaluate({ candidate: good() })).rejects.toThrow(/gold_items table is empty.*gold:add/)
  })

  describe('when the gold set is smaller than EVAL_MIN_GOLD', () => {
    it('blocks auto-promotion with the reason, and manual approval still promotes', async () => {
      await addGold()
      const { sut, config } = build({ EVAL_AUTO_PROMOTE: 'true' })
      const model = good()
      const r = await sut.evaluate({ candidate: model })
      expect(r.decision.approved).toBe(true)
      expect(r.outcome).toBe('approved_pending')
      expect(r.promotionBlocked).toContain(
        `the gold set has ${PAIRS.length} items, fewer than EVAL_MIN_GOLD=20`,
      )
      expect(r.table).toContain('auto-promotion blocked')
      const registry = createRegistryRepository(db)
      expect((await registry.findActive())?.model).not.toBe(model)
      const row = await registry.findByIdOrModel(model)
      expect(row?.status).toBe('approved_pending')
      expect(row?.reason).toContain('EVAL_MIN_GOLD=20')
      expect((await createEvalRepository(db).findRun(r.runId))?.promotionBlocked).toBe(r.promotionBlocked)

      const promoted = await approveCandidate({
        db,
        redis,
        sdk: createOpenAISdk({ config }),
        config,
        registry,
        probe: { deadlineMs: 0 },
        ref: model,
        actor: 'gold-set-test',
      })
      expect(promoted.model).toBe(model)
      expect((await registry.findActive())?.model).toBe(model)
    })

    it('auto-promotes once the set is large enough (EVAL_MIN_GOLD=6)', async () => {
      await addGold()
      const { sut } = build({ EVAL_AUTO_PROMOTE: 'true', EVAL_MIN_GOLD: String(PAIRS.length) })
      const r = await sut.evaluate({ candidate: good() })
      expect(r.promotionBlocked).toBeNull()
      expect(r.outcome).toBe('promoted')
    })
  })

  describe('holdout', () => {
    it('draws recent human answers first, never a gold item, an exclusion or a trained answer', async () => {
      const user = uniqueId('holdout')
      users.push(user)
      const ins = async (role: string, content: string, author: string | null) =>
        Number(
          (
            await db.query<{ id: number }>(
              `insert into conversation_messages (ig_user_id, role, content, author) values ($1, $2, $3, $4) returning id`,
              [user, role, content, author],
            )
          ).rows[0]?.id,
        )
      const tag = uniqueId('h')
      await ins('user', `Can I pay by invoice? ${tag}`, null)
      await ins(
        'assistant',
        `Yes, invoices are fine for orders over €100, write to sam@shop.example ${tag}`,
        'human',
      )
      const goldQ = await ins('user', `Gold question ${tag}`, null)
      await ins('assistant', `Gold answer ${tag}`, 'human')
      await createGoldRepository(db).add({ fromMessageId: goldQ, createdBy: 'gold-set-test' })
      await ins('user', `Excluded question ${tag}`, null)
      const excluded = await ins('assistant', `Excluded answer ${tag}`, 'human')
      await db.query('insert into curation_exclusions (message_id) values ($1)', [excluded])
      await ins('user', `Trained question ${tag}`, null)
      await ins('assistant', `Trained answer ${tag}`, 'human')

      const humans = await createEvalRepository(db).recentHumanAnswers(50)
      const mine = humans.filter((h) => h.user.includes(tag))
      expect(mine.map((h) => h.user)).toEqual([`Trained question ${tag}`, `Can I pay by invoice? ${tag}`])
      const training = JSON.stringify({
        messages: [
          { role: 'user', content: `Trained question ${tag}` },
          { role: 'assistant', content: `Trained answer ${tag}` },
        ],
      })
      const exports = join(dir, 'exports')
      const items = buildHoldout({ exportDir: exports, size: 5, trainingText: training, preferred: mine })
      expect(items).toHaveLength(1)
      // A typed-in gold question (no message id) is recognised by its text.
      const typed = buildHoldout({
        exportDir: exports,
        size: 5,
        trainingText: training,
        preferred: mine,
        goldTexts: [`  can I PAY by invoice? ${tag}`],
      })
      expect(typed).toHaveLength(0)
      expect(items[0]).toMatchObject({ category: 'holdout-human', source: 'holdout' })
      expect(items[0]?.ideal).toBe(`Yes, invoices are fine for orders over €100, write to [EMAIL] ${tag}`)
    })
  })
})
