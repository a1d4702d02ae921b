import type { Pool, PoolClient, Queryable } from '@loopdm/db/pool'
import { withTransaction } from '@loopdm/db/pool'
import { ConflictError, NotFoundError } from '@loopdm/platform/errors'

/**
 * The model registry repository (tables `models`, `model_promotions`). The registry, not the
 * environment, decides which model answers: `version` is the id of the latest promotion row, so
 * it increases monotonically and gateways can ignore older hot-swap messages.
 */
export type ModelStatus = 'candidate' | 'approved_pending' | 'rejected' | 'active' | 'inactive' | 'retired'
export type ModelKind = 'base' | 'fine_tuned' | 'vision'

export interface ModelRow {
  id: number
  model: string
  kind: ModelKind
  baseModel: string | null
  status: ModelStatus
  finetuneJobId: string | null
  trainingFile: string | null
  metrics: Record<string, unknown> | null
  reason: string | null
  createdAt: Date
  updatedAt: Date
  retiredAt: Date | null
}

export interface ActiveModel {
  model: string
  version: number
  since: Date
}

export interface PromotionRow {
  id: number
  fromModel: string | null
  toModel: string
  actor: string
  reason: string
  metrics: Record<string, unknown> | null
  createdAt: Date
}

const MODEL_COLS = `id, model, kind, base_model as "baseModel", status, finetune_job_id as "finetuneJobId",
  training_file as "trainingFile", metrics, reason, created_at as "createdAt", updated_at as "updatedAt",
  retired_at as "retiredAt"`

export function createRegistryRepository(db: Pool) {
  return {
    /** The active model and the version of the promotion that made it active, or null. */
    async findActive(q: Queryable = db): Promise<ActiveModel | null> {
      const r = await q.query<ActiveModel>(
        `select m.model, coalesce(p.id, 0)::int8 as version, coalesce(p.created_at, m.updated_at) as since
           from models m
           left join lateral (select id, created_at from model_promotions where to_model = m.model
                              order by id desc limit 1) p on true
          where m.status = 'active'`,
      )
      return r.rows[0] ?? null
    },

    async findByIdOrModel(ref: string | number, q: Queryable = db): Promise<ModelRow | null> {
      const isId = typeof ref === 'number' || /^\d+$/.test(ref)
      const r = await q.query<ModelRow>(
        `select ${MODEL_COLS} from models where ${isId ? 'id = $1::int8' : 'model = $1'}`,
        [String(ref)],
      )
      return r.rows[0] ?? null
    },

    async list(q: Queryable = db): Promise<ModelRow[]> {
      const r = await q.query<ModelRow>(`select ${MODEL_COLS} from models order by id`)
      return r.rows
    },

    async listByStatus(statuses: ModelStatus[], q: Queryable = db): Promise<ModelRow[]> {
      const r = await q.query<ModelRow>(
        `select ${MODEL_COLS} from models where status = any($1) order by id`,
        [statuses],
      )
      return r.rows
    },

    /** Registers a model (idempotent on `model`); an existing row keeps its status. */
    async upsertModel(
      m: {
        model: string
        kind?: ModelKind
        baseModel?: string | null
        status?: ModelStatus
        finetuneJobId?: string | null
        trainingFile?: string | null
        reason?: string | null
      },
      q: Queryable = db,
    ): Promise<ModelRow> {
      const r = await q.query<ModelRow>(
        `insert into models (model, kind, base_model, status, finetune_job_id, training_file, reason)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (model) do update set
           base_model = coalesce(models.base_model, excluded.base_model),
           finetune_job_id = coalesce(models.finetune_job_id, excluded.finetune_job_id),
           training_file = coalesce(models.training_file, excluded.training_file),
           updated_at = now()
         returning ${MODEL_COLS}`,
        [
          m.model,
          m.kind ?? 'fine_tuned',
          m.baseModel ?? null,
          m.status ?? 'candidate',
          m.finetuneJobId ?? null,
          m.trainingFile ?? null,
          m.reason ?? null,
        ],
      )
      return r.rows[0] as ModelRow
    },

    async setStatus(
      model: string,
      status: ModelStatus,
      extra: { reason?: string; metrics?: Record<string, unknown> } = {},
      q: Queryable = db,
    ): Promise<void> {
      const r = await q.query(
        `update models set status = $2, reason = coalesce($3, reason), metrics = coalesce($4, metrics),
                updated_at = now(), retired_at = case when $2 = 'retired' then now() else retired_at end
          where model = $1`,
        [model, status, extra.reason ?? null, extra.metrics ? JSON.stringify(extra.metrics) : null],
      )
      if (r.rowCount === 0) throw new NotFoundError(`model ${model} is not in the registry`)
    },

    /**
     * Makes `model` the active one: in one transaction the old active row becomes `inactive`, the
     * new one `active`, and a promotion row is appended. Returns the new version. The caller
     * publishes the hot-swap message after this commits.
     */
    async promote(args: {
      model: string
      actor: string
      reason: string
      metrics?: Record<string, unknown>
    }): Promise<{ version: number; from: string | null; at: Date }> {
      return withTransaction(db, async (c: PoolClient) => {
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
        await c.query(`update models set status = 'active', updated_at = now() where model = $1`, [
          args.model,
        ])
        const p = await c.query<{ id: number; created_at: Date }>(
          `insert into model_promotions (from_model, to_model, actor, reason, metrics)
           values ($1, $2, $3, $4, $5) returning id, created_at`,
          [from, args.model, args.actor, args.reason, args.metrics ? JSON.stringify(args.metrics) : null],
        )
        const ins = p.rows[0] as { id: number; created_at: Date }
        return { version: Number(ins.id), from, at: ins.created_at }
      })
    },

    async promotions(limit = 50, q: Queryable = db): Promise<PromotionRow[]> {
      const r = await q.query<PromotionRow>(
        `select id, from_model as "fromModel", to_model as "toModel", actor, reason, metrics, created_at as "createdAt"
           from model_promotions order by id desc limit $1`,
        [limit],
      )
      return r.rows
    },

    /** The model active before the current one (the rollback target), if it still exists unretired. */
    async findPrevious(q: Queryable = db): Promise<string | null> {
      const r = await q.query<{ from_model: string | null }>(
        `select p.from_model from model_promotions p
           join models m on m.model = p.from_model and m.status <> 'retired'
          where p.to_model = (select model from models where status = 'active')
          order by p.id desc limit 1`,
      )
      return r.rows[0]?.from_model ?? null
    },
  }
}

export type RegistryRepository = ReturnType<typeof createRegistryRepository>
