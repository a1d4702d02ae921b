import type { Pool } from '@loopdm/db/pool'
import type { ArmSummary } from './canary-arms.js'
import type { CanaryTestResult } from './canary-decision.js'
import type { CanaryEvent } from './canary-runs.js'
import { createRegistryRepository, type PromotionRow } from './registry.js'

/**
 * The promotion log (issue 19): every promotion (`model_promotions`, whose ids are the active
 * version) interleaved by time with every canary start, check and decision (`canary_events`),
 * newest first. Canary events stay in their own table — a row in `model_promotions` would shift the
 * active version — and are read in here. Old rows keep their fields and get `kind: 'promotion'`.
 */
export type CanaryLogKind =
  | 'canary-start'
  | 'canary-check'
  | 'canary-rollback'
  | 'canary-keep'
  | 'canary-promote'
  | 'canary-stop'
  | 'canary-continue'

export type PromotionLogRow = PromotionRow & { kind: 'promotion' }

export interface CanaryLogEntry {
  kind: CanaryLogKind
  /** The canary event id (`canary_events.id`, not a model version). */
  id: number
  runId: number
  /** The candidate on the canary arm, and what it was compared with (null = BASE_MODEL). */
  model: string
  controlModel: string | null
  /** The decision at a check or the end (`continue`, `rollback`, `promote`, `keep`, `stop`); null at start. */
  decision: string | null
  reason: string
  actor: string
  createdAt: Date
  /** Replies and rates per arm at a check or decision (null at start or when none was counted). */
  arms: { control: ArmSummary; canary: ArmSummary } | null
  /** The sequential test (difference, bounds, z, logLR, p-value), null before `minReplies` per arm. */
  statistic: CanaryTestResult | null
  /** Everything stored with the event (the run at start; the decision and signals at a check). */
  numbers: Record<string, unknown> | null
}

export type PromotionLogEntry = PromotionLogRow | CanaryLogEntry

export interface PromotionLogOptions {
  /** The last `limit` promotions and the last `limit` canary events (so checks never hide promotions). */
  limit?: number
  /** Include the periodic `canary-check` events (default true). */
  checks?: boolean
}

/** A canary event with its run's candidate and control models. */
interface EventRow extends CanaryEvent {
  model: string
  controlModel: string | null
}

export function canaryLogKind(kind: EventRow['kind'], decision: string | null): CanaryLogKind {
  if (kind === 'start') return 'canary-start'
  if (kind === 'check') return 'canary-check'
  return `canary-${decision ?? 'stop'}` as CanaryLogKind
}

export async function promotionLog(db: Pool, o: PromotionLogOptions = {}): Promise<PromotionLogEntry[]> {
  const limit = o.limit ?? 100
  const [promotions, events] = await Promise.all([
    createRegistryRepository(db).promotions(limit),
    db.query<EventRow>(
      `select e.id::int8 as id, e.run_id::int8 as "runId", e.kind, e.decision, e.reason, e.numbers,
              e.actor, e.created_at as "createdAt", r.candidate_model as model, r.control_model as "controlModel"
         from canary_events e join canary_runs r on r.id = e.run_id
        where $2 or e.kind <> 'check'
        order by e.id desc limit $1`,
      [limit, o.checks ?? true],
    ),
  ])
  const entries: PromotionLogEntry[] = [
    ...promotions.map((p): PromotionLogRow => ({ ...p, kind: 'promotion' })),
    ...events.rows.map(toEntry),
  ]
  return entries.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
}

function toEntry(e: EventRow): CanaryLogEntry {
  const n = e.numbers
  const arms = n && typeof n.arms === 'object' ? (n.arms as CanaryLogEntry['arms']) : null
  const statistic = n && typeof n.test === 'object' ? (n.test as CanaryTestResult | null) : null
  return {
    kind: canaryLogKind(e.kind, e.decision),
    id: Number(e.id),
    runId: Number(e.runId),
    model: e.model,
    controlModel: e.controlModel,
    decision: e.decision,
    reason: e.reason,
    actor: e.actor,
    createdAt: e.createdAt,
    arms,
    statistic,
    numbers: n,
  }
}
