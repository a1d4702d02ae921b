import type { RegistryRepository } from '@loopdm/models/registry'
import { ConflictError, NotFoundError, ValidationError } from '@loopdm/platform/errors'
import type { Logger } from '@loopdm/platform/logger'
import { type EvaluatePayload, EvaluatePayloadSchema } from '@loopdm/queues/contracts'
import { UnrecoverableError } from 'bullmq'
import type { EvaluationOutcome, EvaluationService } from '../services/evaluation.service.js'

export interface EvaluateJobResult {
  candidate: string
  skipped?: string
  runId?: number
  outcome?: EvaluationOutcome
  score?: number
  currentScore?: number
  delta?: number
  /** The gold set used: `file` | `table` | `table+file`, its size and content hash. */
  gold?: { source: string; size: number; sha256: string }
  /** The candidate's holdout mean (recent human/exported answers), reported beside the gold score. */
  holdoutScore?: number | null
  /** Why auto-promotion was held back (EVAL_MIN_GOLD), if it was. */
  promotionBlocked?: string | null
}

/**
 * The `evaluate` job: parse, skip a candidate that was already decided (a re-delivered trigger
 * does the work once), else evaluate and gate it. A bad payload or an impossible request is
 * unrecoverable; a model that is not callable yet throws so BullMQ retries with back-off.
 */
export async function processEvaluate(
  data: unknown,
  deps: { evaluation: EvaluationService; registry: RegistryRepository; logger?: Logger },
): Promise<EvaluateJobResult> {
  const parsed = EvaluatePayloadSchema.safeParse(data)
  if (!parsed.success)
    throw new UnrecoverableError(`bad evaluate payload: ${parsed.error.issues[0]?.message}`)
  const p: EvaluatePayload = parsed.data
  const row = await deps.registry.findByIdOrModel(p.candidate)
  if (row && p.trigger !== 'manual' && row.status !== 'candidate') {
    deps.logger?.info({ candidate: row.model, status: row.status }, 'candidate already decided; skipping')
    return { candidate: row.model, skipped: `status is ${row.status}` }
  }
  try {
    const r = await deps.evaluation.evaluate({ candidate: p.candidate, trigger: p.trigger })
    return {
      candidate: r.candidate,
      runId: r.runId,
      outcome: r.outcome,
      score: r.summaries.candidate.mean,
      currentScore: r.summaries.current.mean,
      delta: r.decision.delta,
      gold: r.gold,
      holdoutScore: r.holdout?.candidate.mean ?? null,
      promotionBlocked: r.promotionBlocked,
    }
  } catch (err) {
    // An impossible request (already active, unknown, an empty EVAL_GOLD_SOURCE=table set) never retries.
    if (err instanceof ConflictError || err instanceof NotFoundError || err instanceof ValidationError)
      throw new UnrecoverableError(err.message)
    throw err
  }
}
