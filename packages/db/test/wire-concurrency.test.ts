import { type EmbeddedPostgres, startEmbeddedPostgres } from '@loopdm/db/embedded'
import { createPool, type Pool } from '@loopdm/db/pool'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// Its own embedded server (not the suite's), so the load below can't disturb other suites.
describe('the embedded server under concurrent connections', () => {
  let server: EmbeddedPostgres
  let sut: Pool
  beforeAll(async () => {
    server = await startEmbeddedPostgres({ port: 0 })
    sut = createPool({ connectionString: server.url, max: 16 })
    await sut.query('create table wire_t (id int primary key, a int, b text, c int)')
  }, 60_000)
  afterAll(async () => {
    await sut.end()
    await server.close()
  })

  describe('when many clients run parameterised statements with different shapes at once', () => {
    it('never mixes one client’s parameters with another’s statement', async () => {
      // Large parameters split Bind across TCP chunks: the case pglite-socket's per-message
      // multiplexer got wrong ("bind message supplies 4 parameters, but prepared statement requires 2").
      const big = 'x'.repeat(200_000)
      const N = 400
      const work = Array.from({ length: N }, (_, i) =>
        i % 3 === 0
          ? sut
              .query('insert into wire_t (id, a, b, c) values ($1, $2, $3, $4)', [
                i,
                i * 2,
                `row-${i}`,
                i * 3,
              ])
              .then(() => sut.query('update wire_t set b = $1 || b where id = $2', [big, i]))
              .then(() => sut.query('update wire_t set b = substr(b, $1) where id = $2', [big.length + 1, i]))
          : i % 3 === 1
            ? sut.query('select $1::int + $2::int as s', [i, 1]).then((r) => expect(r.rows[0].s).toBe(i + 1))
            : sut.query('select $1::text as t', [`t${i}`]).then((r) => expect(r.rows[0].t).toBe(`t${i}`)),
      )
      await Promise.all(work)
      const r = await sut.query('select count(*)::int as n, sum(a)::int as a, sum(c)::int as c from wire_t')
      const ids = Array.from({ length: N }, (_, i) => i).filter((i) => i % 3 === 0)
      expect(r.rows[0]).toEqual({
        n: ids.length,
        a: ids.reduce((s, i) => s + i * 2, 0),
        c: ids.reduce((s, i) => s + i * 3, 0),
      })
    }, 60_000)
  })

  describe('when one client holds a transaction', () => {
    it('others wait for it and a rollback undoes only its own writes', async () => {
      const c = await sut.connect()
      await c.query('begin')
      await c.query('update wire_t set b = $1 where id = $2', ['in-tx', 0])
      let otherDone = false
      const other = sut.query('update wire_t set b = $1 where id = $2', ['other', 3]).then(() => {
        otherDone = true
      })
      await new Promise((r) => setTimeout(r, 100))
      expect(otherDone).toBe(false)
      await c.query('rollback')
      c.release()
      await other
      const r = await sut.query('select id, b from wire_t where id in (0, 3) order by id')
      expect(r.rows).toEqual([
        { id: 0, b: 'row-0' },
        { id: 3, b: 'other' },
      ])
    })
  })

  describe('when a client disconnects inside a transaction', () => {
    it('rolls it back and frees the engine for the others', async () => {
      const lone = createPool({ connectionString: server.url, max: 1 })
      const c = await lone.connect()
      await c.query('begin')
      await c.query('update wire_t set b = $1 where id = $2', ['abandoned', 6])
      c.release(true)
      await lone.end()
      const r = await sut.query('select b from wire_t where id = 6')
      expect(r.rows[0].b).toBe('row-6')
    })
  })
})
