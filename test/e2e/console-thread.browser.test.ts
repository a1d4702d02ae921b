import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { chromiumAvailable, launchBrowser } from '@loopdm/testing/browser'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jobOutcome } from '../../apps/gateway/test/support/meta.js'
import {
  buildTestGateway,
  igUser,
  TEST_ADMIN_TOKEN,
  type TestGateway,
} from '../../apps/gateway/test/support/test-gateway.js'

const SHOTS = resolve(import.meta.dirname, '../../test-results/console')

/**
 * A staff member works one conversation from the console in Debian's Chromium (issue 18): take
 * over (the bot holds the next DM), reply from the console (it reaches the fake Graph API as a
 * human reply and is recorded as a `human` turn), resume (the bot answers
 * again), and a GDPR erase that needs the customer id typed exactly.
 */
describe.runIf(chromiumAvailable())('a conversation in the console', () => {
  let sut: TestGateway
  let browser: Awaited<ReturnType<typeof launchBrowser>>
  let page: Page
  const user = igUser()
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
  const thread = () => page.goto(`${sut.url}/console/conversations/${encodeURIComponent(user)}`)

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true })
    sut = await buildTestGateway({ listen: true })
    const first = await sut.dm({ user, text: 'Do you ship to Lisbon?' })
    await sut.waitForReplies([first.mid])
    browser = await launchBrowser()
    page = await browser.context.newPage()
    await page.goto(`${sut.url}/console/login`)
    await page.getByLabel('Admin token').fill(TEST_ADMIN_TOKEN)
    await page.getByTestId('login').click()
    await page.waitForURL(`${sut.url}/console`)
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await sut?.close()
  })

  it('takes over from the thread: the next DM is held, not answered', async () => {
    await thread()
    await page.getByTestId('takeover').click()
    await page.waitForURL(/done=paused/)
    expect(await page.getByTestId('takeover-state').textContent()).toContain('taken over')
    expect(await page.getByTestId('takeover').isDisabled()).toBe(true)
    const sendsBefore = sut.graph.sendsTo(user).length
    const held = await sut.dm({ user, text: 'Hello? Anyone there?' })
    expect(await jobOutcome(sut.gateway.queues.dm, `dm-${held.mid}`)).toBe('held')
    expect(sut.graph.sendsTo(user)).toHaveLength(sendsBefore)
  })

  it('a console reply reaches the Graph API as a human reply and shows as a human turn', async () => {
    await thread()
    const sendsBefore = sut.graph.sendsTo(user).length
    await page.getByTestId('reply-box').fill('Yes, we ship to Lisbon in 2 days. — Ana')
    await page.getByTestId('send-reply').click()
    await page.waitForURL(/done=replied/)
    const sends = sut.graph.sendsTo(user)
    expect(sends).toHaveLength(sendsBefore + 1)
    expect(sends.at(-1)?.text).toBe('Yes, we ship to Lisbon in 2 days. — Ana')
    // Within Meta's 24-hour window a human reply is a normal RESPONSE (the HUMAN_AGENT tag is for days 2–7).
    expect(sends.at(-1)?.tag).toBeUndefined()
    const stored = await sut.pool.query<{ author: string }>(
      `select author from conversation_messages where ig_user_id = $1 and role = 'assistant'
        order by id desc limit 1`,
      [user],
    )
    expect(stored.rows[0]?.author).toBe('human')
    expect(await page.getByTestId('turn').filter({ hasText: 'ship to Lisbon in 2 days' }).count()).toBe(1)
    await shot('conversation-takeover')
  })

  it('resumes the bot: the next DM is answered again', async () => {
    await thread()
    await page.getByTestId('resume').click()
    await page.waitForURL(/done=resumed/)
    expect(await page.getByTestId('takeover-state').textContent()).toContain('bot answering')
    const next = await sut.dm({ user, text: 'And to Porto?' })
    const [reply] = await sut.waitForReplies([next.mid])
    expect(reply?.text.length).toBeGreaterThan(0)
  })

  it('erases the customer only when the id is typed exactly', async () => {
    await thread()
    await page.getByTestId('erase-confirm').fill('not-the-id')
    await page.getByTestId('erase').click()
    await expect.poll(() => page.content()).toContain('type the customer id exactly')
    const kept = await sut.pool.query('select 1 from conversation_messages where ig_user_id = $1', [user])
    expect(kept.rowCount).toBeGreaterThan(0)
    await thread()
    await page.getByTestId('erase-confirm').fill(user)
    await page.getByTestId('erase').click()
    await page.waitForURL(/done=erased/)
    const gone = await sut.pool.query('select 1 from conversation_messages where ig_user_id = $1', [user])
    expect(gone.rowCount).toBe(0)
  })
})
