import type { Pool } from '@loopdm/db/pool'
import { testConfig, testDatabaseUrl, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runScript } from './lib/stack-proc.js'

/** `npm run gdpr:erase -- <igUserId>` against the test database and Redis. */

const config = testConfig()
let pool: Pool

async function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const r = await runScript('gdpr-erase', args, {
    ...process.env,
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: config.redis.url,
    QUEUE_PREFIX: config.redis.prefix,
    LOG_LEVEL: 'silent',
  })
  return { code: r.code, out: r.stdout, err: r.stderr }
}

beforeAll(async () => {
  pool = await testPool()
})
afterAll(async () => {
  await pool?.end()
})

describe('npm run gdpr:erase', () => {
  describe('when given a user id', () => {
    it('erases the user, prints the counts, and prints zeros the second time', async () => {
      const user = uniqueId('mem-cli')
      const other = uniqueId('mem-cli-other')
      for (const u of [user, other])
        await pool.query(
          `insert into conversation_messages (ig_user_id, role, content) values ($1, 'user', 'hi'), ($1, 'assistant', 'hello')`,
          [u],
        )
      const first = await run([user, '--actor', 'dpo@example'])
      expect(first.code, first.err + first.out).toBe(0)
      const counts = JSON.parse(first.out.split('\n')[0] as string)
      expect(counts.actor).toBe('dpo@example')
      expect(counts.counts.tables.conversation_messages).toBe(2)
      expect(first.out).toContain('erased: ')
      const left = await pool.query(
        'select ig_user_id, count(*)::int as n from conversation_messages where ig_user_id = any($1) group by 1',
        [[user, other]],
      )
      expect(left.rows).toEqual([{ ig_user_id: other, n: 2 }])

      const second = await run([user])
      expect(second.code).toBe(0)
      expect(JSON.parse(second.out.split('\n')[0] as string).counts.rows).toBe(0)
      expect(second.out).toContain('nothing left to erase')
      await pool.query('delete from conversation_messages where ig_user_id = $1', [other])
    }, 60_000)
  })

  describe('when the id is missing', () => {
    it('prints usage and exits 2', async () => {
      const r = await run([])
      expect(r.code).toBe(2)
      expect(r.err).toContain('usage: npm run gdpr:erase -- <igUserId>')
    }, 30_000)
  })
})
