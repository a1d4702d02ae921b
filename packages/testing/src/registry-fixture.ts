import type { Pool } from '@loopdm/db/pool'

/**
 * The registry's active model is a global singleton in the shared test database. Suites that
 * promote take a snapshot first and restore it afterwards, deleting the rows they created.
 */
export async function snapshotRegistry(db: Pool) {
  const active = await db.query<{ model: string }>(`select model from models where status = 'active'`)
  const maxPromotion = await db.query<{ id: number }>(
    'select coalesce(max(id), 0)::int8 as id from model_promotions',
  )
  const before = active.rows[0]?.model ?? null
  const sinceId = Number(maxPromotion.rows[0]?.id ?? 0)
  return {
    /** Clears the active model so a suite starts from "no fine-tuned model active". */
    async clearActive() {
      await db.query(`update models set status = 'inactive' where status = 'active'`)
    },
    async restore(createdModels: string[]) {
      await db.query(`update models set status = 'inactive' where status = 'active'`)
      await db.query('delete from model_promotions where id > $1', [sinceId])
      if (createdModels.length) {
        await db.query('delete from eval_runs where candidate_model = any($1)', [createdModels])
        await db.query('delete from models where model = any($1)', [createdModels])
      }
      if (before) await db.query(`update models set status = 'active' where model = $1`, [before])
    },
  }
}
