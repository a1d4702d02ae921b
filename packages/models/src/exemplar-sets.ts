import type { Pool, PoolClient, Queryable } from '@loopdm/db/pool'
import { prepared, toVector, vectorParam, withTransaction } from '@loopdm/db/pool'

/**
 * The exemplar store (tables `exemplar_sets`, `exemplars`, migration 0010): versioned sets of
 * demonstrations (a customer's turn(s) and the shop's answer) the exemplar learner builds and the
 * gateway retrieves at reply time. A set is built in ONE transaction that ends by marking it
 * `ready`; every read filters on `ready`, so a half-built set is never served. Sets are keyed by
 * the content hash of their data: identical data → the same set.
 */
export interface ExemplarSetRow {
  id: number
  contentHash: string
  status: 'building' | 'ready' | 'failed'
  embeddingModel: string
  examples: number
  tokens: number
  sourceFiles: string[]
  createdAt: Date
  readyAt: Date | null
}

export interface ExemplarInput {
  /** Pseudonymous user key (packages/training-data/src/pseudonym.ts) for the GDPR erase. */
  userKey: string | null
  prompt: string
  answer: string
  /** Real token count of the demonstration pair. */
  tokens: number
  embedding: readonly number[]
}

export interface ExemplarHit {
  id: number
  prompt: string
  answer: string
  tokens: number
  score: number
}

/**
 * A set with more exemplars than this gets its own HNSW index at build (partial, `where set_id =
 * N`, migration 0016); smaller ones are scanned exactly (bench/exemplars.bench.ts: the exact scan
 * costs ~7 µs per exemplar on the embedded Postgres, a set's own HNSW ~1–3 ms at 10k–100k).
 */
export const EXACT_SEARCH_MAX = 200
/**
 * hnsw.ef_search of the lookup in a 10,000-exemplar set's own graph (k = EXEMPLAR_TOP_K); larger
 * sets get ef × ceil(√(size / 10,000)) (migrations 0018 and 0020), so 128 at 100k. bench/exemplars.bench.ts,
 * m=16 / ef_construction=64 graphs: recall@4 vs the exact scan 1.000 at 10k, ~0.985 at 100k.
 */
export const EXEMPLAR_EF_SEARCH = 32
/** HNSW build parameters of a set's index (pgvector's defaults). */
export const SET_INDEX = { m: 16, efConstruction: 64 } as const
const BATCH = 500

const SET_COLS = `id::int8 as id, content_hash as "contentHash", status, embedding_model as "embeddingModel",
  examples, tokens, source_files as "sourceFiles", created_at as "createdAt", ready_at as "readyAt"`

export interface BuildHooks {
  /** Called inside the transaction after each inserted batch (tests pause or fail a build here). */
  afterBatch?: (inserted: number, client: PoolClient) => Promise<void> | void
  /** Build the set's own HNSW index above this many exemplars; default EXACT_SEARCH_MAX. */
  indexAbove?: number
}

/** Name of a set's own HNSW index. */
export const setIndexName = (setId: number) => `exemplars_set_${Math.trunc(setId)}_hnsw`

/**
 * Creates a set's own HNSW index (partial on `set_id`), inside the caller's transaction when given
 * one: the lookup (the set's own lookup function, migration 0020) then walks this set's graph only.
 */
export async function createSetIndex(
  q: Queryable,
  setId: number,
  p: { m: number; efConstruction: number } = SET_INDEX,
): Promise<void> {
  const id = Math.trunc(setId)
  await q.query(
    `create index if not exists ${setIndexName(id)} on exemplars using hnsw (embedding vector_cosine_ops)
       with (m = ${Math.trunc(p.m)}, ef_construction = ${Math.trunc(p.efConstruction)}) where set_id = ${id}`,
  )
}

/** Name of a set's own lookup function (migration 0020). */
export const setLookupName = (setId: number) => `exemplar_set_${Math.trunc(setId)}_neighbours`

/**
 * Makes a set's own lookup function (`create_exemplar_set_lookup`, migration 0020: static SQL with
 * the set id in it, so its plan is kept, and the beam scaled to the set's size), inside the
 * caller's transaction when given one. Call it once the set's `examples` count is final.
 */
export async function createSetLookup(q: Queryable, setId: number): Promise<void> {
  await q.query('select create_exemplar_set_lookup($1)', [Math.trunc(setId)])
}

/** Postgres's undefined_function: a set without its own lookup function (dropped by hand). */
const UNDEFINED_FUNCTION = '42883'

