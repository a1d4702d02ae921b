import type { Pool } from '@loopdm/db/pool'
import { testConfig, testDatabaseUrl, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runScript } from './lib/stack-proc.js'

/** `npm run gold:add|gold:list|gold:remove` as processes against the test database. */
const config = testConfig()
let pool: Pool
const created: number[] = []

async function gold(args: string[]) {
  const r = await runScript('gold', args, {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: config.redis.url,
    LOG_LEVEL: 'silent',
  })
  const id = /added gold item (\d+)/.exec(r.stdout)?.[1]
  if (id) created.push(Number(id))
  return { code: r.code, out: r.stdout, err: r.stderr }
}

/** A conversation: question, bot answer, human answer, then a second question with only a bot answer. */
async function conversation() {
  const user = uniqueId('gold-cli')
  const ins = async (role: string, content: string, author: string | null = null) =>
    Number(
      (
        await pool.query<{ id: number }>(
          'insert into conversation_messages (ig_user_id, role, content, author) values ($1, $2, $3, $4) returning id',
          [user, role, content, author],
        )
      ).rows[0]?.id,
    )
  const q1 = await ins('user', 'Do you ship to Norway?')
  const bot1 = await ins('assistant', 'Thanks for your message!', 'bot')
  await ins('assistant', 'Yes, we ship to Norway in 3-5 days for €9.', 'human')
  const q2 = await ins('user', 'And to Iceland?')
  await ins('assistant', 'We ship to Iceland too.', 'bot')
  return { user, q1, bot1, q2 }
}

beforeAll(async () => {
  pool = await testPool()
})
afterEach(async () => {
  await pool.query('delete from gold_items where id = any($1)', [created.splice(0)])
})
afterAll(async () => {
  await pool?.end()
})

describe('npm run gold:add', () => {
  describe('when given a customer turn', () => {
    it('takes the human answer that followed it as the ideal, with the facts given', async () => {
      const c = await conversation()
      const r = await gold(['add', '--from-message', String(c.q1), '--facts', '€9, 3-5 days'])
      expect(r.code, r.err).toBe(0)
      expect(r.out).toContain(`from message ${c.q1}`)
      const row = (await pool.query('select * from gold_items where message_id = $1', [c.q1]))
        .rows[0] as Record<string, unknown>
      expect(row).toMatchObject({
        ig_user_id: c.user,
        customer_text: 'Do you ship to Norway?',
        ideal_answer: 'Yes, we ship to Norway in 3-5 days for €9.',
        required_facts: ['€9', '3-5 days'],
      })
    })

    it('takes the answer that followed when no human answered, and --ideal overrides it', async () => {
      const c = await conversation()
      const auto = await gold(['add', '--from-message', String(c.q2)])
      expect(auto.code, auto.err).toBe(0)
      expect(auto.out).toContain('We ship to Iceland too.')
      const dup = await gold(['add', '--from-message', String(c.q2)])
      expect(dup.code).toBe(1)
      expect(dup.err).toMatch(new RegExp(`fromMessageId ${c.q2}: already gold item \\d+`))
      await pool.query('delete from gold_items where message_id = $1', [c.q2])
      const given = await gold(['add', '--from-message', String(c.q2), '--ideal', 'Yes: €15, 5-8 days.'])
      expect(given.code, given.err).toBe(0)
      expect(given.out).toContain('Yes: €15, 5-8 days.')
    })
  })

  describe('when the id is bad, unknown or not a customer turn', () => {
    it('names the id and adds nothing', async () => {
      const c = await conversation()
      const before = Number((await pool.query('select count(*)::int as n from gold_items')).rows[0]?.n)
      const bad = await gold(['add', '--from-message', 'abc'])
      expect(bad.code).toBe(2)
      expect(bad.err).toContain('bad --from-message "abc"')
      const unknown = await gold(['add', '--from-message', '987654321012'])
      expect(unknown.code).toBe(1)
      expect(unknown.err).toContain('fromMessageId 987654321012: no such message')
      const answer = await gold(['add', '--from-message', String(c.bot1)])
      expect(answer.code).toBe(1)
      expect(answer.err).toContain(`message ${c.bot1} is an assistant turn, not a customer turn`)
      const both = await gold(['add', '--from-message', String(c.q1), '--text', 'x', '--ideal', 'y'])
      expect(both.code).toBe(2)
      expect(both.err).toContain('exactly one of --from-message or --text')
      const noIdeal = await gold(['add', '--text', 'What are your hours?'])
      expect(noIdeal.code).toBe(1)
      expect(noIdeal.err).toContain('idealAnswer: required')
      expect(Number((await pool.query('select count(*)::int as n from gold_items')).rows[0]?.n)).toBe(before)
    })
  })
})

describe('npm run gold:list and gold:remove', () => {
  it('lists a typed-in item, removes it, and names an unknown id', async () => {
    const text = `What are your hours? ${uniqueId('q')}`
    const add = await gold(['add', '--text', text, '--ideal', 'Mon-Sat 10-18.', '--facts', '10-18'])
    expect(add.code, add.err).toBe(0)
    const id = created.at(-1) as number
    const list = await gold(['list', '--json'])
    expect(list.code, list.err).toBe(0)
    const rows = JSON.parse(list.out) as Array<{ id: number; customerText: string; messageId: null }>
    expect(rows.find((r) => r.id === id)).toMatchObject({ customerText: text, messageId: null })
    const human = await gold(['list'])
    expect(human.out).toContain(`#${id} Q: ${text} → A: Mon-Sat 10-18. facts: 10-18`)
    const rm = await gold(['remove', String(id)])
    expect(rm.code, rm.err).toBe(0)
    expect(rm.out).toContain(`removed gold item ${id}`)
    const again = await gold(['remove', String(id)])
    expect(again.code).toBe(1)
    expect(again.err).toContain(`gold item ${id}: no such item`)
    const usage = await gold(['remove'])
    expect(usage.code).toBe(2)
  })
})
