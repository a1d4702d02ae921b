import type { Pool, Queryable } from '@loopdm/db/pool'

/** The reply outbox (migration 0004): one row per part of the reply to one customer message. */
export type OutboxStatus = 'pending' | 'sent' | 'failed' | 'logged'

export interface OutboxRow {
  id: number
  mid: string
  igUserId: string
  igAccountId: string | null
  part: number
  parts: number
  text: string
  status: OutboxStatus
  attempts: number
  lastError: string | null
  model: string | null
  sentMid: string | null
  createdAt: Date
  sentAt: Date | null
}

const COLS = `id, mid, ig_user_id as "igUserId", ig_account_id as "igAccountId", part, parts, text, status,
  attempts, last_error as "lastError", model, sent_mid as "sentMid", created_at as "createdAt", sent_at as "sentAt"`

/** Sent or logged: this part needs no further delivery. */
export const isDelivered = (r: Pick<OutboxRow, 'status'>) => r.status === 'sent' || r.status === 'logged'

export function createOutboxRepository(db: Pool) {
  return {
    async findByMid(mid: string, q: Queryable = db): Promise<OutboxRow[]> {
      const r = await q.query<OutboxRow>(`select ${COLS} from outbox where mid = $1 order by part`, [mid])
      return r.rows
    },

    /**
     * Records the reply's parts as `pending` (idempotent on (mid, part): a concurrent or retried
     * writer keeps the first text) and returns the rows as stored.
     */
    async insertParts(
      args: { mid: string; igUserId: string; igAccountId: string; parts: string[]; model: string },
      q: Queryable = db,
    ): Promise<OutboxRow[]> {
      const idx = args.parts.map((_, i) => i)
      // One round trip: a conflicting row is "updated" to itself so `returning` yields it as stored.
      const r = await q.query<OutboxRow>(
        `insert into outbox (mid, ig_user_id, ig_account_id, part, parts, text, model)
         select $1, $2, $3, p, $4, t, $5 from unnest($6::int[], $7::text[]) as u(p, t)
         on conflict (mid, part) do update set mid = outbox.mid
         returning ${COLS}`,
        [args.mid, args.igUserId, args.igAccountId, args.parts.length, args.model, idx, args.parts],
      )
      return r.rows.sort((a, b) => a.part - b.part)
    },

    async markDelivered(
      id: number,
      status: 'sent' | 'logged',
      sentMid: string | null,
      q: Queryable = db,
    ): Promise<void> {
      await q.query(
        `update outbox set status = $2, sent_mid = $3, attempts = attempts + 1, last_error = null,
                sent_at = now(), updated_at = now() where id = $1`,
        [id, status, sentMid],
      )
    },

    /** A failed attempt; `final` marks the part `failed` (no more retries), else it stays pending. */
    async markAttemptFailed(id: number, error: string, final: boolean, q: Queryable = db): Promise<void> {
      await q.query(
        `update outbox set attempts = attempts + 1, last_error = $2,
                status = case when $3 then 'failed' else status end, updated_at = now() where id = $1`,
        [id, error.slice(0, 500), final],
      )
    },

    /** The model that wrote the part Instagram knows as `sentMid` (for reaction signals). */
    async findModelBySentMid(sentMid: string, q: Queryable = db): Promise<string | null> {
      const r = await q.query<{ model: string | null }>(
        'select model from outbox where sent_mid = $1 limit 1',
        [sentMid],
      )
      return r.rows[0]?.model ?? null
    },

    /** True when the gateway sent the part Instagram knows as `sentMid`. */
    async hasSentMid(sentMid: string, q: Queryable = db): Promise<boolean> {
      const r = await q.query('select 1 from outbox where sent_mid = $1 limit 1', [sentMid])
      return r.rows.length > 0
    },

    /**
     * A part to this recipient with exactly this text, written in the last `withinMs` and not yet
     * matched to a Graph message id: the echo of a send whose answer has not been recorded yet
     * (Meta may deliver the echo before the Send API answers). Records `sentMid` on it.
     */
    async claimUnmatchedPart(
      args: { igUserId: string; text: string; sentMid: string; withinMs: number },
      q: Queryable = db,
    ): Promise<boolean> {
      const r = await q.query(
        `update outbox set sent_mid = $3, updated_at = now()
          where id = (select id from outbox
                       where ig_user_id = $1 and text = $2 and sent_mid is null and status in ('pending', 'sent')
                         and created_at > now() - make_interval(secs => $4::double precision / 1000)
                       order by id limit 1)
          returning id`,
        [args.igUserId, args.text, args.sentMid, args.withinMs],
      )
      return r.rows.length > 0
    },

    /** The last part the gateway sent to this recipient (the takeover signal names it). */
    async lastSentTo(
      igUserId: string,
      q: Queryable = db,
    ): Promise<{ sentMid: string; model: string | null; sentAt: Date } | null> {
      const r = await q.query<{ sentMid: string; model: string | null; sentAt: Date }>(
        `select sent_mid as "sentMid", model, sent_at as "sentAt" from outbox
          where ig_user_id = $1 and status = 'sent' and sent_mid is not null
          order by sent_at desc limit 1`,
        [igUserId],
      )
      return r.rows[0] ?? null
    },

    /** Newest parts first, optionally for one recipient (dev script, admin). */
    async recent(args: { igUserId?: string; limit?: number } = {}, q: Queryable = db): Promise<OutboxRow[]> {
      const r = await q.query<OutboxRow>(
        `select ${COLS} from outbox where ($1::text is null or ig_user_id = $1)
          order by id desc limit $2`,
        [args.igUserId ?? null, args.limit ?? 50],
      )
      return r.rows
    },
  }
}

export type OutboxRepository = ReturnType<typeof createOutboxRepository>
