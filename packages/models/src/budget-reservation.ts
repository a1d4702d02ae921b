import { type Pool, type Queryable, withTransaction } from '@loopdm/db/pool'
import { FINE_TUNE_OPERATION, startOfUtcMonth } from './cost-ledger.js'
import { roundUsd } from './prices.js'

/**
 * Budget reservations for fine-tunes (issue 17: two tunes at once both passed the budget check,
 * because the ledger was charged only once the provider job existed). Before anything is uploaded
 * the tuner reserves the estimate: a `fine_tune` row in the cost ledger with ref
 * `reserve:<training file sha256>`, written under a lock after re-reading this month's spend —
 * so of two tunes that fit the budget only together, one is refused. Once the provider job
 * exists the row is rebound to its id (and settled at what the provider billed when it ends); a
 * tune that never got a provider job releases it.
 */
export const reservationRef = (fileSha256: string) => `reserve:${fileSha256}`

/** An arbitrary constant: the advisory lock every reservation takes (one budget per database). */
const BUDGET_LOCK = 4_217_017

export interface Reservation {
  /** False: the estimate would take the month over the budget; nothing was reserved. */
  reserved: boolean
  /** Already reserved for the same data (a retry, or a second trigger): not counted twice. */
  existing: boolean
  /** This month's fine-tuning spend and reservations before this one. */
  monthToDateUsd: number
  budgetUsd: number | null
}

export async function reserveFineTune(
  pool: Pool,
  r: {
    fileSha256: string
    model: string
    trainedTokens: number
    costUsd: number
    /** FT_BUDGET_USD_MONTHLY; null → unlimited (still recorded, so spend is visible). */
    budgetUsd: number | null
    now?: Date
  },
): Promise<Reservation> {
  const ref = reservationRef(r.fileSha256)
  const costUsd = roundUsd(r.costUsd)
  return withTransaction(pool, async (c) => {
    // Reservations queue here; the spend is read after the lock, so it includes the last one.
    await c.query('select pg_advisory_xact_lock($1)', [BUDGET_LOCK])
    const mine = await c.query('select 1 from cost_ledger where operation = $1 and ref = $2', [
      FINE_TUNE_OPERATION,
      ref,
    ])
    const spent = await c.query<{ usd: string }>(
      `select coalesce(sum(cost_usd), 0)::text as usd from cost_ledger
        where operation = $1 and created_at >= $2`,
      [FINE_TUNE_OPERATION, startOfUtcMonth(r.now ?? new Date())],
    )
    const monthToDateUsd = Number(spent.rows[0]?.usd ?? 0)
    const out = { monthToDateUsd, budgetUsd: r.budgetUsd }
    if ((mine.rowCount ?? 0) > 0) return { ...out, reserved: true, existing: true }
    if (r.budgetUsd !== null && roundUsd(monthToDateUsd + costUsd) > r.budgetUsd)
      return { ...out, reserved: false, existing: false }
    await c.query(
      `insert into cost_ledger (operation, model, purpose, trained_tokens, cost_usd, ref)
       values ($1, $2, 'tune', $3, $4, $5)`,
      [FINE_TUNE_OPERATION, r.model, r.trainedTokens, costUsd, ref],
    )
    return { ...out, reserved: true, existing: false }
  })
}

/** The provider job exists: the reservation becomes its ledger row (settled when it ends). */
export async function bindReservation(
  q: Queryable,
  fileSha256: string,
  providerJobId: string,
): Promise<boolean> {
  const r = await q.query(
    `update cost_ledger set ref = $3 where operation = $1 and ref = $2
        and not exists (select 1 from cost_ledger where operation = $1 and ref = $3)`,
    [FINE_TUNE_OPERATION, reservationRef(fileSha256), providerJobId],
  )
  if ((r.rowCount ?? 0) === 0)
    await q.query('delete from cost_ledger where operation = $1 and ref = $2', [
      FINE_TUNE_OPERATION,
      reservationRef(fileSha256),
    ])
  return (r.rowCount ?? 0) > 0
}

/** The tune ended before any provider job existed (refused, failed upload): nothing was billed. */
export async function releaseReservation(q: Queryable, fileSha256: string): Promise<number> {
  const r = await q.query('delete from cost_ledger where operation = $1 and ref = $2', [
    FINE_TUNE_OPERATION,
    reservationRef(fileSha256),
  ])
  return r.rowCount ?? 0
}