export function createExemplarRepository(db: Pool) {
  return {
    async findByHash(contentHash: string, q: Queryable = db): Promise<ExemplarSetRow | null> {
      const r = await q.query<ExemplarSetRow>(
        `select ${SET_COLS} from exemplar_sets where content_hash = $1`,
        [contentHash],
      )
      return r.rows[0] ?? null
    },

    async findSet(id: number, q: Queryable = db): Promise<ExemplarSetRow | null> {
      const r = await q.query<ExemplarSetRow>(`select ${SET_COLS} from exemplar_sets where id = $1`, [id])
      return r.rows[0] ?? null
    },

    /**
     * Builds a set in one transaction: the set row, every exemplar, then `status = 'ready'`. A
     * failure anywhere rolls it all back (nothing half-built is left behind); a set that already
     * exists for `contentHash` is returned as is (`created: false`).
     */
    async build(
      a: { contentHash: string; embeddingModel: string; sourceFiles: string[]; items: ExemplarInput[] },
      hooks: BuildHooks = {},
    ): Promise<{ set: ExemplarSetRow; created: boolean }> {
      return withTransaction(db, async (c) => {
        const ins = await c.query<{ id: number }>(
          `insert into exemplar_sets (content_hash, embedding_model, source_files)
           values ($1, $2, $3) on conflict (content_hash) do nothing returning id::int8 as id`,
          [a.contentHash, a.embeddingModel, JSON.stringify(a.sourceFiles)],
        )
        const id = ins.rows[0]?.id
        if (id === undefined) {
          const existing = await this.findByHash(a.contentHash, c)
          return { set: existing as ExemplarSetRow, created: false }
        }
        for (let i = 0; i < a.items.length; i += BATCH) {
          const b = a.items.slice(i, i + BATCH)
          await c.query(
            `insert into exemplars (set_id, user_key, prompt, answer, tokens, embedding)
             select $1, u.k, u.p, u.a, u.t, u.e::vector
               from unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::text[]) as u(k, p, a, t, e)`,
            [
              id,
              b.map((x) => x.userKey),
              b.map((x) => x.prompt),
              b.map((x) => x.answer),
              b.map((x) => x.tokens),
              b.map((x) => toVector(x.embedding)),
            ],
          )
          await hooks.afterBatch?.(i + b.length, c)
        }
        // Built once over the whole set (far faster than growing a graph row by row), in the same
        // transaction: the set and its index become visible together.
        if (a.items.length > (hooks.indexAbove ?? EXACT_SEARCH_MAX)) await createSetIndex(c, id)
        const r = await c.query<ExemplarSetRow>(
          `update exemplar_sets set status = 'ready', ready_at = now(), examples = $2, tokens = $3
            where id = $1 returning ${SET_COLS}`,
          [id, a.items.length, a.items.reduce((n, x) => n + x.tokens, 0)],
        )
        // Its lookup function commits with the ready status: no session can call it earlier.
        await createSetLookup(c, id)
        return { set: r.rows[0] as ExemplarSetRow, created: true }
      })
    },

    /**
     * The top `k` exemplars of a READY set nearest to `vector` with cosine ≥ `minScore`, in one
     * round trip and one statement: the set's own lookup function (migration 0020, made when the
     * set became ready; its plan is kept) walks the set's own HNSW index when it has one (sets
     * above EXACT_SEARCH_MAX), scans a small set exactly, and returns the hits with their text and
     * exact distance. A set without that function (dropped by hand) is answered by
     * `exemplar_neighbours` (migration 0018, planned per call), which returns nothing for a set
     * that is not ready. The query vector goes over the wire in binary. Rows a GDPR erase deleted
     * are never returned (the index scan's heap fetch checks visibility), so the reply after an
     * erase cannot use them.
     */
    async search(a: {
      setId: number
      vector: readonly number[]
      k: number
      minScore: number
      /** hnsw.ef_search; default EXEMPLAR_EF_SEARCH. */
      efSearch?: number
    }): Promise<ExemplarHit[]> {
      if (!Number.isSafeInteger(a.setId) || a.setId <= 0)
        throw new Error(`exemplar set id must be a positive integer, got ${a.setId}`)
      const params = [vectorParam(a.vector), 1 - a.minScore, a.k, a.efSearch ?? EXEMPLAR_EF_SEARCH]
      const cols = 'id::int8 as id, prompt, answer, tokens, distance'
      try {
        // Named: per connection, the statement is parsed and planned once per set.
        const r = await db.query<ExemplarHit & { distance: number }>(
          prepared(
            `select ${cols} from ${setLookupName(a.setId)}($1::vector, $3, $4) where distance <= $2 order by distance, id`,
            params,
          ),
        )
        return r.rows.map(withScore)
      } catch (err) {
        if ((err as { code?: string }).code !== UNDEFINED_FUNCTION) throw err
      }
      const r = await db.query<ExemplarHit & { distance: number }>(
        `select ${cols} from exemplar_neighbours(${a.setId}, $1::vector, $3, $4) where distance <= $2 order by distance, id`,
        params,
      )
      return r.rows.map(withScore)
    },

    /**
     * GDPR erase: deletes the user's exemplars from EVERY set (the active one included) in one
     * statement, and keeps each set's `examples` count true. Returns how many were deleted.
     */
    async eraseUser(userKey: string, q: Queryable = db): Promise<number> {
      const r = await q.query<{ n: number }>(
        `with gone as (delete from exemplars where user_key = $1 returning set_id),
              counts as (select set_id, count(*)::int as n from gone group by set_id),
              upd as (update exemplar_sets s set examples = greatest(0, s.examples - c.n)
                        from counts c where s.id = c.set_id returning 1)
         select coalesce(sum(n), 0)::int as n from counts`,
        [userKey],
      )
      return Number(r.rows[0]?.n ?? 0)
    },
  }
}

function withScore<T extends { distance: number }>(r: T): Omit<T, 'distance'> & { score: number } {
  const { distance, ...rest } = r
  return { ...rest, id: Number((rest as { id?: unknown }).id), score: 1 - Number(distance) }
}

export type ExemplarRepository = ReturnType<typeof createExemplarRepository>
