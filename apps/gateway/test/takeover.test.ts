import { waitFor } from '@loopdm/testing/wait'
import { newMid } from '@loopdm/testing/webhook'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { echoTo, fromCustomer, jobOutcome, metaBody } from './support/meta.js'
import { buildTestGateway, igUser, TEST_ADMIN_TOKEN, type TestGateway } from './support/test-gateway.js'

const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }

describe('human takeover', () => {
  let sut: TestGateway
  let other: TestGateway
  beforeAll(async () => {
    // 1 minute: the expiry test backdates the human reply so the pause ends within seconds.
    sut = await buildTestGateway({ env: { HUMAN_TAKEOVER_MINUTES: '1' } })
    // A second gateway on the same Redis and database, without a reply worker.
    other = await buildTestGateway({
      openai: sut.openai,
      graph: sut.graph,
      worker: false,
      env: { QUEUE_PREFIX: sut.config.redis.prefix, HUMAN_TAKEOVER_MINUTES: '1' },
    })
  })
  afterAll(async () => {
    await other?.close()
    await sut?.close()
  })

  const dmQueue = () => sut.gateway.queues.dm
  const customerSays = async (user: string, text: string) => {
    const mid = newMid()
    expect(
      (await sut.postWebhook(metaBody([fromCustomer(user, { message: { mid, text } })]))).statusCode,
    ).toBe(200)
    return mid
  }
  const staffReplies = async (user: string, text: string, timestamp = Date.now()) => {
    const mid = newMid()
    const res = await sut.postWebhook(metaBody([{ ...echoTo(user, mid, text), timestamp }]))
    expect(res.statusCode).toBe(200)
    return { mid, outcome: await jobOutcome(dmQueue(), `echo-${mid}`) }
  }
  const status = async (g: TestGateway, user: string) => {
    const res = await g.gateway.app.inject({ url: `/admin/users/${user}`, headers: auth })
    expect(res.statusCode).toBe(200)
    return res.json() as {
      paused: boolean
      until: string | null
      reason: string | null
      lastHumanReplyAt: string | null
    }
  }
  const metric = async (name: string) => {
    const text = await sut.gateway.metrics.registry.metrics()
    return text
      .split('\n')
      .filter((l) => l.startsWith(name))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0)
  }

  it('an echo the gateway did not send is a human reply: stored, paused, and the next DM is held', async () => {
    const user = igUser()
    const takeoversBefore = await metric('loopdm_takeovers_total')
    const heldBefore = await metric('loopdm_dm_held_total')
    const { mid, outcome } = await staffReplies(user, 'Hi! Jonas here, I will check the stock for you.')
    expect(outcome).toBe('human')
    const turn = await sut.pool.query(
      'select role, author, content from conversation_messages where ig_message_id = $1',
      [mid],
    )
    expect(turn.rows[0]).toEqual({
      role: 'assistant',
      author: 'human',
      content: 'Hi! Jonas here, I will check the stock for you.',
    })
    const s = await status(sut, user)
    expect(s).toMatchObject({ paused: true, reason: 'human-reply' })
    expect(Date.parse(s.until as string)).toBeGreaterThan(Date.now())
    expect(s.lastHumanReplyAt).not.toBeNull()

    const dm = await customerSays(user, 'thanks, any news?')
    expect(await jobOutcome(dmQueue(), `dm-${dm}`)).toBe('held')
    const stored = await sut.pool.query(
      'select content from conversation_messages where ig_message_id = $1',
      [dm],
    )
    expect(stored.rows[0]?.content).toBe('thanks, any news?')
    expect(sut.graph.sendsTo(user)).toHaveLength(0)
    expect(sut.logs.find((l) => l.msg === 'dm held: human takeover' && l.mid === dm)?.until).toBe(s.until)
    expect(await metric('loopdm_takeovers_total')).toBe(takeoversBefore + 1)
    expect(await metric('loopdm_dm_held_total')).toBe(heldBefore + 1)
  })

  it('a human reply right after a bot reply records a takeover signal about that reply', async () => {
    const user = igUser()
    const dm = await customerSays(user, 'can I return a worn shirt?')
    const [row] = await sut.waitForReplies([dm])
    const botMid = sut.graph.sendsTo(user)[0]?.messageId
    await staffReplies(user, 'Sorry, let me correct that: worn items cannot be returned.')
    const sig = await sut.pool.query('select action, mid, model from message_signals where ig_user_id = $1', [
      user,
    ])
    expect(sig.rows).toEqual([{ action: 'takeover', mid: botMid, model: row?.model }])
  })

  it('the bot’s own echo never counts, even when Meta delivers it before the Send API answers', async () => {
    const user = igUser()
    const echoes: string[] = []
    // Meta's order: the echo webhook arrives, then the Send API's response with the message_id.
    sut.graph.onSend(async (send) => {
      if (send.recipientId !== user) return
      echoes.push(send.messageId)
      const res = await sut.postWebhook(metaBody([echoTo(user, send.messageId, send.text)]))
      expect(res.statusCode).toBe(200)
      await waitFor(async () => (await dmQueue().getJob(`echo-${send.messageId}`)) !== undefined, {
        what: 'the early echo job',
      })
    })
    try {
      const dm = await customerSays(user, 'what sizes do you have?')
      await sut.waitForReplies([dm])
      expect(echoes.length).toBeGreaterThan(0)
      for (const m of echoes) expect(await jobOutcome(dmQueue(), `echo-${m}`)).toBe('own')
    } finally {
      sut.graph.onSend(undefined)
    }
    expect((await status(sut, user)).paused).toBe(false)
    const human = await sut.pool.query(
      `select count(*)::int as n from conversation_messages where ig_user_id = $1 and author = 'human'`,
      [user],
    )
    expect(human.rows[0].n).toBe(0)
    const next = await customerSays(user, 'and in blue?')
    await sut.waitForReplies([next])
  })

  it('the takeover ends HUMAN_TAKEOVER_MINUTES after the last human reply', async () => {
    const user = igUser()
    // The staff replied 55 s ago: with HUMAN_TAKEOVER_MINUTES=1 the pause ends in ~5 s.
    await staffReplies(user, 'I am on it', Date.now() - 55_000)
    const dm = await customerSays(user, 'hello?')
    expect(await jobOutcome(dmQueue(), `dm-${dm}`)).toBe('held')
    await waitFor(async () => !(await status(sut, user)).paused, {
      what: 'takeover expiry',
      timeoutMs: 30_000,
    })
    const later = await customerSays(user, 'anyone there?')
    await sut.waitForReplies([later])
  })

  it('pause / resume / status need the admin token (401 without)', async () => {
    const user = igUser()
    for (const [method, url] of [
      ['POST', `/admin/users/${user}/pause`],
      ['POST', `/admin/users/${user}/resume`],
      ['GET', `/admin/users/${user}`],
    ] as const) {
      expect((await sut.gateway.app.inject({ method, url })).statusCode).toBe(401)
    }
    expect((await status(sut, user)).paused).toBe(false)
  })

  it('pause holds the bot for the given minutes, resume lets it answer again; bad minutes → 400', async () => {
    const user = igUser()
    const bad = await sut.gateway.app.inject({
      method: 'POST',
      url: `/admin/users/${user}/pause`,
      headers: auth,
      payload: { minutes: 0 },
    })
    expect(bad.statusCode).toBe(400)
    const res = await sut.gateway.app.inject({
      method: 'POST',
      url: `/admin/users/${user}/pause`,
      headers: auth,
      payload: { minutes: 30 },
    })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ paused: true, reason: 'admin' })
    const until = Date.parse(res.json().until)
    expect(until).toBeGreaterThan(Date.now() + 29 * 60_000)
    expect(until).toBeLessThanOrEqual(Date.now() + 30 * 60_000)
    const dm = await customerSays(user, 'hi')
    expect(await jobOutcome(dmQueue(), `dm-${dm}`)).toBe('held')
    const resumed = await sut.gateway.app.inject({
      method: 'POST',
      url: `/admin/users/${user}/resume`,
      headers: auth,
    })
    expect(resumed.json()).toMatchObject({ paused: false, until: null })
    const dm2 = await customerSays(user, 'hi again')
    await sut.waitForReplies([dm2])
  })

  it('a takeover started on one gateway is seen by another (state in Redis)', async () => {
    const user = igUser()
    await staffReplies(user, 'Mira here, one moment')
    expect(await status(other, user)).toMatchObject({ paused: true, reason: 'human-reply' })
    await other.gateway.app.inject({ method: 'POST', url: `/admin/users/${user}/resume`, headers: auth })
    expect((await status(sut, user)).paused).toBe(false)
    await other.gateway.app.inject({ method: 'POST', url: `/admin/users/${user}/pause`, headers: auth })
    const dm = await customerSays(user, 'hello')
    expect(await jobOutcome(dmQueue(), `dm-${dm}`)).toBe('held')
  })

  it('reply as human: plain within 24 h, HUMAN_AGENT tag up to 7 days, refused after; the bot never tags', async () => {
    const user = igUser()
    const dm = await customerSays(user, 'do you gift-wrap?')
    await sut.waitForReplies([dm])
    expect(sut.graph.sendsTo(user).every((s) => s.tag === undefined)).toBe(true)
    const reply = (text: string) =>
      sut.gateway.app.inject({
        method: 'POST',
        url: `/admin/users/${user}/reply`,
        headers: auth,
        payload: { text },
      })
    const r1 = await reply('Yes, for free!')
    expect(r1.statusCode).toBe(200)
    expect(r1.json()).toMatchObject({ humanAgent: false, status: { paused: true } })
    await sut.pool.query(
      `update conversation_messages set created_at = now() - interval '3 days' where ig_user_id = $1 and role = 'user'`,
      [user],
    )
    const r2 = await reply('Following up on your gift wrap')
    expect(r2.json()).toMatchObject({ humanAgent: true })
    expect(sut.graph.sendsTo(user).at(-1)?.tag).toBe('HUMAN_AGENT')
    await sut.pool.query(
      `update conversation_messages set created_at = now() - interval '8 days' where ig_user_id = $1 and role = 'user'`,
      [user],
    )
    const r3 = await reply('too late')
    expect(r3.statusCode).toBe(409)
    expect(r3.json().code).toBe('OUTSIDE_HUMAN_AGENT_WINDOW')
  })
})
