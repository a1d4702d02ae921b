import type { Queryable } from '@loopdm/db/pool'

/** A (created_at, id) keyset position. `createdAt` is Postgres's own text (microseconds kept). */
export interface Position {
  createdAt: string
  id: number
}

export interface MessageRow {
  id: number
  igUserId: string
  role: string
  content: string
  hasImage: boolean
  /** Exact timestamptz text: a JS Date would drop the microseconds and break the keyset. */
  createdAt: string
  /** Assistant turns: `bot` | `human` | `import` (null = bot, rows from before migration 0009). */
  author: string | null
  /** Bot turns: the router's reason (`circuit-open`, `fallback`, …). */
  routeReason: string | null
  /** The customer unsent it. */
  deleted: boolean
  igMessageId: string | null
}

const COLUMNS = `id, ig_user_id as "igUserId", role, content, has_image as "hasImage", created_at::text as "createdAt", author, route_reason as "routeReason", deleted_at is not null as deleted, ig_message_id as "igMessageId"`

/**
 * The exporter's reads of `conversation_messages`: keyset pages in (created_at, id) order, each a
 * short statement on its own (no open transaction: on the embedded Postgres one would block every
 * other connection), plus retention's batched deletes.
 */
export function createMessagesRepository(db: Queryable) {
  return {
    /**
     * A run's snapshot bound: the highest id such that every smaller id is committed (or rolled
     * back) — never an id another transaction still holds. Ids are drawn at insert, not commit, so
     * a plain `max(id)` can pass a smaller id whose transaction commits later, and the watermark
     * would skip that row for good. `lock … in share mode` waits for every transaction that
     * inserted into the table to end and keeps new inserts (which draw their id under the row
     * lock) out for the one index probe; one simple-protocol statement, an implicit transaction.
     *
     * A queued lock request holds every later insert behind it, so each attempt waits at most
     * `attemptMs` and then steps aside for `pauseMs` (the gateway's inserts go through), retrying
     * until `waitMs`: a long-open insert transaction (an import, a stuck session) delays the
     * export, never the DMs for more than one attempt.
     */
    async maxId(o: { waitMs?: number; attemptMs?: number; pauseMs?: number } = {}): Promise<number> {
      const waitMs = o.waitMs ?? 120_000
      const attemptMs = Math.max(1, Math.round(o.attemptMs ?? 250))
      const deadline = Date.now() + waitMs
      for (;;) {
        try {
          const r = (await db.query(
            `set local lock_timeout = '${attemptMs}ms';
             lock table conversation_messages in share mode;
             select max(id)::bigint as max from conversation_messages`,
          )) as unknown as Array<{ rows: Array<{ max: number | null }> }>
          const last = Array.isArray(r) ? r[r.length - 1] : (r as { rows: Array<{ max: number | null }> })
          return Number(last?.rows[0]?.max ?? 0)
        } catch (err) {
          if ((err as { code?: string }).code !== '55P03') throw err
          if (Date.now() >= deadline)
            throw new Error(
              `export: a transaction has held an insert into conversation_messages open for over ${Math.round(waitMs / 1000)} s; the run waits for it to commit so no row is skipped — end that transaction (pg_stat_activity) and rerun`,
            )
          await new Promise((res) => setTimeout(res, o.pauseMs ?? 250))
        }
      }
    },

    /**
     * Rows after `after` (exclusive) with id ≤ `highId`, optionally within [since, until), in
     * (created_at, id) order.
     */
    async pageAfter(q: {
      after: Position | undefined
      highId?: number | undefined
      since?: string | undefined
      until?: string | undefined
      limit: number
    }): Promise<MessageRow[]> {
      const r = await db.query<MessageRow>(
        `select ${COLUMNS} from conversation_messages
          where ($1::timestamptz is null or (created_at, id) > ($1::timestamptz, $2::bigint))
            and ($3::bigint is null or id <= $3)
            and ($4::timestamptz is null or created_at >= $4)
            and ($5::timestamptz is null or created_at < $5)
          order by created_at, id
          limit $6`,
        [
          q.after?.createdAt ?? null,
          q.after?.id ?? 0,
          q.highId ?? null,
          q.since ?? null,
          q.until ?? null,
          q.limit,
        ],
      )
      return r.rows
    },

    /**
     * Rows at or before the watermark a run must still read: late arrivals (inserted after the
     * previous run, id > prevHighId, but timestamped before its watermark) and the carried-over
     * user turns of `export_pending`. Both sets are found through indexes (primary key; user,
     * created_at), never by scanning history.
     */
    async pagePreWindow(q: {
      watermark: Position
      prevHighId: number
      highId: number
      after: Position | undefined
      limit: number
    }): Promise<MessageRow[]> {
      const r = await db.query<MessageRow>(
        `select ${COLUMNS} from (
            select m.* from conversation_messages m
             where m.id > $3 and m.id <= $4 and (m.created_at, m.id) <= ($1::timestamptz, $2::bigint)
            union all
            select m.* from conversation_messages m
              join export_pending p on p.ig_user_id = m.ig_user_id
             where (m.created_at, m.id) >= (p.from_created_at, p.from_id)
               and (m.created_at, m.id) <= ($1::timestamptz, $2::bigint)
               and m.id <= $3
          ) x
          where ($5::timestamptz is null or (created_at, id) > ($5::timestamptz, $6::bigint))
          order by created_at, id
          limit $7`,
        [
          q.watermark.createdAt,
          q.watermark.id,
          q.prevHighId,
          q.highId,
          q.after?.createdAt ?? null,
          q.after?.id ?? 0,
          q.limit,
        ],
      )
      return r.rows
    },

    async countOlderThan(cutoff: string): Promise<number> {
      const r = await db.query<{ n: number }>(
        'select count(*)::bigint as n from conversation_messages where created_at < $1',
        [cutoff],
      )
      return Number(r.rows[0]?.n ?? 0)
    },

    /** Deletes one batch of rows older than `cutoff`; returns how many went. */
    async deleteOlderThanBatch(cutoff: string, batch: number): Promise<number> {
      const r = await db.query(
        `delete from conversation_messages where id in (
           select id from conversation_messages where created_at < $1 order by created_at, id limit $2)`,
        [cutoff, batch],
      )
      return r.rowCount ?? 0
    },

    /**
     * Refreshes the planner's statistics. The embedded Postgres has no autovacuum: without stats
     * the keyset page is planned as bitmap scan + sort of the whole table (~0.5 s a page at 200k
     * rows) instead of an index range scan (~5 ms).
     */
    async analyze(): Promise<void> {
      await db.query('analyze conversation_messages')
    },

    async vacuumAnalyze(): Promise<void> {
      await db.query('vacuum analyze conversation_messages')
    },
  }
}

export type MessagesRepository = ReturnType<typeof createMessagesRepository>
