import { uniqueId } from '@loopdm/testing/fixtures'
import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createConversationRepository } from '../../src/repositories/conversation.repository.js'
import { buildTestGateway, igUser, TEST_ADMIN_TOKEN, type TestGateway } from '../support/test-gateway.js'

/** The console's gold set, exclusions and login rate limit over HTTP (inject). */
describe('console: gold set, exclusions, login limit', () => {
  let sut: TestGateway
  const inject = (o: InjectOptions) => sut.gateway.app.inject(o)
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
  const formHeaders = (cookie: string, ip = '10.9.0.1') => ({
    'content-type': 'application/x-www-form-urlencoded',
    'x-forwarded-for': ip,
    cookie,
  })
  const login = (token: string, ip: string) =>
    inject({
      method: 'POST',
      url: '/console/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
      payload: form({ token }),
    })
  let cookie = ''
  let csrf = ''
  const users: string[] = []

  beforeAll(async () => {
    sut = await buildTestGateway({ worker: false, env: { CONSOLE_LOGIN_MAX_ATTEMPTS: '3' } })
    const res = await login(TEST_ADMIN_TOKEN, '10.9.0.1')
    cookie = String(res.headers['set-cookie']).split(';')[0] as string
    const page = await inject({ url: '/console', headers: { cookie } })
    csrf = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1] as string
  })
  afterAll(async () => {
    await sut.pool.query(`delete from gold_items where ig_user_id = any($1) or created_by = 'console'`, [
      users,
    ])
    await sut.pool.query('delete from conversation_messages where ig_user_id = any($1)', [users])
    await sut?.close()
  })

  async function thread() {
    const user = igUser()
    users.push(user)
    const conv = createConversationRepository(sut.pool)
    const mid = uniqueId('mid')
    await conv.insertTurn({ igMessageId: mid, igUserId: user, role: 'user', content: 'Do you gift-wrap?' })
    await conv.insertTurn({
      igMessageId: `${mid}#reply`,
      igUserId: user,
      role: 'assistant',
      content: 'Thanks for your message!',
      model: 'gpt-4.1-mini',
    })
    const ids = await sut.pool.query<{ id: number; role: string }>(
      'select id, role from conversation_messages where ig_user_id = $1 order by id',
      [user],
    )
    return { user, question: ids.rows[0]?.id as number, answer: ids.rows[1]?.id as number }
  }

  describe('in a thread', () => {
    it('marks an exchange as gold with the edited ideal answer (the customer turn it answered)', async () => {
      const t = await thread()
      const res = await inject({
        method: 'POST',
        url: `/console/conversations/${t.user}/gold`,
        headers: formHeaders(cookie),
        payload: form({ csrf, messageId: String(t.answer), ideal: 'Yes, gift-wrapping is free.' }),
      })
      expect(res.statusCode, res.body).toBe(303)
      expect(res.headers.location).toContain('done=gold')
      const gold = await sut.pool.query('select * from gold_items where ig_user_id = $1', [t.user])
      expect(gold.rows).toEqual([
        expect.objectContaining({
          message_id: t.question,
          customer_text: 'Do you gift-wrap?',
          ideal_answer: 'Yes, gift-wrapping is free.',
          created_by: 'console',
        }),
      ])
      const again = await inject({
        method: 'POST',
        url: `/console/conversations/${t.user}/gold`,
        headers: formHeaders(cookie),
        payload: form({ csrf, messageId: String(t.answer), ideal: 'Other.' }),
      })
      expect(again.statusCode).toBe(409)
      expect(again.body).toMatch(/already gold item \d+/)
    })

    it('refuses an answer from another conversation and names it', async () => {
      const a = await thread()
      const b = await thread()
      const res = await inject({
        method: 'POST',
        url: `/console/conversations/${a.user}/gold`,
        headers: formHeaders(cookie),
        payload: form({ csrf, messageId: String(b.answer), ideal: 'x' }),
      })
      expect(res.statusCode).toBe(404)
      expect(res.body).toContain(`message ${b.answer}: no customer turn before it in this conversation`)
      expect(
        (await sut.pool.query('select 1 from gold_items where ig_user_id = any($1)', [[a.user, b.user]]))
          .rowCount,
      ).toBe(0)
    })

    it('excludes an exchange from training (curation_exclusions), idempotently', async () => {
      const t = await thread()
      for (let i = 0; i < 2; i++) {
        const res = await inject({
          method: 'POST',
          url: `/console/conversations/${t.user}/exclude`,
          headers: formHeaders(cookie),
          payload: form({ csrf, messageId: String(t.answer) }),
        })
        expect(res.statusCode, res.body).toBe(303)
        expect(res.headers.location).toContain('done=excluded')
      }
      const rows = await sut.pool.query('select * from curation_exclusions where message_id = $1', [t.answer])
      expect(rows.rows).toEqual([expect.objectContaining({ reason: 'operator', created_by: 'console' })])
    })
  })

  describe('on the Data page', () => {
    it('adds a gold item by hand, lists it, and removes it', async () => {
      const text = `Can I collect in store? ${uniqueId('q')}`
      const add = await inject({
        method: 'POST',
        url: '/console/data/gold',
        headers: formHeaders(cookie),
        payload: form({
          csrf,
          customerText: text,
          idealAnswer: 'Yes, from 10:00.',
          requiredFacts: '10:00, store',
        }),
      })
      expect(add.statusCode, add.body).toBe(303)
      const data = await inject({ url: '/console/data?done=gold-added', headers: { cookie } })
      expect(data.body).toContain('Added to the gold set.')
      expect(data.body).toContain(text)
      expect(data.body).toContain('10:00, store')
      const id = (
        await sut.pool.query<{ id: number }>('select id from gold_items where customer_text = $1', [text])
      ).rows[0]?.id as number
      const rm = await inject({
        method: 'POST',
        url: `/console/data/gold/${id}/remove`,
        headers: formHeaders(cookie),
        payload: form({ csrf }),
      })
      expect(rm.statusCode).toBe(303)
      expect((await sut.pool.query('select 1 from gold_items where id = $1', [id])).rowCount).toBe(0)
      const gone = await inject({
        method: 'POST',
        url: `/console/data/gold/${id}/remove`,
        headers: formHeaders(cookie),
        payload: form({ csrf }),
      })
      expect(gone.statusCode).toBe(404)
      expect(gone.body).toContain(`gold item ${id}: no such item`)
    })

    it('refuses an add without the CSRF token', async () => {
      const res = await inject({
        method: 'POST',
        url: '/console/data/gold',
        headers: formHeaders(cookie),
        payload: form({ customerText: 'x', idealAnswer: 'y' }),
      })
      expect(res.statusCode).toBe(403)
    })
  })

  describe('login rate limit', () => {
    it('answers 401 with a message for a wrong token, then 429 after CONSOLE_LOGIN_MAX_ATTEMPTS, other addresses unaffected', async () => {
      const ip = `10.8.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`
      for (let i = 0; i < 3; i++) {
        const res = await login('wrong-token', ip)
        expect(res.statusCode).toBe(401)
        expect(res.body).toContain('That token is not right.')
      }
      const blocked = await login(TEST_ADMIN_TOKEN, ip)
      expect(blocked.statusCode).toBe(429)
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0)
      expect(blocked.body).toContain('Too many failed logins from this address')
      expect(blocked.headers['set-cookie']).toBeUndefined()
      const other = await login(TEST_ADMIN_TOKEN, '10.7.0.1')
      expect(other.statusCode).toBe(303)
    })

    it('believes X-Forwarded-For only from a TRUST_PROXY proxy: a direct client cannot rotate it to dodge the limit', async () => {
      const from = (remoteAddress: string, xff: string, token: string) =>
        inject({
          method: 'POST',
          url: '/console/login',
          remoteAddress,
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': xff },
          payload: form({ token }),
        })
      // A public peer (no proxy in front): each try claims another address; all count against the peer.
      const peer = `203.0.113.${1 + Math.floor(Math.random() * 250)}`
      for (let i = 0; i < 3; i++)
        expect((await from(peer, `198.51.100.${i}`, 'wrong-token')).statusCode).toBe(401)
      expect((await from(peer, '198.51.100.99', TEST_ADMIN_TOKEN)).statusCode).toBe(429)
      // A proxy on a private address (the default trusts uniquelocal): its clients are told apart.
      const client = `10.6.${Math.floor(Math.random() * 250)}.1`
      for (let i = 0; i < 3; i++) expect((await from('10.0.0.2', client, 'wrong-token')).statusCode).toBe(401)
      expect((await from('10.0.0.2', client, TEST_ADMIN_TOKEN)).statusCode).toBe(429)
      expect((await from('10.0.0.2', `${client}0`, TEST_ADMIN_TOKEN)).statusCode).toBe(303)
    })
  })
})
