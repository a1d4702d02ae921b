import type { Pool, Queryable } from '@loopdm/db/pool'
import type { CanaryArm } from './canary-decision.js'
import type { CanarySplit } from './hotswap.js'
import { policyRef } from './policy.js'
import { createRegistryRepository, rowToPolicy } from './registry.js'

/**
 * Canary runs (migration 0017): the state every gateway routes by, persisted in Postgres, and
 * the canary's log (`canary_events`: start, every check, the decision, with the numbers).
 * Starting or ending a run (canary-control.ts) writes an event and PUBLISHes the split with the
 * event id as `seq`; a gateway's reconcile reads the same state back (`currentSplit`).
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

export const RUN_COLS = `id::int8 as id, candidate_model as "candidateModel", control_model as "controlModel", percent,
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

export function normalise(r: CanaryRun): CanaryRun {
  return {
    ...r,
    id: Number(r.id),
    percent: Number(r.percent),
    maxHours: Number(r.maxHours),
    margin: r.margin === null ? null : Number(r.margin),
  }
}

export const splitOf = (run: CanaryRun, policy: CanarySplit['policy']): CanarySplit => ({
  runId: run.id,
  model: run.candidateModel,
  percent: run.percent,
  salt: run.salt,
  policy,
})
