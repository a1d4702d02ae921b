import type { Pool, Queryable } from '@loopdm/db/pool'
import { ConflictError, NotFoundError, ValidationError } from '@loopdm/platform/errors'
import type { CanaryArm } from './canary-decision.js'
import { type CanarySplit, encodeCanaryMessage } from './hotswap.js'
import { policyRef } from './policy.js'
import { probeModel } from './probe.js'
import type { PromotionDeps } from './promotion.js'
import { createRegistryRepository, rowToPolicy } from './registry.js'

/**
 * Canary runs (migration 0017): the state every gateway routes by, persisted in Postgres, and
 * the canary's log (`canary_events`: start, every check, the decision, with the numbers).
 * Starting or ending a run writes an event and PUBLISHes the split on the hot-swap channel with
 * the event id as `seq`; a gateway's reconcile reads the same state back (`currentSplit`).
 */
export type CanaryStatus = 'running' | 'awaiting_approval' | 'rolled_back' | 'promoted' | 'kept' | 'stopped'
export const LIVE_STATUSES: CanaryStatus[] = ['running', 'awaiting_approval']

export interface CanaryRun {
  id: number
  candidateModel: string
  controlModel: string | null
  percent: number
  minReplies: number
  maxHours: number
  margin: number | null
  salt: string
  status: CanaryStatus
  reason: string | null
  decision: Record<string, unknown> | null
  actor: string
  startedAt: Date
  endedAt: Date | null
  lastCheckAt: Date | null
}

export interface CanaryEvent {
  id: number
  runId: number
  kind: 'start' | 'check' | 'decision'
  decision: string | null
  reason: string
  numbers: Record<string, unknown> | null
  actor: string
  createdAt: Date
}

const RUN_COLS = `id::int8 as id, candidate_model as "candidateModel", control_model as "controlModel", percent,
  min_replies as "minReplies", max_hours as "maxHours", margin, salt, status, reason, decision, actor,
  started_at as "startedAt", ended_at as "endedAt", last_check_at as "lastCheckAt"`

export interface CanaryReplyInput {
  runId: number
  mid: string
  igUserId: string
  arm: CanaryArm
  model: string
  routeReason: string | null
  latencyMs: number | null
}

