import type { Config } from '@loopdm/platform/config'
import type { TunerDeps } from '../jobs/deps.js'
import { type ExemplarTuneResult, exemplarsLearner } from './exemplars.learner.js'
import { type FineTuneResult, fineTuneLearner } from './fine-tune.learner.js'

/**
 * The learner seam: the weekly `tune` job builds a candidate policy with the configured learner
 * (`LEARNING_BACKEND`). Every learner ends the same way — a candidate policy in the registry and
 * an `evaluate` job — so evaluation, the gate, approval, promotion, rollback and the hot swap are
 * the same for all of them.
 */
export type LearnerName = Config['learning']['backend']

export type LearnerResult = ExemplarTuneResult | FineTuneResult

export interface Learner {
  name: LearnerName
  /** Runs one `tune` job payload. `owner`: who runs it (the BullMQ job id). */
  tune(input: unknown, deps: TunerDeps, ctx?: { owner?: string }): Promise<LearnerResult>
}

export function learnerFor(name: LearnerName): Learner {
  return name === 'fine-tune' ? fineTuneLearner : exemplarsLearner
}
