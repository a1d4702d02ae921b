import type { Pool, PoolClient, Queryable } from '@loopdm/db/pool'
import { toVector, withTransaction } from '@loopdm/db/pool'

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

/** Below this many exemplars a set is searched exactly; above, through the HNSW index (bench/exemplars.bench.ts: at 2,000 the exact scan is already ~2.5× slower than HNSW). */
export const EXACT_SEARCH_MAX = 1_000
const BATCH = 500

const SET_COLS = `id::int8 as id, content_hash as "contentHash", status, embedding_model as "embeddingModel",
  examples, tokens, source_files as "sourceFiles", created_at as "createdAt", ready_at as "readyAt"`

export interface BuildHooks {
  /** Called inside the transaction after each inserted batch (tests pause or fail a build here). */
  afterBatch?: (inserted: number, client: PoolClient) => Promise<void> | void
}

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
        const r = await c.query<ExemplarSetRow>(
          `update exemplar_sets set status = 'ready', ready_at = now(), examples = $2, tokens = $3
            where id = $1 returning ${SET_COLS}`,
          [id, a.items.length, a.items.reduce((n, x) => n + x.tokens, 0)],
        )
        return { set: r.rows[0] as ExemplarSetRow, created: true }
      })
    },

    /**
     * The top `k` exemplars of a READY set nearest to `vector` with cosine ≥ `minScore`. Small sets
     * are scanned exactly; large ones go through the HNSW index with pgvector's iterative scan (the
     * set filter would otherwise starve a filtered HNSW scan, as memory.repository.ts explains).
     */
    async search(a: {
      setId: number
      vector: readonly number[]
      k: number
      minScore: number
      /** The set's size when known (picks exact vs. indexed); default: exact. */
      setSize?: number
    }): Promise<ExemplarHit[]> {
      const params = [a.setId, toVector(a.vector), 1 - a.minScore, a.k]
      const ready = `exists (select 1 from exemplar_sets s where s.id = $1 and s.status = 'ready')`
      if ((a.setSize ?? 0) <= EXACT_SEARCH_MAX) {
        const r = await db.query<ExemplarHit & { distance: number }>(
          `with cand as materialized (
             select id::int8 as id, prompt, answer, tokens, embedding <=> $2::vector as distance
               from exemplars where set_id = $1 and ${ready})
           select * from cand where distance <= $3 order by distance, id limit $4`,
          params,
        )
        return r.rows.map(withScore)
      }
      return withTransaction(db, async (c) => {
        await c.query(
          `select set_config('hnsw.iterative_scan', 'relaxed_order', true),
                  set_config('hnsw.ef_search', '64', true),
                  set_config('enable_seqscan', 'off', true)`,
        )
        const r = await c.query<ExemplarHit & { distance: number }>(
          `with cand as materialized (
             select id::int8 as id, prompt, answer, tokens, embedding <=> $2::vector as distance
               from exemplars where set_id + 0 = $1 and ${ready}
              order by embedding <=> $2::vector limit $4)
           select * from cand where distance <= $3 order by distance, id`,
          params,
        )
        return r.rows.map(withScore)
      })
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
