import { type Pool, prepared, toVector, withTransaction } from '@loopdm/db/pool'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testPool, uniqueId } from './fixtures.js'

function unit(seed: number, dims = 1536): number[] {
  // Deterministic pseudo-random unit vector.
  let x = seed
  const v = Array.from({ length: dims }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31
    return x / 2 ** 31 - 0.5
  })
  const n = Math.hypot(...v)
  return v.map((c) => c / n)
}

describe('conversation_messages through the pg pool', () => {
  let sut: Pool
  const user = uniqueId('vec-user')
  beforeAll(async () => {
    sut = await testPool()
  })
  afterAll(async () => {
    await sut.query('delete from conversation_messages where ig_user_id = $1', [user])
    await sut.end()
  })

  describe('when vector(1536) rows are inserted', () => {
    it('returns the nearest neighbour for a cosine top-k query', async () => {
      const vectors = [1, 2, 3, 4, 5].map((s) => unit(s))
      for (const [i, v] of vectors.entries()) {
        await sut.query(
          'insert into conversation_messages (ig_user_id, role, content, embedding) values ($1, $2, $3, $4)',
          [user, 'user', `turn ${i}`, toVector(v)],
        )
      }
      // A slightly perturbed copy of vector 3 must find turn 2 first.
      const probe = (vectors[2] as number[]).map((c, i) => c + (i % 7 === 0 ? 0.001 : 0))
      const r = await sut.query<{ content: string; score: number; embedding: number[] }>(
        `select content, 1 - (embedding <=> $2) as score, embedding from conversation_messages
          where ig_user_id = $1 order by embedding <=> $2 limit 3`,
        [user, toVector(probe)],
      )
      expect(r.rows.map((x) => x.content)[0]).toBe('turn 2')
      expect(r.rows[0]?.score).toBeGreaterThan(0.99)
      expect(r.rows[1]?.score).toBeLessThan(0.5)
      // The pool parses vector columns into number arrays.
      expect(Array.isArray(r.rows[0]?.embedding)).toBe(true)
      expect(r.rows[0]?.embedding).toHaveLength(1536)
    })
  })

  describe('when two pool clients work at once', () => {
    it('both complete, and a transaction commits atomically', async () => {
      const [a, b] = await Promise.all([sut.connect(), sut.connect()])
      try {
        const [ra, rb] = await Promise.all([a.query('select 1 as one'), b.query("select 'two' as two")])
        expect(ra.rows[0].one).toBe(1)
        expect(rb.rows[0].two).toBe('two')
      } finally {
        a.release()
        b.release()
      }
      await withTransaction(sut, async (c) => {
        await c.query(
          "insert into conversation_messages (ig_user_id, role, content) values ($1, 'user', 'tx')",
          [user],
        )
      })
      await expect(
        withTransaction(sut, async (c) => {
          await c.query(
            "insert into conversation_messages (ig_user_id, role, content) values ($1, 'user', 'rolled')",
            [user],
          )
          throw new Error('boom')
        }),
      ).rejects.toThrow('boom')
      const r = await sut.query(
        'select content from conversation_messages where ig_user_id = $1 and embedding is null',
        [user],
      )
      expect(r.rows.map((x) => x.content)).toEqual(['tx'])
    })
  })

  describe('when a row breaks a constraint', () => {
    it('rejects an unknown role and a duplicate ig_message_id', async () => {
      await expect(
        sut.query("insert into conversation_messages (ig_user_id, role, content) values ($1, 'robot', 'x')", [
          user,
        ]),
      ).rejects.toThrow(/check constraint/)
      const mid = uniqueId('mid')
      await sut.query(
        "insert into conversation_messages (ig_user_id, role, content, ig_message_id) values ($1, 'user', 'a', $2)",
        [user, mid],
      )
      await expect(
        sut.query(
          "insert into conversation_messages (ig_user_id, role, content, ig_message_id) values ($1, 'user', 'b', $2)",
          [user, mid],
        ),
      ).rejects.toThrow(/duplicate key/)
    })
  })
  describe('when a hot query is prepared', () => {
    const text = 'select content from conversation_messages where ig_user_id = $1 order by id'
    it('gives one name per text, parses it once per connection and returns what the plain query does', async () => {
      expect(prepared(text, []).name).toBe(prepared(text, [user]).name)
      expect(prepared(`${text} limit 1`, []).name).not.toBe(prepared(text, []).name)
      expect(Buffer.byteLength(prepared(text, []).name as string)).toBeLessThanOrEqual(40)
      const client = await sut.connect()
      try {
        const plain = await client.query(text, [user])
        const first = await client.query(prepared(text, [user]))
        const again = await client.query(prepared(text, [user]))
        expect(first.rows).toEqual(plain.rows)
        expect(again.rows).toEqual(plain.rows)
        expect(plain.rows.length).toBeGreaterThan(0)
        // The embedded server scopes a connection's names (c<id>_<name>); Postgres keeps them as given.
        const kept = await client.query<{ n: number }>(
          "select count(*)::int as n from pg_prepared_statements where name like '%' || $1",
          [prepared(text, []).name],
        )
        expect(kept.rows[0]?.n).toBe(1)
      } finally {
        client.release()
      }
    })
  })
})
