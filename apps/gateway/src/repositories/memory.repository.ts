import { type Pool, prepared, toVector, vectorParam } from '@loopdm/db/pool'
import type { MemoryTurn } from '../services/memory.packing.js'

/**
 * SQL of memory over `conversation_messages` (migration 0001; partial index in 0005). Every query
 * is scoped to one `ig_user_id`: recall never reads another user's turns.
 */

const TURN_COLS = `id, role, content, content_summary as "contentSummary", created_at as "createdAt"`

export interface SearchArgs {
  igUserId: string
  vector: readonly number[]
  k: number
  /** Only turns with cosine similarity ≥ minScore (distance ≤ 1 − minScore). */
  minScore: number
  excludeIds: number[]
}

export interface UnembeddedTurn {
  id: number
  igUserId: string
  role: 'user' | 'assistant'
  content: string
  contentSummary: string | null
}

type TurnRow = MemoryTurn & { distance?: number }

const withScore = (rows: TurnRow[]): MemoryTurn[] =>
  rows.map(({ distance, ...t }) => ({ ...t, score: 1 - Number(distance) }))

export function createMemoryRepository(db: Pool) {
  return {
    /** The live conversation: the user's last `limit` turns, newest first. */
    async recentTurns(igUserId: string, limit: number, excludeIds: number[]): Promise<MemoryTurn[]> {
      if (limit <= 0) return []
      const r = await db.query<MemoryTurn>(
        prepared(
          `select ${TURN_COLS} from conversation_messages
            where ig_user_id = $1 and role in ('user', 'assistant') and not (id = any($2::bigint[]))
            order by created_at desc, id desc limit $3`,
          [igUserId, excludeIds, limit],
        ),
      )
      return r.rows
    },

    /** How many embedded turns the user has, counting no further than `cap` (index-only, migration 0016). */
    async countEmbedded(igUserId: string, cap: number): Promise<number> {
      const r = await db.query<{ n: number }>(
        prepared(
          `select count(*)::int as n from (
             select 1 from conversation_messages
              where ig_user_id = $1 and embedding_bq is not null and role in ('user', 'assistant')
              limit $2) s`,
          [igUserId, cap],
        ),
      )
      return Number(r.rows[0]?.n ?? 0)
    },

    /**
     * Exact top-k over this user's turns: every one of their embedded rows is scored (found through
     * the (ig_user_id, created_at) index). The MATERIALIZED CTE keeps the planner from answering the
     * ORDER BY with the global HNSW index. Exact and fast while the user has few turns.
     */
    async searchExact(a: SearchArgs): Promise<MemoryTurn[]> {
      const r = await db.query<TurnRow>(
        prepared(
          `with cand as materialized (
             select ${TURN_COLS}, embedding <=> $2::vector as distance
               from conversation_messages
              where ig_user_id = $1 and embedding is not null and role in ('user', 'assistant')
                and not (id = any($3::bigint[])))
           select * from cand where distance <= $4 order by distance, id desc limit $5`,
          [a.igUserId, vectorParam(a.vector), a.excludeIds, 1 - a.minScore, a.k],
        ),
      )
      return withScore(r.rows)
    },

    /**
     * Near-exact top-k for mid-sized histories: the user's binary-quantised embeddings (192 bytes
     * each, read index-only from `conversation_messages_user_bq_idx`, migration 0016) ranked by
     * Hamming distance pick `candidates` rows, which are then re-ranked by their real cosine
     * distance. One statement; it reads `candidates` full vectors instead of every one of the
     * user's (6 KB each, TOASTed), so it is several times faster than the exact scan at equal recall.
     * The candidates are fetched by `id = any(array(…))` (primary key): a join would let the planner
     * hash-join against a scan of the whole table (seen with EXPLAIN ANALYZE).
     */
    async searchQuantized(a: SearchArgs & { candidates: number }): Promise<MemoryTurn[]> {
      const r = await db.query<TurnRow>(
        `with c as materialized (
           select id from conversation_messages
            where ig_user_id = $1 and embedding_bq is not null and role in ('user', 'assistant')
              and not (id = any($3::bigint[]))
            order by embedding_bq <~> binary_quantize($2::vector)::bit(1536) limit $6),
         cand as materialized (
           select ${TURN_COLS}, embedding <=> $2::vector as distance
             from conversation_messages where id = any (array(select id from c)))
         select * from cand where distance <= $4 order by distance, id desc limit $5`,
        [a.igUserId, vectorParam(a.vector), a.excludeIds, 1 - a.minScore, a.k, a.candidates],
      )
      return withScore(r.rows)
    },

    /**
     * The user's binary codes for the in-process quantised pass (memory.codes.ts), as one row:
     * `mark` is the embedding sequence's value, read in the same statement, `ids` the turn ids
     * (comma-separated, ascending) and `codes` their 192-byte codes concatenated in the same order
     * (`varbit_send` minus its 4-byte length). `since` null: every code, index-only through
     * `conversation_messages_user_bq_idx`; else only rows given an `embedded_seq` above it
     * (migration 0019's index).
     */
    async codesOf(
      igUserId: string,
      since: number | null,
    ): Promise<{ mark: number; ids: string; codes: Buffer }> {
      const r = await db.query<{ mark: number; ids: string; codes: Buffer }>(
        prepared(
          `select (select case when is_called then last_value else 0 end
                     from conversation_messages_embedded_seq)::int8 as mark,
                  coalesce(string_agg(id::text, ',' order by id), '') as ids,
                  coalesce(string_agg(substr(varbit_send(embedding_bq), 5), ''::bytea order by id), ''::bytea) as codes
             from conversation_messages
            where ig_user_id = $1 and embedding_bq is not null and role in ('user', 'assistant')
                  ${since === null ? '' : 'and embedded_seq > $2'}`,
          since === null ? [igUserId] : [igUserId, since],
        ),
      )
      const row = r.rows[0]
      return { mark: Number(row?.mark ?? 0), ids: row?.ids ?? '', codes: row?.codes ?? Buffer.alloc(0) }
    },

    /**
     * The exact re-rank of candidates the in-process quantised pass picked: their real cosine
     * distance, top-k. Rows deleted since (GDPR erase, retention) are simply not found, and the
     * user filter keeps a stale id from ever reaching another user's turn.
     */
    async rerank(a: SearchArgs & { ids: number[] }): Promise<MemoryTurn[]> {
      const r = await db.query<TurnRow>(
        prepared(
          `with cand as materialized (
             select ${TURN_COLS}, embedding <=> $2::vector as distance
               from conversation_messages
              where id = any($3::bigint[]) and ig_user_id = $1 and embedding is not null)
           select * from cand where distance <= $4 order by distance, id desc limit $5`,
          [a.igUserId, vectorParam(a.vector), a.ids, 1 - a.minScore, a.k],
        ),
      )
      return withScore(r.rows)
    },

    /**
     * Approximate top-k through the HNSW index, for the largest histories. A filtered HNSW scan
     * returns at most ef_search candidates before the `ig_user_id` filter, so for a user holding a
     * small share of all rows it would return too few; pgvector ≥ 0.8's iterative scan keeps
     * walking the graph until `k` rows pass the filter (bounded by hnsw.max_scan_tuples). The
     * settings (iterative scan, ef_search, seq scans off — the planner prices a selective filter +
     * HNSW above a seq scan + sort) live in `memory_hnsw_neighbours` (migration 0016), so this is
     * one round trip and leaves the session's settings alone.
     */
    async searchIndexed(a: SearchArgs & { efSearch: number }): Promise<MemoryTurn[]> {
      const r = await db.query<TurnRow>(
        `with n as materialized (select * from memory_hnsw_neighbours($1, $2::vector, $5, $3::bigint[], $6)),
              cand as materialized (
                select ${TURN_COLS}, embedding <=> $2::vector as distance
                  from conversation_messages where id = any (array(select id from n)))
         select * from cand where distance <= $4 order by distance, id desc`,
        [a.igUserId, vectorParam(a.vector), a.excludeIds, 1 - a.minScore, a.k, a.efSearch],
      )
      return withScore(r.rows)
    },

    /** Turns still without an embedding (oldest first), after `afterId`; empty turns never need one. */
    async findUnembedded(afterId: number, limit: number): Promise<UnembeddedTurn[]> {
      const r = await db.query<UnembeddedTurn>(
        `select id, ig_user_id as "igUserId", role, content, content_summary as "contentSummary"
           from conversation_messages
          where embedding is null and id > $1 and role in ('user', 'assistant') and content <> ''
          order by id limit $2`,
        [afterId, limit],
      )
      return r.rows
    },

    /** Writes embeddings (and summaries) for a batch; rows embedded meanwhile are left alone. */
    async setEmbeddings(
      rows: Array<{ id: number; embedding: readonly number[]; summary: string | null }>,
    ): Promise<number> {
      if (rows.length === 0) return 0
      const r = await db.query(
        `update conversation_messages m
            set embedding = u.e::vector, content_summary = coalesce(m.content_summary, u.s),
                embedded_seq = nextval('conversation_messages_embedded_seq')
           from unnest($1::bigint[], $2::text[], $3::text[]) as u(id, e, s)
          where m.id = u.id and m.embedding is null`,
        [rows.map((x) => x.id), rows.map((x) => toVector(x.embedding)), rows.map((x) => x.summary)],
      )
      return r.rowCount ?? 0
    },

    /** Writes summaries alone (the provider is down, but the extract needs no model). */
    async setSummaries(rows: Array<{ id: number; summary: string }>): Promise<void> {
      if (rows.length === 0) return
      await db.query(
        `update conversation_messages m set content_summary = u.s
           from unnest($1::bigint[], $2::text[]) as u(id, s)
          where m.id = u.id and m.content_summary is null`,
        [rows.map((x) => x.id), rows.map((x) => x.summary)],
      )
    },
  }
}

export type MemoryRepository = ReturnType<typeof createMemoryRepository>