export function createCanaryRepository(db: Pool) {
  const one = (rows: CanaryRun[]) => (rows[0] ? normalise(rows[0]) : null)
  return {
    /** The run that splits traffic now (running or awaiting approval), or null. */
    async live(q: Queryable = db): Promise<CanaryRun | null> {
      const r = await q.query<CanaryRun>(
        `select ${RUN_COLS} from canary_runs where status = any($1) order by id desc limit 1`,
        [LIVE_STATUSES],
      )
      return one(r.rows)
    },

    async byId(id: number, q: Queryable = db): Promise<CanaryRun | null> {
      const r = await q.query<CanaryRun>(`select ${RUN_COLS} from canary_runs where id = $1`, [id])
      return one(r.rows)
    },

    async recent(limit = 10, q: Queryable = db): Promise<CanaryRun[]> {
      const r = await q.query<CanaryRun>(`select ${RUN_COLS} from canary_runs order by id desc limit $1`, [
        limit,
      ])
      return r.rows.map(normalise)
    },

    async events(runId: number, limit = 50, q: Queryable = db): Promise<CanaryEvent[]> {
      const r = await q.query<CanaryEvent>(
        `select id::int8 as id, run_id::int8 as "runId", kind, decision, reason, numbers, actor,
                created_at as "createdAt"
           from canary_events where run_id = $1 order by id desc limit $2`,
        [runId, limit],
      )
      return r.rows.map((e) => ({ ...e, id: Number(e.id), runId: Number(e.runId) }))
    },

    /** Appends to the canary's log; returns the event id (the split's `seq`). */
    async addEvent(
      e: Omit<CanaryEvent, 'id' | 'createdAt' | 'numbers'> & { numbers?: unknown },
      q: Queryable = db,
    ): Promise<number> {
      const r = await q.query<{ id: number }>(
        `insert into canary_events (run_id, kind, decision, reason, numbers, actor)
         values ($1, $2, $3, $4, $5, $6) returning id::int8 as id`,
        [
          e.runId,
          e.kind,
          e.decision,
          e.reason,
          e.numbers === undefined ? null : JSON.stringify(e.numbers),
          e.actor,
        ],
      )
      return Number(r.rows[0]?.id)
    },

    /** The last event id (0 when none): the `seq` a reconcile compares with what it holds. */
    async lastSeq(q: Queryable = db): Promise<number> {
      const r = await q.query<{ id: number }>('select coalesce(max(id), 0)::int8 as id from canary_events')
      return Number(r.rows[0]?.id ?? 0)
    },

    async setStatus(
      id: number,
      status: CanaryStatus,
      o: { reason?: string; decision?: unknown; ended?: boolean } = {},
      q: Queryable = db,
    ): Promise<void> {
      await q.query(
        `update canary_runs set status = $2, reason = coalesce($3, reason), decision = coalesce($4, decision),
                ended_at = case when $5 then now() else ended_at end
          where id = $1`,
        [
          id,
          status,
          o.reason ?? null,
          o.decision === undefined ? null : JSON.stringify(o.decision),
          !!o.ended,
        ],
      )
    },

    async markChecked(id: number, decision: unknown, q: Queryable = db): Promise<void> {
      await q.query('update canary_runs set last_check_at = now(), decision = $2 where id = $1', [
        id,
        JSON.stringify(decision),
      ])
    },

    /** One reply of the canary (idempotent on run + mid: a retried job records it once). */
    async recordReply(r: CanaryReplyInput, q: Queryable = db): Promise<void> {
      await q.query(
        `insert into canary_replies (run_id, mid, ig_user_id, arm, model, route_reason, latency_ms)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict (run_id, mid) do nothing`,
        [r.runId, r.mid, r.igUserId, r.arm, r.model, r.routeReason, r.latencyMs],
      )
    },

    /** What gateways route by now: the live run's split (null when none) and the last event id. */
    async currentSplit(q: Queryable = db): Promise<{ seq: number; split: CanarySplit | null }> {
      const seq = await this.lastSeq(q)
      const run = await this.live(q)
      if (!run) return { seq, split: null }
      const row = await createRegistryRepository(db).findByIdOrModel(run.candidateModel, q)
      if (!row) return { seq, split: null }
      return { seq, split: splitOf(run, policyRef(rowToPolicy(row))) }
    },
  }
}

export type CanaryRepository = ReturnType<typeof createCanaryRepository>

function normalise(r: CanaryRun): CanaryRun {
  return {
    ...r,
    id: Number(r.id),
    percent: Number(r.percent),
    maxHours: Number(r.maxHours),
    margin: r.margin === null ? null : Number(r.margin),
  }
}

const splitOf = (run: CanaryRun, policy: CanarySplit['policy']): CanarySplit => ({
  runId: run.id,
  model: run.candidateModel,
  percent: run.percent,
  salt: run.salt,
  policy,
})

export interface StartCanaryInput {
  ref: string | number
  percent: number
  minReplies: number
  maxHours: number
  margin?: number | undefined
  actor: string
}

/** Validates a canary request; throws ValidationError naming the bad field. */
export function checkCanaryInput(i: Omit<StartCanaryInput, 'ref' | 'actor'>): void {
  if (!(i.percent > 0 && i.percent <= 100))
    throw new ValidationError(`percent must be in (0, 100], got ${i.percent}`)
  if (!(Number.isInteger(i.minReplies) && i.minReplies >= 1))
    throw new ValidationError(`minReplies must be an integer >= 1, got ${i.minReplies}`)
  if (!(i.maxHours > 0)) throw new ValidationError(`maxHours must be > 0, got ${i.maxHours}`)
  if (i.margin !== undefined && !(i.margin >= 0 && i.margin < 0.5))
    throw new ValidationError(`margin must be in [0, 0.5), got ${i.margin}`)
}

