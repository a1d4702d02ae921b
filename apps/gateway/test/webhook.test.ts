import { waitFor } from '@loopdm/testing/wait'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  buildTestGateway,
  dmWebhookBody,
  igUser,
  TEST_ADMIN_TOKEN,
  TEST_IG_ACCOUNT,
  TEST_VERIFY_TOKEN,
  type TestGateway,
} from './support/test-gateway.js'

describe('webhook', () => {
  let sut: TestGateway
  beforeAll(async () => {
    sut = await buildTestGateway()
  })
  afterAll(async () => {
    await sut?.close()
  })

  const countTurns = async (mid: string) =>
    Number(
      (
        await sut.pool.query(
          'select count(*)::int as n from conversation_messages where ig_message_id = $1',
          [mid],
        )
      ).rows[0].n,
    )

  describe('when Meta verifies the subscription', () => {
    it('answers the challenge for the right token', async () => {
      const res = await sut.gateway.app.inject({
        url: `/webhook?hub.mode=subscribe&hub.verify_token=${TEST_VERIFY_TOKEN}&hub.challenge=12345`,
      })
      expect(res.statusCode).toBe(200)
      expect(res.body).toBe('12345')
    })

    it('refuses a wrong token with 403', async () => {
      const res = await sut.gateway.app.inject({
        url: '/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=12345',
      })
      expect(res.statusCode).toBe(403)
      expect(res.body).not.toContain('12345')
    })
  })

  describe('when the signature is checked', () => {
    it('accepts a valid signature and answers the DM', async () => {
      const user = igUser()
      const { mid, status } = await sut.dm({ user, text: 'hello, are you open today?' })
      expect(status).toBe(200)
      const [row] = await sut.waitForReplies([mid])
      expect(row?.igUserId).toBe(user)
      expect(sut.graph.sendsTo(user)).toHaveLength(row?.parts ?? 1)
      // Default IG_SEND_PATH: /me/messages (Instagram Login and Facebook Login alike).
      expect(sut.graph.sendsTo(user)[0]?.igAccountId).toBe('me')
      expect(sut.graph.sendsTo(user)[0]?.authorization).toBe('Bearer test-ig-access-token')
      expect(await countTurns(mid)).toBe(1)
      expect(await countTurns(`${mid}#reply`)).toBe(1)
    })

    it('rejects an invalid signature with 401 and stores nothing', async () => {
      const mid = `mid.bad-${igUser()}`
      const res = await sut.postWebhook(dmWebhookBody({ user: igUser(), mid, text: 'hi' }), {
        signature: `sha256=${'0'.repeat(64)}`,
      })
      expect(res.statusCode).toBe(401)
      expect(await sut.gateway.queues.dm.getJob(`dm-${mid}`)).toBeUndefined()
      await new Promise((r) => setTimeout(r, 200))
      expect(await countTurns(mid)).toBe(0)
    })

    it('rejects a missing signature with 401', async () => {
      const mid = `mid.nosig-${igUser()}`
      const res = await sut.postWebhook(dmWebhookBody({ user: igUser(), mid, text: 'hi' }), {
        signature: null,
      })
      expect(res.statusCode).toBe(401)
      expect(await sut.gateway.queues.dm.getJob(`dm-${mid}`)).toBeUndefined()
    })

    it('rejects a body signed with another secret', async () => {
      const { signBody } = await import('../src/services/signature.js')
      const body = JSON.stringify(dmWebhookBody({ user: igUser(), mid: 'mid.other', text: 'hi' }))
      const res = await sut.postWebhook(body, { signature: signBody(body, 'another-secret') })
      expect(res.statusCode).toBe(401)
    })
  })

  describe('when the body is not an Instagram webhook', () => {
    it('answers 400 for malformed JSON (validly signed)', async () => {
      const res = await sut.postWebhook('{"object":"instagram","entry":[')
      expect(res.statusCode).toBe(400)
      expect(res.json().error).toMatch(/malformed JSON/)
    })

    it('answers 200 (nothing done) for another object or shape, so Meta never unsubscribes the app', async () => {
      for (const body of [{ object: 'page', entry: [] }, { object: 'instagram' }, [1, 2]]) {
        const res = await sut.postWebhook(body)
        expect(res.statusCode).toBe(200)
      }
    })
  })

  describe('when events need no reply', () => {
    it('ignores reads and deliveries', async () => {
      const user = igUser()
      const mid = 'x'
      const body = {
        object: 'instagram',
        entry: [{ id: TEST_IG_ACCOUNT, time: Date.now(), messaging: [] as unknown[] }],
      }
      const entry = body.entry[0] as { messaging: unknown[] }
      entry.messaging.push(
        {
          sender: { id: user },
          recipient: { id: TEST_IG_ACCOUNT },
          timestamp: Date.now(),
          read: { mid: 'x' },
        },
        {
          sender: { id: user },
          recipient: { id: TEST_IG_ACCOUNT },
          timestamp: Date.now(),
          delivery: { mids: ['x'] },
        },
      )
      const res = await sut.postWebhook(body)
      expect(res.statusCode).toBe(200)
      expect(await sut.gateway.queues.dm.getJob(`dm-${mid}`)).toBeUndefined()
      await new Promise((r) => setTimeout(r, 300))
      expect(await countTurns(mid)).toBe(0)
      expect(sut.graph.sendsTo(user)).toHaveLength(0)
    })

    it('records a reaction to our reply as a signal with the model that wrote it', async () => {
      const user = igUser()
      const { mid } = await sut.dm({ user, text: 'what are your opening hours?' })
      const [row] = await sut.waitForReplies([mid])
      const reactedMid = sut.graph.sendsTo(user)[0]?.messageId as string
      const res = await sut.postWebhook({
        object: 'instagram',
        entry: [
          {
            id: TEST_IG_ACCOUNT,
            time: Date.now(),
            messaging: [
              {
                sender: { id: user },
                recipient: { id: TEST_IG_ACCOUNT },
                timestamp: 1_700_000_000_000,
                reaction: { mid: reactedMid, action: 'react', reaction: 'love', emoji: '❤️' },
              },
            ],
          },
        ],
      })
      expect(res.statusCode).toBe(200)
      const rows = await waitFor(
        async () => {
          const r = await sut.pool.query('select * from message_signals where ig_user_id = $1', [user])
          return r.rows.length > 0 && r.rows
        },
        { what: 'the reaction signal row', timeoutMs: 10_000 },
      )
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({ reaction: 'love', emoji: '❤️', model: row?.model })
    })
  })

  describe('when the same mid is delivered again', () => {
    it('answers exactly once for three concurrent deliveries', async () => {
      const user = igUser()
      const mid = `mid.dup-${user}`
      const body = dmWebhookBody({ user, mid, text: 'do you ship to Austria?' })
      const results = await Promise.all([sut.postWebhook(body), sut.postWebhook(body), sut.postWebhook(body)])
      expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200])
      await sut.waitForReplies([mid])
      // And once more after it was answered (Meta retries for up to 36 h).
      expect((await sut.postWebhook(body)).statusCode).toBe(200)
      await new Promise((r) => setTimeout(r, 500))
      const rows = await sut.outbox.findByMid(mid)
      expect(sut.graph.sendsTo(user)).toHaveLength(rows.length)
      expect(rows.every((r) => r.attempts === 1)).toBe(true)
      expect(await countTurns(mid)).toBe(1)
      expect(await countTurns(`${mid}#reply`)).toBe(1)
    })
  })

  describe('when metrics are scraped', () => {
    it('counts webhook requests by status', async () => {
      const res = await sut.gateway.app.inject({
        url: '/metrics',
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      })
      expect(res.statusCode).toBe(200)
      expect(res.body).toMatch(/loopdm_webhook_requests_total\{method="POST",status="200"\} \d+/)
      expect(res.body).toMatch(/loopdm_webhook_requests_total\{method="POST",status="401"\} \d+/)
      expect(res.body).toMatch(/loopdm_sends_total\{result="sent"\} \d+/)
      expect(res.body).toMatch(/loopdm_queue_depth\{queue="dm",state="waiting"\} \d+/)
      expect(res.body).toMatch(/loopdm_dm_reply_seconds_count\{model="[^"]+"\} \d+/)
    })
  })
})
