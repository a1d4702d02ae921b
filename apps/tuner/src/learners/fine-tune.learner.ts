import { runTune, type TuneResult } from '../jobs/tune.processor.js'
import type { Learner } from './learner.js'

export type FineTuneResult = TuneResult & { learner: 'fine-tune' }

/**
 * `LEARNING_BACKEND=fine-tune`: today's OpenAI-compatible fine-tuning path, unchanged — upload,
 * create the provider job, poll it (poll.processor.ts); a succeeded job registers its `ft:` model
 * as a candidate policy of learner `fine-tune` and enqueues `evaluate`.
 */
export const fineTuneLearner: Learner = {
  name: 'fine-tune',
  async tune(input, deps, ctx = {}): Promise<FineTuneResult> {
    return { learner: 'fine-tune', ...(await runTune(input, deps, ctx)) }
  },
}
