import type { Pool, Queryable } from '@loopdm/db/pool'
import { ConflictError, NotFoundError, ValidationError } from '@loopdm/platform/errors'
import { probePolicy } from './probe.js'
import type { PromotionDeps } from './promotion.js'
import { createRegistryRepository, rowToPolicy } from './registry.js'

/**
 * Shadow runs (migration 0017): a candidate also answers a sample of live DMs in the background;
 * its answers are stored beside the sent ones (`shadow_answers`), scored, and never sent.
 */
export interface ShadowRun {
  id: number
  candidateModel: string
  sample: number
  status: 'running' | 'stopped'
  actor: string
  startedAt: Date
  endedAt: Date | null
}

export interface ShadowAnswerInput {
  runId: number
  mid: string
  igUserId: string
  model: string
  content: string
  sentContent: string | null
  scores: Record<string, unknown>
  costUsd: number
}

const COLS = `id::int8 as id, candidate_model as "candidateModel", sample, status, actor,
  started_at as "startedAt", ended_at as "endedAt"`
const norm = (r: ShadowRun): ShadowRun => ({ ...r, id: Number(r.id), sample: Number(r.sample) })

export function createShadowRepository(db: Pool) {
  return {
    async live(q: Queryable = db): Promise<ShadowRun | null> {
      const r = await q.query<ShadowRun>(`select ${COLS} from shadow_runs where status = 'running' limit 1`)
      return r.rows[0] ? norm(r.rows[0]) : null
    },

    async byId(id: number, q: Queryable = db): Promise<ShadowRun | null> {
      const r = await q.query<ShadowRun>(`select ${COLS} from shadow_runs where id = $1`, [id])
      return r.rows[0] ? norm(r.rows[0]) : null
    },

    async stop(id: number, q: Queryable = db): Promise<void> {
      await q.query(`update shadow_runs set status = 'stopped', ended_at = now() where id = $1`, [id])
    },

    /** Idempotent on run + mid (a retried job stores one answer). */
    async insertAnswer(a: ShadowAnswerInput, q: Queryable = db): Promise<boolean> {
      const r = await q.query(
        `insert into shadow_answers (run_id, mid, ig_user_id, model, content, sent_content, scores, cost_usd)
         values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (run_id, mid) do nothing`,
        [a.runId, a.mid, a.igUserId, a.model, a.content, a.sentContent, JSON.stringify(a.scores), a.costUsd],
      )
      return (r.rowCount ?? 0) > 0
    },

    /** What shadow answers cost today (UTC), from the cost ledger (purposes `shadow*`). */
    async spentTodayUsd(q: Queryable = db): Promise<number> {
      const r = await q.query<{ usd: number }>(
        `select coalesce(sum(cost_usd), 0)::float8 as usd from cost_ledger
          where purpose like 'shadow%' and created_at >= date_trunc('day', now() at time zone 'utc') at time zone 'utc'`,
      )
      return Number(r.rows[0]?.usd ?? 0)
    },

    /** Count, mean scores and cost of a run's answers (`GET /admin/shadow`). */
    async summary(runId: number, q: Queryable = db) {
      const r = await q.query<Record<string, number | null>>(
        `select count(*)::int as answers, avg((scores->>'similarity')::float8) as similarity,
                avg(case when (scores->>'piiOk')::boolean then 1 else 0 end)::float8 as "piiOk",
                avg(case when (scores->>'lengthOk')::boolean then 1 else 0 end)::float8 as "lengthOk",
                avg((scores->>'judge')::float8) as judge, coalesce(sum(cost_usd), 0)::float8 as "costUsd"
           from shadow_answers where run_id = $1`,
        [runId],
      )
      return r.rows[0] ?? {}
    },

    async answers(runId: number, limit = 20, q: Queryable = db) {
      const r = await q.query(
        `select mid, model, content, sent_content as "sentContent", scores, cost_usd::float8 as "costUsd",
                created_at as "createdAt"
           from shadow_answers where run_id = $1 order by id desc limit $2`,
        [runId, limit],
      )
      return r.rows
    },
  }
}

export type ShadowRepository = ReturnType<typeof createShadowRepository>

/** Starts a shadow of a candidate (probed first); one shadow at a time (409 otherwise). */
export async function startShadow(
  deps: PromotionDeps & { ref: string | number; sample: number; actor: string },
): Promise<ShadowRun> {
  if (!(deps.sample > 0 && deps.sample <= 1))
    throw new ValidationError(`sample must be a fraction in (0, 1], got ${deps.sample}`)
  const registry = deps.registry ?? createRegistryRepository(deps.db)
  const row = await registry.findByIdOrModel(deps.ref)
  if (!row) throw new NotFoundError(`no candidate ${deps.ref} in the registry`)
  if (row.status === 'retired') throw new ConflictError(`model ${row.model} is retired`)
  const live = await createShadowRepository(deps.db).live()
  if (live) throw new ConflictError(`shadow ${live.id} of ${live.candidateModel} is already running`)
  const policy = rowToPolicy(row)
  await probePolicy(deps, policy.servingModel, policy.endpoint)
  try {
    const r = await deps.db.query<ShadowRun>(
      `insert into shadow_runs (candidate_model, sample, actor) values ($1, $2, $3) returning ${COLS}`,
      [row.model, deps.sample, deps.actor],
    )
    deps.logger?.info({ model: row.model, sample: deps.sample, actor: deps.actor }, 'shadow started')
    return norm(r.rows[0] as ShadowRun)
  } catch (err) {
    if ((err as { code?: string }).code === '23505')
      throw new ConflictError('another shadow is already running')
    throw err
  }
}
