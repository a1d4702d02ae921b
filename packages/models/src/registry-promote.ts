import type { PoolClient } from '@loopdm/db/pool'
import { ConflictError, NotFoundError, PromotionConflictError } from '@loopdm/platform/errors'
import type { ModelStatus } from './registry.js'

/** What `registry.promote` takes (registry.ts). */
export interface PromoteArgs {
  model: string
  actor: string
  reason: string
  metrics?: Record<string, unknown>
  /**
   * Compare-and-swap: the active model and version this promotion was decided against (null
   * model = nothing active). Another one committed meanwhile → PromotionConflictError.
   */
  expected?: { model: string | null; version: number }
}

/** The promotion's transaction: serialize, check the expected state, flip the active row, append the log. */
export async function promoteIn(
  c: PoolClient,
  args: PromoteArgs,
): Promise<{ version: number; from: string | null; at: Date }> {
  // Promotions queue behind each other here (readers are not blocked): the check below then sees
  // the last committed promotion, so two at the same moment give one success and one conflict.
  await c.query('lock table model_promotions in share row exclusive mode')
  if (args.expected) {
    const cur = await c.query<{ model: string; version: number }>(
      `select m.model, coalesce((select max(id) from model_promotions p where p.to_model = m.model), 0)::int8 as version
         from models m where m.status = 'active'`,
    )
    const now = { model: cur.rows[0]?.model ?? null, version: Number(cur.rows[0]?.version ?? 0) }
    if (now.model !== args.expected.model || now.version !== args.expected.version)
      throw new PromotionConflictError(
        `promotion of ${args.model} expected ${args.expected.model ?? 'nothing'} (version ${args.expected.version}) to be active, but ${now.model ?? 'nothing'} (version ${now.version}) is; nothing was changed`,
        now,
      )
  }
  const target = await c.query<{ status: ModelStatus }>(
    'select status from models where model = $1 for update',
    [args.model],
  )
  const row = target.rows[0]
  if (!row) throw new NotFoundError(`model ${args.model} is not in the registry`)
  if (row.status === 'retired')
    throw new ConflictError(`model ${args.model} is retired and cannot be promoted`)
  const prev = await c.query<{ model: string }>(
    `update models set status = 'inactive', updated_at = now() where status = 'active' returning model`,
  )
  const from = prev.rows[0]?.model ?? null
  await c.query(`update models set status = 'active', updated_at = now() where model = $1`, [args.model])
  const p = await c.query<{ id: number; created_at: Date }>(
    `insert into model_promotions (from_model, to_model, actor, reason, metrics)
       values ($1, $2, $3, $4, $5) returning id, created_at`,
    [from, args.model, args.actor, args.reason, args.metrics ? JSON.stringify(args.metrics) : null],
  )
  const ins = p.rows[0] as { id: number; created_at: Date }
  return { version: Number(ins.id), from, at: ins.created_at }
}
