import type { Pool, Queryable } from '@loopdm/db/pool'

/**
 * Production quality signals in `message_signals` (migration 0004, widened by 0009): reactions,
 * and `takeover` — a human replied within 30 min after a bot reply (`mid` = that reply's Graph id).
 */
export interface SignalInput {
  igUserId: string
  mid: string
  action: 'react' | 'unreact' | 'takeover'
  reaction?: string | undefined
  emoji?: string | undefined
  model: string | null
  /** Meta's timestamp (ms); with mid/user/action it makes a re-delivered event a no-op. */
  eventTs: number
}

export function createSignalsRepository(db: Pool) {
  return {
    /** Returns false when the same event was stored before. */
    async insert(s: SignalInput, q: Queryable = db): Promise<boolean> {
      const r = await q.query(
        `insert into message_signals (ig_user_id, mid, reaction, emoji, action, model, event_ts)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (mid, ig_user_id, action, event_ts) do nothing`,
        [s.igUserId, s.mid, s.reaction ?? null, s.emoji ?? null, s.action, s.model, s.eventTs],
      )
      return (r.rowCount ?? 0) > 0
    },
  }
}

export type SignalsRepository = ReturnType<typeof createSignalsRepository>
