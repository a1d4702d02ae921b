import type { Pool } from '@loopdm/db/pool'
import { packDemonstrations } from '@loopdm/models/exemplar-prompt'
import {
  createExemplarRepository,
  type ExemplarInput,
  setIndexName,
  setLookupName,
} from '@loopdm/models/exemplar-sets'
import { testPool, uniqueId } from '@loopdm/testing/fixtures'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/** A unit vector along axis `i` (plus a little of axis 0), 1536 dimensions like the column. */
const axis = (i: number, mix = 0): number[] => {
  const v = new Array<number>(1536).fill(0)
  v[i] = 1
  v[0] = mix
  return v
}
const items = (n: number, tag: string): ExemplarInput[] =>
  Array.from({ length: n }, (_, i) => ({
    userKey: `${tag}-user-${i % 3}`,
    prompt: `${tag} question ${i}`,
    answer: `${tag} answer ${i}`,
    tokens: 12,
    embedding: axis(1 + (i % 1500)),
  }))

describe('exemplar store', () => {
  let db: Pool
  let sut: ReturnType<typeof createExemplarRepository>
  const hashes: string[] = []
  const hash = () => {
    const h = uniqueId('hash')
    hashes.push(h)
    return h
  }

  beforeAll(async () => {
    db = await testPool()
    sut = createExemplarRepository(db)
  })
  afterAll(async () => {
    const sets = await db.query<{ id: number }>(
      'select id::int8 as id from exemplar_sets where content_hash = any($1)',
      [hashes],
    )
    for (const s of sets.rows) {
      await db.query(`drop index if exists ${setIndexName(Number(s.id))}`)
      await db.query(`drop function if exists ${setLookupName(Number(s.id))}`)
    }
    await db.query('delete from exemplar_sets where content_hash = any($1)', [hashes])
    await db.end()
  })

  describe('when a build is still running', () => {
    it('is never seen half built: readers during the build see no set or the whole ready set', async () => {
      const h = hash()
      // Pre-connected readers: their queries go out while the build is paused mid-way. (Postgres
      // answers them from its snapshot — nothing; the embedded PGlite serialises transactions, so
      // they run after the commit — everything. A build that committed batch by batch would show 500.)
      const readers = await Promise.all([db.connect(), db.connect()])
      let release!: () => void
      const paused = new Promise<void>((r) => {
        release = r
      })
      let setId = 0
      let reachedPause!: () => void
      const atPause = new Promise<void>((r) => {
        reachedPause = r
      })
      try {
        const build = sut.build(
          {
            contentHash: h,
            embeddingModel: 'text-embedding-3-small',
            sourceFiles: [],
            items: items(1200, h),
          },
          {
            afterBatch: async (inserted, client) => {
              if (inserted !== 500) return
              const r = await client.query<{ id: number }>(
                'select id::int8 as id from exemplar_sets where content_hash = $1',
                [h],
              )
              setId = Number(r.rows[0]?.id)
              reachedPause()
              await paused
            },
          },
        )
        await atPause
        expect(setId).toBeGreaterThan(0)
        const visible = (readers[0] as (typeof readers)[number]).query<{ n: number }>(
          `select count(*)::int as n from exemplars e join exemplar_sets s on s.id = e.set_id
            where s.content_hash = $1 and s.status = 'ready'`,
          [h],
        )
        const rows = (readers[1] as (typeof readers)[number]).query<{ n: number }>(
          'select count(*)::int as n from exemplars where set_id = $1',
          [setId],
        )
        setImmediate(release)
        const { set, created } = await build
        expect(created).toBe(true)
        expect(set).toMatchObject({ status: 'ready', examples: 1200, tokens: 1200 * 12 })
        expect([0, 1200]).toContain((await visible).rows[0]?.n)
        expect([0, 1200]).toContain((await rows).rows[0]?.n)
        const after = await sut.search({ setId: set.id, vector: axis(1), k: 4, minScore: 0.5 })
        expect(after[0]).toMatchObject({ prompt: `${h} question 0`, answer: `${h} answer 0` })
      } finally {
        release()
        for (const r of readers) r.release()
      }
    })
  })

  describe('when a build fails half way', () => {
    it('leaves no set and no exemplar behind', async () => {
      const h = hash()
      await expect(
        sut.build(
          { contentHash: h, embeddingModel: 'text-embedding-3-small', sourceFiles: [], items: items(900, h) },
          {
            afterBatch: (inserted) => {
              if (inserted === 500) throw new Error('embedding provider went away')
            },
          },
        ),
      ).rejects.toThrow(/went away/)
      expect(await sut.findByHash(h)).toBeNull()
      const left = await db.query<{ n: number }>(
        'select count(*)::int as n from exemplars where prompt like $1',
        [`${h} %`],
      )
      expect(left.rows[0]?.n).toBe(0)
    })
  })

  describe('when the same data is built twice', () => {
    it('returns the set built the first time (content hash) and inserts nothing', async () => {
      const h = hash()
      const data = {
        contentHash: h,
        embeddingModel: 'text-embedding-3-small',
        sourceFiles: ['f'],
        items: items(5, h),
      }
      const first = await sut.build(data)
      const second = await sut.build(data)
      expect(first.created).toBe(true)
      expect(second.created).toBe(false)
      expect(second.set.id).toBe(first.set.id)
      const n = await db.query<{ n: number }>('select count(*)::int as n from exemplars where set_id = $1', [
        first.set.id,
      ])
      expect(n.rows[0]?.n).toBe(5)
    })
  })

  describe('search', () => {
    it('returns the top k by cosine above the minimum score, exactly and through the index alike', async () => {
      const h = hash()
      const data = { embeddingModel: 'text-embedding-3-small', sourceFiles: [], items: items(20, h) }
      const small = await sut.build({ ...data, contentHash: h })
      // The same exemplars in a set that gets its own HNSW index (as sets above EXACT_SEARCH_MAX do).
      hashes.push(`${h}-indexed`)
      const big = await sut.build({ ...data, contentHash: `${h}-indexed` }, { indexAbove: 0 })
      const indexes = await db.query<{ indexname: string }>(
        'select indexname from pg_indexes where tablename = $1 and indexname = any($2)',
        ['exemplars', [setIndexName(small.set.id), setIndexName(big.set.id)]],
      )
      expect(indexes.rows.map((r) => r.indexname)).toEqual([setIndexName(big.set.id)])
      const q = axis(3, 0.2)
      const exact = await sut.search({ setId: small.set.id, vector: q, k: 4, minScore: 0.5 })
      const indexed = await sut.search({ setId: big.set.id, vector: q, k: 4, minScore: 0.5 })
      expect(exact.map((x) => x.prompt)).toEqual([`${h} question 2`])
      expect(indexed.map((x) => x.prompt)).toEqual([`${h} question 2`])
      expect(exact[0]?.score).toBeCloseTo(1 / Math.sqrt(1.04), 5)
      expect(indexed[0]?.score).toBeCloseTo(1 / Math.sqrt(1.04), 5)
      // Another set's rows are never returned, and a set that is not ready returns nothing.
      await db.query(`update exemplar_sets set status = 'building' where id = $1`, [big.set.id])
      expect(await sut.search({ setId: big.set.id, vector: q, k: 4, minScore: -1 })).toEqual([])
      const all = await sut.search({ setId: small.set.id, vector: q, k: 50, minScore: -1 })
      expect(all).toHaveLength(20)
    })

    it("answers through the set's own lookup function, and the same without it (a set built before migration 0020)", async () => {
      const h = hash()
      const data = { embeddingModel: 'text-embedding-3-small', sourceFiles: [], items: items(40, h) }
      const { set } = await sut.build({ ...data, contentHash: h }, { indexAbove: 0 })
      const fn = await db.query('select 1 from pg_proc where proname = $1', [setLookupName(set.id)])
      expect(fn.rowCount).toBe(1)
      const q = axis(5, 0.3)
      const own = await sut.search({ setId: set.id, vector: q, k: 4, minScore: -1 })
      expect(own[0]?.prompt).toBe(`${h} question 4`)
      expect(own).toHaveLength(4)

      await db.query(`drop function ${setLookupName(set.id)}`)
      expect(await sut.search({ setId: set.id, vector: q, k: 4, minScore: -1 })).toEqual(own)
      // What migration 0020 runs for every ready set; a set that does not exist is named.
      await db.query('select create_exemplar_set_lookup($1)', [set.id])
      expect(await sut.search({ setId: set.id, vector: q, k: 4, minScore: -1 })).toEqual(own)
      await expect(db.query('select create_exemplar_set_lookup($1)', [2 ** 40])).rejects.toThrow(
        `exemplar set ${2 ** 40} does not exist`,
      )
      await expect(sut.search({ setId: 1.5, vector: q, k: 4, minScore: -1 })).rejects.toThrow(
        'exemplar set id must be a positive integer, got 1.5',
      )
    })

    it("never returns an erased customer's exemplars from a set's own index, from the very next lookup", async () => {
      const h = hash()
      const data = { embeddingModel: 'text-embedding-3-small', sourceFiles: [], items: items(30, h) }
      const { set } = await sut.build({ ...data, contentHash: h }, { indexAbove: 0 })
      const q = axis(3, 0.2)
      const before = await sut.search({ setId: set.id, vector: q, k: 4, minScore: -1 })
      expect(before[0]?.prompt).toBe(`${h} question 2`)
      // Scored exactly, best first.
      expect(before.map((x) => x.score)).toEqual([...before.map((x) => x.score)].sort((a, b) => b - a))

      expect(await sut.eraseUser(`${h}-user-2`)).toBe(10)
      const after = await sut.search({ setId: set.id, vector: q, k: 4, minScore: -1 })
      expect(after).toHaveLength(4)
      expect(after.map((x) => x.prompt)).not.toContain(`${h} question 2`)
      const left = new Set(after.map((x) => Number(x.prompt.split(' ').at(-1)) % 3))
      expect(left.has(2)).toBe(false)
    })
  })

  describe('packDemonstrations', () => {
    it('keeps the best hits within the token budget and puts the most similar last', () => {
      const hit = (id: number, tokens: number, score: number) => ({
        id,
        prompt: `q${id}`,
        answer: `a${id}`,
        tokens,
        score,
      })
      const r = packDemonstrations([hit(1, 30, 0.9), hit(2, 500, 0.8), hit(3, 30, 0.7)], 120)
      expect(r.ids).toEqual([3, 1])
      expect(r.messages.map((m) => m.role)).toEqual([
        'system',
        'user',
        'assistant',
        'user',
        'assistant',
        'system',
      ])
      expect(r.messages[3]).toEqual({ role: 'user', content: 'q1' })
      expect(r.tokens).toBeLessThanOrEqual(120)
      expect(packDemonstrations([hit(2, 500, 0.8)], 120).messages).toEqual([])
    })
  })
})