/**
 * Starts a canary of a candidate policy: the candidate must answer (probe), nothing else may be
 * splitting traffic, and the candidate must not be the active one. Writes the run and its `start`
 * event, then publishes the split (a failed publish is healed by every gateway's reconcile).
 */
export async function startCanary(deps: PromotionDeps & StartCanaryInput): Promise<CanaryRun> {
  checkCanaryInput(deps)
  const registry = deps.registry ?? createRegistryRepository(deps.db)
  const repo = createCanaryRepository(deps.db)
  const row = await registry.findByIdOrModel(deps.ref)
  if (!row) throw new NotFoundError(`no candidate ${deps.ref} in the registry`)
  if (row.status === 'retired' || row.status === 'rejected' || row.status === 'active')
    throw new ConflictError(
      `model ${row.model} is ${row.status}: a canary needs a candidate or inactive policy`,
    )
  const live = await repo.live()
  if (live) throw new ConflictError(`canary ${live.id} of ${live.candidateModel} is already ${live.status}`)
  const policy = rowToPolicy(row)
  const client = policy.endpoint && deps.clientFor ? deps.clientFor(policy.endpoint) : deps.sdk
  await probeModel(client, policy.servingModel, {
    deadlineMs: deps.config.models.probeDeadlineMs,
    ...deps.probe,
    logger: deps.logger,
  })
  const active = await registry.findActive()
  let run: CanaryRun
  try {
    const r = await deps.db.query<CanaryRun>(
      `insert into canary_runs (candidate_model, control_model, percent, min_replies, max_hours, margin, salt, actor)
       values ($1, $2, $3, $4, $5, $6, $7, $8) returning ${RUN_COLS}`,
      [
        row.model,
        active?.model ?? null,
        deps.percent,
        deps.minReplies,
        deps.maxHours,
        deps.margin ?? null,
        `canary:${row.id}:${Date.now()}`,
        deps.actor,
      ],
    )
    run = normalise(r.rows[0] as CanaryRun)
  } catch (err) {
    if ((err as { code?: string }).code === '23505')
      throw new ConflictError('another canary is already running')
    throw err
  }
  const control = active?.model ?? deps.config.models.base
  const reason = `start: ${run.percent}% of customers on ${row.model} vs ${control}, minReplies ${run.minReplies}, maxHours ${run.maxHours}`
  const seq = await repo.addEvent({
    runId: run.id,
    kind: 'start',
    decision: null,
    reason,
    actor: deps.actor,
    numbers: run,
  })
  await publishSplit(deps, seq, splitOf(run, policyRef(policy)))
  deps.logger?.info(
    { run: run.id, model: row.model, percent: run.percent, actor: deps.actor },
    'canary started',
  )
  return run
}

/** Ends a live run with `status`, logs the decision with its numbers, and publishes "no split". */
export async function endCanary(
  deps: Pick<PromotionDeps, 'db' | 'redis' | 'config' | 'logger'>,
  o: {
    run: CanaryRun
    status: CanaryStatus
    decision: string
    reason: string
    numbers?: unknown
    actor: string
  },
): Promise<void> {
  const repo = createCanaryRepository(deps.db)
  await repo.setStatus(o.run.id, o.status, { reason: o.reason, decision: o.numbers, ended: true })
  const seq = await repo.addEvent({
    runId: o.run.id,
    kind: 'decision',
    decision: o.decision,
    reason: o.reason,
    numbers: o.numbers,
    actor: o.actor,
  })
  await publishSplit(deps, seq, null)
  deps.logger?.info({ run: o.run.id, status: o.status, reason: o.reason }, 'canary ended')
}

async function publishSplit(
  deps: Pick<PromotionDeps, 'redis' | 'config' | 'logger'>,
  seq: number,
  split: CanarySplit | null,
): Promise<void> {
  try {
    await deps.redis.publish(deps.config.models.channel, encodeCanaryMessage({ seq, split }))
  } catch (err) {
    deps.logger?.warn(
      { seq, err: (err as Error).message },
      'canary publish failed; gateways converge on their reconcile interval',
    )
  }
}
