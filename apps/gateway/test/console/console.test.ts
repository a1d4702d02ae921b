import { createCanaryRepository } from '@loopdm/models/canary-runs'
import { createRegistryRepository } from '@loopdm/models/registry'
import { TEST_PSEUDONYM_SECRET, uniqueId } from '@loopdm/testing/fixtures'
import { hmacPads, legacyUserKey, pseudonymousUserKey, userKeySql } from '@loopdm/training-data/pseudonym'
import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { escapeHtml, html } from '../../src/console/html.js'
import { createConversationRepository } from '../../src/repositories/conversation.repository.js'
import { buildTestGateway, igUser, TEST_ADMIN_TOKEN, type TestGateway } from '../support/test-gateway.js'

/** The console over HTTP (inject): sessions, CSRF, redirects, escaping, disabled features. */
describe('console', () => {
  let sut: TestGateway
  const inject = (o: InjectOptions) => sut.gateway.app.inject(o)
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()

  async function login(headers: Record<string, string> = {}) {
    const res = await inject({
      method: 'POST',
      url: '/console/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: form({ token: TEST_ADMIN_TOKEN, next: '/console/costs' }),
    })
    const setCookie = String(res.headers['set-cookie'])
    const cookie = setCookie.split(';')[0] as string
    const overview = await inject({ url: '/console', headers: { cookie } })
    const csrf = /name="csrf" value="([^"]+)"/.exec(overview.body)?.[1] as string
    return { res, setCookie, cookie, csrf }
  }

  beforeAll(async () => {
    sut = await buildTestGateway({ worker: false, env: { PROMOTE_PROBE_DEADLINE_MS: '0' } })
  })
  afterAll(async () => {
    await sut?.close()
  })

  describe('pseudonymous keys in SQL (the conversation search)', () => {
    it('computes exactly pseudonymousUserKey: short and over-64-byte secrets, non-ASCII ids, and the legacy hash', async () => {
      const ids = ['17841400000000001', 'bench-user-42', 'jürgen-ñ-中文-🙂']
      for (const secret of ['s', TEST_PSEUDONYM_SECRET, 'ü'.repeat(40), 'x'.repeat(200)]) {
        const { inner, outer } = hmacPads(secret)
        const r = await sut.pool.query<{ id: string; key: string; legacy: string }>(
          `select id, ${userKeySql('id', { inner: '$2', outer: '$3' })} as key, ${userKeySql('id')} as legacy
             from unnest($1::text[]) as t(id)`,
          [ids, inner, outer],
        )
        expect(r.rows.map((x) => x.key)).toEqual(ids.map((id) => pseudonymousUserKey(id, secret)))
        expect(r.rows.map((x) => x.legacy)).toEqual(ids.map((id) => legacyUserKey(id)))
      }
    })
  })

  describe('html helper', () => {
    it('escapes every interpolated value unless it is already safe markup', () => {
      expect(escapeHtml(`<a href="x" onclick='y'>&\``)).toBe(
        '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&#96;',
      )
      const inner = html`<b>${'<i>'}</b>`
      expect(html`<p>${inner}${['<', 1]}${null}</p>`.value).toBe('<p><b>&lt;i&gt;</b>&lt;1</p>')
    })
  })

  describe('when there is no session', () => {
    it('redirects every console URL to the login page with 303, and the JSON admin API still answers 401', async () => {
      for (const url of [
        '/console',
        '/console/candidates',
        '/console/candidates/1',
        '/console/conversations',
        '/console/data',
        '/console/promotions',
        '/console/costs',
      ]) {
        const res = await inject({ url })
        expect(res.statusCode, url).toBe(303)
        expect(res.headers.location).toBe(`/console/login?next=${encodeURIComponent(url)}`)
      }
      const post = await inject({ method: 'POST', url: '/console/promotions/rollback', payload: {} })
      expect(post.statusCode).toBe(303)
      expect(post.headers.location).toBe('/console/login')
      expect((await inject({ url: '/admin/models' })).statusCode).toBe(401)
      expect((await inject({ url: '/console/no-such-page' })).statusCode).toBe(303)
      const page = await inject({ url: '/console/login' })
      expect(page.statusCode).toBe(200)
      expect(page.headers['content-security-policy']).toContain("default-src 'none'")
      expect(page.body).toContain('<label for="token">')
    })

    it('refuses a wrong token with a login error and no cookie', async () => {
      const res = await inject({
        method: 'POST',
        url: '/console/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: form({ token: 'wrong' }),
      })
      expect(res.statusCode).toBe(401)
      expect(res.body).toContain('data-testid="login-error"')
      expect(res.headers['set-cookie']).toBeUndefined()
    })
  })

  describe('when logging in with ADMIN_TOKEN', () => {
    it('sets an HttpOnly SameSite=Strict session cookie (Secure behind https) and redirects to next', async () => {
      const plain = await login()
      expect(plain.res.statusCode).toBe(303)
      expect(plain.res.headers.location).toBe('/console/costs')
      expect(plain.setCookie).toMatch(/HttpOnly/)
      expect(plain.setCookie).toMatch(/SameSite=Strict/)
      expect(plain.setCookie).not.toMatch(/Secure/)
      const https = await login({ 'x-forwarded-proto': 'https' })
      expect(https.setCookie).toMatch(/; Secure/)
      const res = await inject({ url: '/console/costs', headers: { cookie: plain.cookie } })
      expect(res.statusCode).toBe(200)
      expect(res.body).toContain('data-testid="spend-month"')
    })

    it('refuses a state-changing form without the CSRF token (403) and accepts it with the token', async () => {
      const { cookie, csrf } = await login()
      const headers = { cookie, 'content-type': 'application/x-www-form-urlencoded' }
      const before = await sut.pool.query('select count(*)::int as n from model_promotions')
      const none = await inject({
        method: 'POST',
        url: '/console/promotions/rollback',
        headers,
        payload: form({}),
      })
      expect(none.statusCode).toBe(403)
      const wrong = await inject({
        method: 'POST',
        url: '/console/promotions/rollback',
        headers,
        payload: form({ csrf: `${csrf}x` }),
      })
      expect(wrong.statusCode).toBe(403)
      const after = await sut.pool.query('select count(*)::int as n from model_promotions')
      expect(after.rows[0].n).toBe(before.rows[0].n)
      const erase = await inject({
        method: 'POST',
        url: '/console/conversations/nobody-here/erase',
        headers,
        payload: form({ csrf, confirm: 'someone-else' }),
      })
      expect(erase.statusCode).toBe(400)
      expect(erase.body).toContain('type the customer id exactly')
    })

    it('logout ends the session everywhere (Redis), so the old cookie redirects to login', async () => {
      const { cookie, csrf } = await login()
      const out = await inject({
        method: 'POST',
        url: '/console/logout',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: form({ csrf }),
      })
      expect(out.statusCode).toBe(303)
      expect(String(out.headers['set-cookie'])).toContain('Max-Age=0')
      const again = await inject({ url: '/console', headers: { cookie } })
      expect(again.statusCode).toBe(303)
    })
  })

  describe('when a conversation holds markup', () => {
    it('escapes it, shows authorship and renders features without their service disabled with a note', async () => {
      const user = igUser()
      const conv = createConversationRepository(sut.pool)
      const mid = uniqueId('mid')
      await conv.insertTurn({
        igMessageId: mid,
        igUserId: user,
        role: 'user',
        content: '<script>alert(1)</script>',
      })
      await conv.insertTurn({
        igMessageId: `${mid}#reply`,
        igUserId: user,
        role: 'assistant',
        content: 'Hi "there" & <b>welcome</b>',
        model: 'gpt-4.1-mini',
      })
      const { cookie } = await login()
      const res = await inject({ url: `/console/conversations/${user}`, headers: { cookie } })
      expect(res.statusCode).toBe(200)
      expect(res.body).not.toContain('<script>alert(1)</script>')
      expect(res.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
      expect(res.body).toContain('Hi &quot;there&quot; &amp; &lt;b&gt;welcome&lt;/b&gt;')
      expect(res.body).toContain('bot · gpt-4.1-mini')
      expect(res.body).toMatch(/<button type="submit" data-testid="mark-gold">/)
      // Human takeover is wired: take over enabled, resume disabled while the bot answers.
      expect(res.body).toMatch(/<button type="submit" data-testid="takeover">/)
      expect(res.body).toMatch(/<button type="submit" class="secondary" data-testid="resume" disabled>/)
      expect(res.body).toContain('data-testid="takeover-state">bot answering')
      expect(res.body).toMatch(
        /<textarea id="reply-text" name="text" maxlength="2000" required data-testid="reply-box">/,
      )
      const list = await inject({ url: `/console/conversations?q=${user}`, headers: { cookie } })
      expect(list.body.match(/data-testid="conversation-row"/g)).toHaveLength(1)
      // The pseudonymous key (PSEUDONYM_SECRET's HMAC, or a legacy manifest's hash) finds the same customer.
      for (const key of [pseudonymousUserKey(user, TEST_PSEUDONYM_SECRET), legacyUserKey(user)]) {
        const byKey = await inject({ url: `/console/conversations?q=${key}`, headers: { cookie } })
        expect(byKey.body.match(/data-testid="conversation-row"/g), key).toHaveLength(1)
        expect(byKey.body).toContain(`/console/conversations/${user}`)
      }
      const unknown = await inject({ url: `/console/conversations?q=${'0'.repeat(32)}`, headers: { cookie } })
      expect(unknown.body.match(/data-testid="conversation-row"/g)).toBeNull()
      await sut.pool.query('delete from conversation_messages where ig_user_id = $1', [user])
    })
  })

  describe('when staff take over a conversation from the console', () => {
    it('pauses the bot through the takeover service (seen by the admin API) and resumes it', async () => {
      const user = igUser()
      const { cookie, csrf } = await login()
      const post = (action: string) =>
        inject({
          method: 'POST',
          url: `/console/conversations/${user}/${action}`,
          headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
          payload: form({ csrf }),
        })
      expect((await post('takeover')).statusCode).toBe(303)
      const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }
      const paused = await inject({ url: `/admin/users/${user}`, headers: admin })
      expect(paused.json()).toMatchObject({ paused: true, reason: 'admin' })
      const page = await inject({ url: `/console/conversations/${user}`, headers: { cookie } })
      expect(page.body).toMatch(/data-testid="takeover-state">taken over until/)
      expect((await post('resume')).statusCode).toBe(303)
      expect((await inject({ url: `/admin/users/${user}`, headers: admin })).json().paused).toBe(false)
    })
  })

  describe('when the candidate does not answer the probe', () => {
    it('shows the refusal on the candidate page and promotes nothing', async () => {
      const registry = createRegistryRepository(sut.pool)
      const model = `ft:gpt-4.1-mini:loopdm::${uniqueId('gone')}`
      const row = await registry.upsertModel({ model, status: 'approved_pending' })
      const activeBefore = await registry.findActive()
      try {
        const { cookie, csrf } = await login()
        const res = await inject({
          method: 'POST',
          url: `/console/candidates/${row.id}/approve`,
          headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
          payload: form({ csrf, reason: 'looks good' }),
        })
        expect(res.statusCode).toBe(422)
        expect(res.body).toContain('data-testid="action-error"')
        expect(res.body).toContain('Approval refused: model')
        expect(res.body).toContain('is not callable')
        expect(await registry.findActive()).toEqual(activeBefore)
        expect((await registry.findByIdOrModel(model))?.status).toBe('approved_pending')
        const missing = await inject({ url: '/console/no-such-page', headers: { cookie } })
        expect(missing.statusCode).toBe(404)
      } finally {
        await sut.pool.query('delete from models where model = $1', [model])
      }
    })
  })

  describe('when erasing a customer from the thread', () => {
    it('runs the GDPR erase service once the id is typed, leaving an audit row without the id', async () => {
      const user = igUser()
      await createConversationRepository(sut.pool).insertTurn({
        igMessageId: uniqueId('mid'),
        igUserId: user,
        role: 'user',
        content: 'please forget me',
      })
      const { cookie, csrf } = await login()
      const res = await inject({
        method: 'POST',
        url: `/console/conversations/${user}/erase`,
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: form({ csrf, confirm: user }),
      })
      expect(res.statusCode).toBe(303)
      expect(res.headers.location).toBe('/console/conversations?done=erased')
      const left = await sut.pool.query(
        'select count(*)::int as n from conversation_messages where ig_user_id = $1',
        [user],
      )
      expect(left.rows[0].n).toBe(0)
      const audit = await sut.pool.query(`select actor from gdpr_erasures where user_key = $1`, [
        pseudonymousUserKey(user, TEST_PSEUDONYM_SECRET),
      ])
      expect(audit.rows).toEqual([{ actor: 'console' }])
    })
  })

  describe('when a canary ran', () => {
    it('lists its start, check and decision on the Promotions timeline with their numbers', async () => {
      const arm = (replies: number, bad: number) => ({ replies, badOutcomes: bad, badRate: bad / replies })
      const numbers = {
        arms: { control: arm(200, 10), canary: arm(40, 8) },
        test: { difference: 0.15, lower: 0.021, upper: 0.28, z: 2.41, logLR: 3.7 },
      }
      const run = await sut.pool.query<{ id: number }>(
        `insert into canary_runs (candidate_model, percent, min_replies, max_hours, salt, status, actor, ended_at)
         values ('console-canary-<b>', 10, 30, 72, 'console-test', 'rolled_back', 'tester', now()) returning id::int8 as id`,
      )
      const runId = Number(run.rows[0]?.id)
      try {
        const repo = createCanaryRepository(sut.pool)
        await repo.addEvent({ runId, kind: 'start', decision: null, reason: 'start: 10%', actor: 'tester' })
        await repo.addEvent({
          runId,
          kind: 'check',
          decision: 'rollback',
          reason: 'checked',
          numbers,
          actor: 'canary',
        })
        await repo.addEvent({
          runId,
          kind: 'decision',
          decision: 'rollback',
          reason: 'rollback: canary clearly worse <script>',
          numbers,
          actor: 'canary',
        })
        const { cookie } = await login()
        const res = await inject({ url: '/console/promotions', headers: { cookie } })
        expect(res.statusCode).toBe(200)
        const kinds = [...res.body.matchAll(/data-testid="canary-event" data-kind="([^"]+)"/g)].map(
          (m) => m[1],
        )
        expect(kinds.slice(0, 3)).toEqual(['canary-rollback', 'canary-check', 'canary-start'])
        expect(res.body).toContain('console-canary-&lt;b&gt; (canary')
        expect(res.body).toContain('rollback: canary clearly worse &lt;script&gt;')
        expect(res.body).toContain(
          'control 200 replies, bad 5.0% · canary 40 replies, bad 20.0% · difference 15.0 pts [2.1, 28.0] · z 2.41 · logLR 3.70',
        )
      } finally {
        await sut.pool.query('delete from canary_runs where id = $1', [runId])
      }
    })
  })
})
