import { mkdirSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createRegistryRepository } from '@loopdm/models/registry'
import { createAiClient } from '@loopdm/platform/openai'
import { chromiumAvailable, launchBrowser } from '@loopdm/testing/browser'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEvaluationService } from '../../apps/evaluator/src/services/evaluation.service.js'
import { parseGold } from '../../apps/evaluator/src/services/gold.js'
import {
  buildTestGateway,
  igUser,
  TEST_ADMIN_TOKEN,
  type TestGateway,
} from '../../apps/gateway/test/support/test-gateway.js'
import { candidateFromLoop, type LoopCandidate, SHOP_PAIRS } from './support/loop-candidate.js'

const SHOTS = resolve(import.meta.dirname, '../../test-results/console')
const GOLD_PAIRS = SHOP_PAIRS.slice(0, 5)

/**
 * The console end to end in Debian's Chromium against a real gateway on 127.0.0.1 (real Redis,
 * embedded Postgres, openai-local, fake Graph API): a candidate produced by the real loop (staff
 * answers stored → exporter → exemplar learner → evaluator) is approved from its page and answers
 * the next DM; rollback from the timeline; wrong token and missing CSRF token refused; logout.
 * Screenshots: test-results/console.
 */
describe.runIf(chromiumAvailable())('console in a browser', () => {
  let sut: TestGateway
  let openai: OpenAILocal
  let browser: Awaited<ReturnType<typeof launchBrowser>>
  let page: Page
  let loop: LoopCandidate
  let candidate: string
  let candidateId: number
  let goldDir: string
  let restore: () => Promise<void>
  const goldIds: number[] = []
  const user = igUser()
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
  const go = (path: string) => page.goto(`${sut.url}${path}`)

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true })
    openai = await startOpenAILocal({ port: 0, ftStepMs: 20 })
    sut = await buildTestGateway({
      openai,
      listen: true,
      env: { EVAL_HOLDOUT_SIZE: '0', EVAL_MIN_IMPROVEMENT: '0.05', FT_BUDGET_USD_MONTHLY: '25' },
    })
    restore = await snapshotRegistry(sut)
    // The real loop: staff-answered DMs → export → the default (exemplar) learner → the evaluator.
    loop = await candidateFromLoop(sut.pool, sut.config)
    expect(loop.export.curation.included.human).toBe(SHOP_PAIRS.length)
    expect(loop.learned.examples).toBe(SHOP_PAIRS.length)
    candidate = loop.candidate
    candidateId = loop.policyId
    goldDir = await mkdtemp(join(tmpdir(), 'loopdm-console-gold-'))
    const goldPath = join(goldDir, 'gold.jsonl')
    const goldText = GOLD_PAIRS.map(([q, a], i) =>
      JSON.stringify({ id: `shop-${i + 1}`, category: 'shop', messages: [q], ideal: a }),
    ).join('\n')
    await writeFile(goldPath, goldText)
    const evaluator = createEvaluationService({
      db: sut.pool,
      ai: createAiClient({ config: sut.config }),
      config: sut.config,
      gold: parseGold(goldText, goldPath),
      probe: { deadlineMs: 5_000 },
    })
    const result = await evaluator.evaluate({ candidate, trigger: 'console-test' })
    expect(result.outcome, result.table).toBe('approved_pending')
    // One DM before the swap, so the overview and the thread have something to show.
    const before = await sut.dm({ user, text: 'Hello, are you open today?' })
    await sut.waitForReplies([before.mid])
    browser = await launchBrowser()
    page = await browser.context.newPage()
  }, 120_000)

  afterAll(async () => {
    if (sut) await sut.pool.query('delete from gold_items where id = any($1)', [goldIds])
    await browser?.close()
    await restore?.()
    await loop?.cleanup()
    await sut?.close()
    await openai?.close()
    if (goldDir) await rm(goldDir, { recursive: true, force: true })
  })

  it('refuses a wrong token, then logs in and shows the active policy on the overview', async () => {
    await go('/console')
    expect(new URL(page.url()).pathname).toBe('/console/login')
    await page.getByLabel('Admin token').fill('not-the-token')
    await page.getByTestId('login').click()
    await expect.poll(() => page.getByTestId('login-error').isVisible()).toBe(true)
    await shot('login-error')
    await page.getByLabel('Admin token').fill(TEST_ADMIN_TOKEN)
    await page.getByTestId('login').click()
    await page.waitForURL(`${sut.url}/console`)
    const active = await page.getByTestId('active-policy').textContent()
    expect(active).toContain(sut.config.models.base)
    expect(await page.getByTestId('spend-month').textContent()).toContain('of $25.00')
    const cookie = (await browser.context.cookies()).find((c) => c.name === 'loopdm_console')
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' })
  })

  it('lists the candidate and compares it with the current model on every gold item', async () => {
    await go('/console/candidates')
    const row = page.getByTestId('candidate-row').filter({ hasText: candidate })
    await row.getByRole('link').click()
    await page.waitForURL(`${sut.url}/console/candidates/${candidateId}`)
    expect(await page.getByTestId('gate-row').count()).toBeGreaterThan(0)
    expect(await page.getByTestId('item-row').count()).toBe(GOLD_PAIRS.length)
    const items = await page.getByTestId('items-table').textContent()
    expect(items).toContain(GOLD_PAIRS[0]?.[0])
    expect(items).toContain(GOLD_PAIRS[0]?.[1])
    // Every gold item side by side: the stored prompt and ideal (not the gold file, which is gone).
    await rm(goldDir, { recursive: true, force: true })
    await page.reload()
    const customers = await page.getByTestId('item-customer').allTextContents()
    expect(customers.sort()).toEqual(GOLD_PAIRS.map(([q]) => q).sort())
    const ideals = await page.getByTestId('item-ideal').allTextContents()
    expect(ideals.sort()).toEqual(GOLD_PAIRS.map(([, a]) => a).sort())
    expect(await page.getByTestId('gold-set-info').textContent()).toContain(`${GOLD_PAIRS.length} gold items`)
    await shot('candidate')
    await page.getByTestId('filter-better').click()
    await page.waitForURL(/filter=better/)
    expect(await page.getByTestId('item-row').count()).toBeGreaterThan(0)
    await page.getByTestId('filter-worse').click()
    await page.waitForURL(/filter=worse/)
    expect(await page.getByTestId('item-row').count()).toBe(0)
  })

  it('refuses a POST without the CSRF token (403) and changes nothing', async () => {
    const cookies = await browser.context.cookies()
    const res = await fetch(`${sut.url}/console/candidates/${candidateId}/approve`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: cookies.map((c) => `${c.name}=${c.value}`).join('; '),
      },
      body: 'reason=sneaky',
      redirect: 'manual',
    })
    expect(res.status).toBe(403)
    const registry = createRegistryRepository(sut.pool)
    expect((await registry.findActive())?.model ?? null).not.toBe(candidate)
    expect((await registry.findByIdOrModel(candidate))?.status).toBe('approved_pending')
  })

  it('approves the candidate from its page: the registry and the next DM use it', async () => {
    await go(`/console/candidates/${candidateId}`)
    await page.getByLabel('Reason for approving').fill('better on the shop questions')
    await page.getByTestId('approve').click()
    await page.waitForURL(/done=approved/)
    expect(await page.getByTestId('candidate-status').textContent()).toBe('active')
    expect((await createRegistryRepository(sut.pool).findActive())?.model).toBe(candidate)
    await expect.poll(() => sut.gateway.holder.current()?.model).toBe(candidate)
    const [question, answer] = GOLD_PAIRS[1] as [string, string]
    const dm = await sut.dm({ user, text: question })
    const [reply] = await sut.waitForReplies([dm.mid])
    // An exemplar policy serves BASE_MODEL with the nearest staff answer; the turn names the policy.
    expect(reply?.model).toBe(loop.servingModel)
    expect(reply?.text).toBe(answer)
    const turn = await sut.pool.query<{ policy_id: string }>(
      `select policy_id from conversation_messages where ig_user_id = $1 and role = 'assistant' order by id desc limit 1`,
      [user],
    )
    expect(Number(turn.rows[0]?.policy_id)).toBe(candidateId)
    await go('/console')
    expect(await page.getByTestId('active-policy').textContent()).toContain(candidate)
    await shot('overview')
    await page.setViewportSize({ width: 390, height: 844 })
    await shot('overview-phone')
    await page.setViewportSize({ width: 1280, height: 900 })
  })

  it('shows the thread with the model that wrote each bot turn; takeover and reply are available', async () => {
    await go(`/console/conversations?q=${user}`)
    await page.getByTestId('conversation-row').getByRole('link').click()
    await page.waitForURL(/\/console\/conversations\/igsid-/)
    expect(await page.getByTestId('turn').filter({ hasText: candidate }).count()).toBe(1)
    expect(await page.getByTestId('takeover').isDisabled()).toBe(false)
    expect(await page.getByTestId('resume').isDisabled()).toBe(true)
    expect(await page.getByTestId('reply-box').isDisabled()).toBe(false)
    await shot('conversation')
  })

  it('marks an exchange as gold with an edited ideal answer; the Data page lists and removes it', async () => {
    await go(`/console/conversations/${user}`)
    const botTurn = page.getByTestId('turn').filter({ hasText: candidate })
    await botTurn.locator('summary').click()
    const ideal = 'We ship to Berlin in 2 days, and it is free over €60.'
    await botTurn.getByLabel('Ideal answer').fill(ideal)
    await shot('mark-gold')
    await botTurn.getByTestId('mark-gold').click()
    await page.waitForURL(/done=gold/)
    const [question] = GOLD_PAIRS[1] as [string, string]
    const rows = await sut.pool.query<{ id: number; customer_text: string; ideal_answer: string }>(
      'select id, customer_text, ideal_answer from gold_items where ig_user_id = $1',
      [user],
    )
    expect(rows.rows).toEqual([expect.objectContaining({ customer_text: question, ideal_answer: ideal })])
    goldIds.push(rows.rows[0]?.id as number)
    // Excluding the same exchange from training.
    await page.getByTestId('turn').filter({ hasText: candidate }).locator('summary').click()
    await page.getByTestId('turn').filter({ hasText: candidate }).getByTestId('exclude').click()
    await page.waitForURL(/done=excluded/)
    expect(
      (
        await sut.pool.query(
          'select 1 from curation_exclusions e join conversation_messages m on m.id = e.message_id where m.ig_user_id = $1',
          [user],
        )
      ).rowCount,
    ).toBe(1)
    await go('/console/data')
    // The loop's export run with its curation report: sources, the human share, exclusions.
    const report = page.locator(`[data-testid="curation-report"][data-run="${loop.export.runId}"]`)
    expect(await report.textContent()).toContain(`human ${SHOP_PAIRS.length}, import 0, bot 0`)
    expect(await report.textContent()).toContain('human share 100.0%')
    const row = page.getByTestId('gold-row').filter({ hasText: ideal })
    expect(await row.count()).toBe(1)
    await shot('data')
    await row.getByTestId('gold-remove').click()
    await page.waitForURL(/done=gold-removed/)
    expect(await page.getByTestId('gold-row').filter({ hasText: ideal }).count()).toBe(0)
    expect((await sut.pool.query('select 1 from gold_items where ig_user_id = $1', [user])).rowCount).toBe(0)
    await go('/console/costs')
    expect(await page.getByTestId('spend-month').isVisible()).toBe(true)
    await shot('costs')
  })

  it('rolls back from the promotions timeline', async () => {
    await go('/console/promotions')
    expect(await page.getByTestId('promotion-row').first().textContent()).toContain(candidate)
    await page.getByTestId('rollback').click()
    await page.waitForURL(/done=rolledback/)
    const active = await createRegistryRepository(sut.pool).findActive()
    expect(active?.model).toBe(sut.config.models.base)
    await expect.poll(() => sut.gateway.holder.current()?.model).toBe(sut.config.models.base)
    await shot('promotions')
  })

  it('logs out: a console URL then redirects to the login page', async () => {
    await page.getByTestId('logout').click()
    await page.waitForURL(/\/console\/login/)
    await go('/console/candidates')
    expect(new URL(page.url()).pathname).toBe('/console/login')
  })
})

/** The registry's active model is global in the shared test database: put it back afterwards. */
async function snapshotRegistry(sut: TestGateway): Promise<() => Promise<void>> {
  const db = sut.pool
  const active = await db.query<{ model: string }>(`select model from models where status = 'active'`)
  const existing = await db.query<{ model: string }>('select model from models')
  const max = await db.query<{ id: string }>('select coalesce(max(id), 0)::text as id from model_promotions')
  const known = new Set(existing.rows.map((r) => r.model))
  await db.query(`update models set status = 'inactive' where status = 'active'`)
  return async () => {
    const now = await db.query<{ model: string }>('select model from models')
    const created = now.rows.map((r) => r.model).filter((m) => !known.has(m))
    await db.query(`update models set status = 'inactive' where status = 'active'`)
    await db.query('delete from model_promotions where id > $1::int8', [max.rows[0]?.id ?? '0'])
    await db.query('delete from eval_runs where candidate_model = any($1)', [created])
    await db.query('delete from models where model = any($1)', [created])
    const before = active.rows[0]?.model
    if (before) await db.query(`update models set status = 'active' where model = $1`, [before])
  }
}
