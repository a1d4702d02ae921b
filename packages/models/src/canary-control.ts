import { ConflictError, NotFoundError, ValidationError } from '@loopdm/platform/errors'
import {
  type CanaryRun,
  type CanaryStatus,
  createCanaryRepository,
  normalise,
  RUN_COLS,
  splitOf,
} from './canary-runs.js'
import { type CanarySplit, encodeCanaryMessage } from './hotswap.js'
import { policyRef } from './policy.js'
import { probePolicy } from './probe.js'
import type { PromotionDeps } from './promotion.js'
import { createRegistryRepository, rowToPolicy } from './registry.js'

/**
 * Starting and ending a canary (issue 19): the run row and its log event in Postgres, then the
 * split PUBLISHed on the hot-swap channel (config.models.channel) with the event id as `seq`. A
 * failed publish is healed by every gateway's reconcile (CanarySplitHolder re-reads the run).
 */

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
  await probePolicy(deps, policy.servingModel, policy.endpoint)
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
