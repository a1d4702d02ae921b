import type { Pool, PoolClient, Queryable } from '@loopdm/db/pool'
import { withTransaction } from '@loopdm/db/pool'
import { ConflictError, NotFoundError } from '@loopdm/platform/errors'
import {
  type Learner,
  learnerOf,
  type Policy,
  type PolicyEndpoint,
  PolicyEndpointSchema,
  type PolicyRef,
  type TrainedOn,
} from './policy.js'

/**
 * The model registry repository (tables `models`, `model_promotions`). The registry, not the
 * environment, decides which model answers: `version` is the id of the latest promotion row, so
 * it increases monotonically and gateways can ignore older hot-swap messages.
 */
export type ModelStatus = 'candidate' | 'approved_pending' | 'rejected' | 'active' | 'inactive' | 'retired'
export type ModelKind = 'base' | 'fine_tuned' | 'vision' | 'exemplars'

/** The row columns, optionally qualified by a table alias (`m.`) for joins. */
const cols = (a = '') =>
  `${a}id, ${a}model, ${a}kind, ${a}base_model as "baseModel", ${a}status, ${a}finetune_job_id as "finetuneJobId",
  ${a}training_file as "trainingFile", ${a}metrics, ${a}reason, ${a}created_at as "createdAt",
  ${a}updated_at as "updatedAt", ${a}retired_at as "retiredAt", ${a}learner, ${a}serving_model as "servingModel",
  ${a}endpoint, ${a}exemplar_set_id::int8 as "exemplarSetId", ${a}system_prompt as "systemPrompt",
  ${a}trained_on as "trainedOn"`
const MODEL_COLS = cols()

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
  /** Policy fields (migration 0010). */
  learner: Learner
  servingModel: string | null
  endpoint: PolicyEndpoint | null
  exemplarSetId: number | null
  systemPrompt: string | null
  trainedOn: TrainedOn | null
}

export interface ActiveModel {
  /** The active policy's registry key (legacy name: the model id for base and fine-tune policies). */
  model: string
  version: number
  since: Date
  /** The active policy (absent only on objects built from a legacy hot-swap message). */
  policy?: PolicyRef | undefined
  /** Set on the model a canary routes one reply to (issue 19): the arm and the run. */
  canary?: { runId: number; arm: 'canary' | 'control' } | undefined
}

/** A registry row as a policy (`version` = the promotion that activated it, 0 if none). */
export function rowToPolicy(row: ModelRow, version = 0): Policy {
  const endpoint = row.endpoint ? PolicyEndpointSchema.safeParse(row.endpoint) : null
  return {
    id: Number(row.id),
    version,
    learner: row.learner ?? learnerOf(row.model),
    servingModel: row.servingModel ?? row.model,
    endpoint: endpoint?.success ? endpoint.data : null,
    exemplarSetId: row.exemplarSetId === null ? null : Number(row.exemplarSetId),
    systemPrompt: row.systemPrompt,
    trainedOn: row.trainedOn,
    status: row.status,
    model: row.model,
  }
}

export interface CandidatePolicyInput {
  learner: Exclude<Learner, 'base'>
  /** Registry key; default `servingModel` (fine-tune). Exemplar policies use exemplarPolicyKey. */
  key?: string
  servingModel: string
  endpoint?: PolicyEndpoint | null
  exemplarSetId?: number | null
  systemPrompt?: string | null
  trainedOn?: TrainedOn | null
  baseModel?: string | null
  finetuneJobId?: string | null
  trainingFile?: string | null
  reason?: string | null
}

/**
 * Registers a candidate policy (idempotent on its key: an existing row keeps its status, so a
 * re-run with identical data neither duplicates nor demotes it). Returns the row as a policy.
 */
export async function registerCandidatePolicy(q: Queryable, p: CandidatePolicyInput): Promise<Policy> {
  const key = p.key ?? p.servingModel
  const r = await q.query<ModelRow>(
    `insert into models (model, kind, base_model, status, finetune_job_id, training_file, reason,
                         learner, serving_model, endpoint, exemplar_set_id, system_prompt, trained_on)
     values ($1, $2, $3, 'candidate', $4, $5, $6, $7, $8, $9, $10, $11, $12)
     on conflict (model) do update set updated_at = now()
     returning ${MODEL_COLS}`,
    [
      key,
      p.learner === 'exemplars' ? 'exemplars' : 'fine_tuned',
      p.baseModel ?? null,
      p.finetuneJobId ?? null,
      p.trainingFile ?? null,
      p.reason ?? null,
      p.learner,
      p.servingModel,
      p.endpoint ? JSON.stringify(p.endpoint) : null,
      p.exemplarSetId ?? null,
      p.systemPrompt ?? null,
      p.trainedOn ? JSON.stringify(p.trainedOn) : null,
    ],
  )
  return rowToPolicy(r.rows[0] as ModelRow)
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

export function createRegistryRepository(db: Pool) {
  return {
    /** The active model and the version of the promotion that made it active, or null. */
    async findActive(q: Queryable = db): Promise<ActiveModel | null> {
      const r = await q.query<ModelRow & { version: number; since: Date }>(
        `select ${cols('m.')},
                coalesce(p.id, 0)::int8 as version, coalesce(p.created_at, m.updated_at) as since
           from models m
           left join lateral (select id, created_at from model_promotions where to_model = m.model
                              order by id desc limit 1) p on true
          where m.status = 'active'`,
      )
      const row = r.rows[0]
      if (!row) return null
      const version = Number(row.version)
      return { model: row.model, version, since: row.since, policy: rowToPolicy(row, version) }
    },

    /** The active policy, or null (nothing promoted: the base model answers). */
    async findActivePolicy(q: Queryable = db): Promise<Policy | null> {
      const a = await this.findActive(q)
      const row = a ? await this.findByIdOrModel(a.model, q) : null
      return a && row ? rowToPolicy(row, a.version) : null
    },

    registerCandidatePolicy(p: CandidatePolicyInput, q: Queryable = db): Promise<Policy> {
      return registerCandidatePolicy(q, p)
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
        `insert into models (model, kind, base_model, status, finetune_job_id, training_file, reason,
                             learner, serving_model)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $1)
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
          m.kind === 'base' || m.kind === 'vision'
            ? 'base'
            : learnerOf(m.model) === 'base'
              ? 'fine-tune'
              : learnerOf(m.model),
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
