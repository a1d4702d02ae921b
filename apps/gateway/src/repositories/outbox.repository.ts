import type { Pool, Queryable } from '@loopdm/db/pool'

/**
 * The reply outbox (migrations 0004, 0013): one row per part of the reply to one customer message.
 * `pending → sending` is a claim (with the user lock's fencing token, timestamped before the POST);
 * `sending` ends `sent`, back to `pending` (nothing was delivered), `failed` (permanent) or, when
 * nobody can tell, `unknown` ("maybe sent"). A DM past its age limit ends `expired`.
 */
export type OutboxStatus = 'pending' | 'sending' | 'sent' | 'failed' | 'logged' | 'unknown' | 'expired'

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
  /** The fencing token of the lock holder that last claimed this part. */
  claimFence: number | null
  /** When the part was claimed for its (last) POST. */
  sendingAt: Date | null
}

const COLS = `id, mid, ig_user_id as "igUserId", ig_account_id as "igAccountId", part, parts, text, status,
  attempts, last_error as "lastError", model, sent_mid as "sentMid", created_at as "createdAt", sent_at as "sentAt",
  claim_fence::float8 as "claimFence", sending_at as "sendingAt"`

/** Sent or logged: this part needs no further delivery. */
export const isDelivered = (r: Pick<OutboxRow, 'status'>) => r.status === 'sent' || r.status === 'logged'

/** Nothing more will be sent for this part: delivered, maybe delivered (`unknown`) or expired. */
export const isSettled = (r: Pick<OutboxRow, 'status'>) =>
  isDelivered(r) || r.status === 'unknown' || r.status === 'expired'

export function createOutboxRepository(db: Pool) {
  return {
    async findByMid(mid: string, q: Queryable = db): Promise<OutboxRow[]> {
      const r = await q.query<OutboxRow>(`select ${COLS} from outbox where mid = $1 order by part`, [mid])
      return r.rows
    },

    /**
     * Records the reply's parts as `pending` — only if this mid has no parts yet: a second
     * completion for the same mid (a lock holder that lost its lease, a retry) is refused and the
     * first one's rows are returned, so a reply is never stitched from two completions. Part 0 is
     * the claim: a concurrent writer waits on its unique key and then inserts nothing.
     */
    async insertParts(
      args: { mid: string; igUserId: string; igAccountId: string; parts: string[]; model: string },
      q: Queryable = db,
    ): Promise<OutboxRow[]> {
      const rest = args.parts.slice(1)
      await q.query(
        `with first as (
           insert into outbox (mid, ig_user_id, ig_account_id, part, parts, text, model)
           values ($1, $2, $3, 0, $4, $5, $6) on conflict (mid, part) do nothing returning id)
         insert into outbox (mid, ig_user_id, ig_account_id, part, parts, text, model)
         select $1, $2, $3, p, $4, t, $6 from unnest($7::int[], $8::text[]) as u(p, t)
          where exists (select 1 from first)`,
        [
          args.mid,
          args.igUserId,
          args.igAccountId,
          args.parts.length,
          args.parts[0] ?? '',
          args.model,
          rest.map((_, i) => i + 1),
          rest,
        ],
      )
      return this.findByMid(args.mid, q)
    },

    /**
     * Claims a `pending` part for one POST (`sending`, timestamped now), unless a later lock holder
     * (larger fence) claimed it before. Returns false when the claim was refused.
     */
    async claim(id: number, fence: number, q: Queryable = db): Promise<boolean> {
      const r = await q.query(
        `update outbox set status = 'sending', claim_fence = $2, sending_at = now(), updated_at = now()
          where id = $1 and status = 'pending' and coalesce(claim_fence, 0) <= $2`,
        [id, fence],
      )
      return (r.rowCount ?? 0) === 1
    },

    /**
     * The POST failed in a way that proves nothing was delivered: back to `pending` for a retry
     * (the attempt and its error are recorded by markAttemptFailed).
     */
    async releaseClaim(id: number, fence: number, q: Queryable = db): Promise<void> {
      await q.query(
        `update outbox set status = 'pending', updated_at = now()
          where id = $1 and status = 'sending' and claim_fence = $2`,
        [id, fence],
      )
    },

    /** A part left `sending` longer than the send timeout: maybe delivered, nobody can tell. */
    async markMaybeSent(id: number, q: Queryable = db): Promise<boolean> {
      const r = await q.query(
        `update outbox set status = 'unknown', updated_at = now() where id = $1 and status = 'sending'`,
        [id],
      )
      return (r.rowCount ?? 0) === 1
    },

    /** A "maybe sent" part goes back to `pending` (DM_RESEND_MAYBE_SENT: at-least-once). */
    async reopenStale(id: number, q: Queryable = db): Promise<void> {
      await q.query(
        `update outbox set status = 'pending', updated_at = now() where id = $1 and status = 'sending'`,
        [id],
      )
    },

    /**
     * The DM is past its age limit: its undelivered parts become `expired`, or — when no reply was
     * written — one empty part 0 row records it (and refuses any later completion). Returns true
     * when something was recorded now.
     */
    async expire(
      args: { mid: string; igUserId: string; igAccountId: string; reason: string },
      q: Queryable = db,
    ): Promise<boolean> {
      const upd = await q.query(
        `update outbox set status = 'expired', last_error = $2, updated_at = now()
          where mid = $1 and status = 'pending'`,
        [args.mid, args.reason.slice(0, 500)],
      )
      const ins = await q.query(
        `insert into outbox (mid, ig_user_id, ig_account_id, part, parts, text, status, last_error)
         values ($1, $2, $3, 0, 1, '', 'expired', $4) on conflict (mid, part) do nothing`,
        [args.mid, args.igUserId, args.igAccountId, args.reason.slice(0, 500)],
      )
      return (upd.rowCount ?? 0) + (ins.rowCount ?? 0) > 0
    },

    /** Delivered; with `fence`, only by the holder whose claim this is. */
    async markDelivered(
      id: number,
      status: 'sent' | 'logged',
      sentMid: string | null,
      q: Queryable = db,
      fence?: number,
    ): Promise<void> {
      await q.query(
        `update outbox set status = $2, sent_mid = $3, attempts = attempts + 1, last_error = null,
                sent_at = now(), updated_at = now()
          where id = $1 and ($4::bigint is null or claim_fence = $4)`,
        [id, status, sentMid, fence ?? null],
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
