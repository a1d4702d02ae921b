import { uniqueId } from '@loopdm/testing/fixtures'
import type { InjectOptions } from 'fastify'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildTestGateway, TEST_ADMIN_TOKEN, type TestGateway } from './support/test-gateway.js'

/** `POST|GET|DELETE /admin/gold` and the GDPR erase of a user's gold items. */
describe('admin gold API', () => {
  let sut: TestGateway
  const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }
  const inject = (opts: InjectOptions) => sut.gateway.app.inject(opts)
  const users: string[] = []
  const post = (payload: unknown) =>
    inject({ method: 'POST', url: '/admin/gold', payload: payload as object, headers: auth })

  async function exchange() {
    const user = uniqueId('gold-api')
    users.push(user)
    const r = await sut.pool.query<{ id: number; role: string }>(
      `insert into conversation_messages (ig_user_id, role, content, author)
       values ($1, 'user', 'Is the alpaca cardigan itchy?', null),
              ($1, 'assistant', 'Not at all: baby alpaca is softer than merino.', 'human')
       returning id, role`,
      [user],
    )
    return { user, question: r.rows[0]?.id as number, answer: r.rows[1]?.id as number }
  }

  beforeAll(async () => {
    sut = await buildTestGateway({ worker: false })
  })
  afterEach(async () => {
    await sut.pool.query('delete from gold_items where ig_user_id = any($1) or created_by = $2', [
      users,
      'gold-test',
    ])
    await sut.pool.query('delete from conversation_messages where ig_user_id = any($1)', [users.splice(0)])
  })
  afterAll(async () => {
    await sut?.close()
  })

  it('answers 401 without the token before looking at the body', async () => {
    expect((await inject({ method: 'POST', url: '/admin/gold', payload: { x: 1 } })).statusCode).toBe(401)
    expect((await inject({ method: 'GET', url: '/admin/gold' })).statusCode).toBe(401)
    expect((await inject({ method: 'DELETE', url: '/admin/gold/1' })).statusCode).toBe(401)
  })

  describe('when adding from a customer turn', () => {
    it('stores the human answer as the ideal, lists it, and deletes it', async () => {
      const x = await exchange()
      const res = await post({ fromMessageId: x.question, requiredFacts: ['baby alpaca'] })
      expect(res.statusCode, res.body).toBe(201)
      const item = res.json()
      expect(item).toMatchObject({
        messageId: x.question,
        igUserId: x.user,
        customerText: 'Is the alpaca cardigan itchy?',
        idealAnswer: 'Not at all: baby alpaca is softer than merino.',
        requiredFacts: ['baby alpaca'],
        createdBy: 'admin-api',
      })
      const list = (await inject({ url: '/admin/gold', headers: auth })).json()
      expect(list.items.map((i: { id: number }) => i.id)).toContain(item.id)
      expect(list.count).toBe(list.items.length)
      const del = await inject({ method: 'DELETE', url: `/admin/gold/${item.id}`, headers: auth })
      expect(del.statusCode).toBe(200)
      expect(del.json().id).toBe(item.id)
      const again = await inject({ method: 'DELETE', url: `/admin/gold/${item.id}`, headers: auth })
      expect(again.statusCode).toBe(404)
      expect(again.json().error).toBe(`gold item ${item.id}: no such item`)
    })

    it('refuses an assistant turn, an unknown id and a duplicate, naming the id', async () => {
      const x = await exchange()
      const answer = await post({ fromMessageId: x.answer })
      expect(answer.statusCode).toBe(400)
      expect(answer.json().error).toContain(
        `fromMessageId ${x.answer}: message ${x.answer} is an assistant turn`,
      )
      const unknown = await post({ fromMessageId: 987654321099 })
      expect(unknown.statusCode).toBe(404)
      expect(unknown.json().error).toBe('fromMessageId 987654321099: no such message')
      expect((await post({ fromMessageId: String(x.question) })).statusCode).toBe(201)
      const dup = await post({ fromMessageId: x.question })
      expect(dup.statusCode).toBe(409)
      expect(dup.json().error).toMatch(/already gold item \d+/)
    })
  })

  describe('when two operators mark the same turn at once', () => {
    it('makes one item and answers the other 409', async () => {
      const x = await exchange()
      const codes = (await Promise.all([0, 1, 2].map(() => post({ fromMessageId: x.question })))).map(
        (r) => r.statusCode,
      )
      expect(codes.sort()).toEqual([201, 409, 409])
      const n = await sut.pool.query('select 1 from gold_items where message_id = $1', [x.question])
      expect(n.rowCount).toBe(1)
    })
  })

  describe('when the body is bad', () => {
    it('answers 400 naming the field, and stores nothing', async () => {
      const before = (await inject({ url: '/admin/gold', headers: auth })).json().count
      const cases: Array<[unknown, string]> = [
        [{}, 'fromMessageId: give exactly one of fromMessageId or customerText'],
        [{ customerText: 'Hours?' }, 'idealAnswer: required with customerText'],
        [{ customerText: 'Hours?', idealAnswer: '   ' }, 'idealAnswer:'],
        [{ fromMessageId: -3 }, 'fromMessageId:'],
        [{ fromMessageId: 'abc' }, 'fromMessageId:'],
        [{ customerText: 'Hours?', idealAnswer: '10-18', requiredFacts: ['ok', ''] }, 'requiredFacts.1:'],
        [{ customerText: 'Hours?', idealAnswer: '10-18', facts: ['x'] }, 'unknown field(s) facts'],
      ]
      for (const [body, error] of cases) {
        const res = await post(body)
        expect(res.statusCode, JSON.stringify(body)).toBe(400)
        expect(res.json().error, JSON.stringify(body)).toContain(error)
      }
      const badId = await inject({ method: 'DELETE', url: '/admin/gold/x1', headers: auth })
      expect(badId.statusCode).toBe(400)
      expect(badId.json().error).toContain('id: bad gold item id "x1"')
      expect((await inject({ url: '/admin/gold', headers: auth })).json().count).toBe(before)
    })

    it('adds a typed-in item with the actor header', async () => {
      const res = await inject({
        method: 'POST',
        url: '/admin/gold',
        headers: { ...auth, 'x-loopdm-actor': 'gold-test' },
        payload: { customerText: 'Hours?', idealAnswer: 'Mon-Sat 10-18.', requiredFacts: ['10-18'] },
      })
      expect(res.statusCode, res.body).toBe(201)
      expect(res.json()).toMatchObject({ messageId: null, igUserId: null, createdBy: 'gold-test' })
    })
  })

  describe('when the customer is erased (GDPR)', () => {
    it('deletes their gold items and counts them in the report', async () => {
      const x = await exchange()
      expect((await post({ fromMessageId: x.question })).statusCode).toBe(201)
      const res = await inject({ method: 'DELETE', url: `/admin/users/${x.user}`, headers: auth })
      expect(res.statusCode, res.body).toBe(200)
      expect(res.json().counts.tables.gold_items).toBe(1)
      const left = await sut.pool.query('select 1 from gold_items where ig_user_id = $1', [x.user])
      expect(left.rowCount).toBe(0)
    })
  })
})
