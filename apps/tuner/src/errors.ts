import { LoopDmError } from '@loopdm/platform/errors'

/**
 * The training data cannot be tuned on (too few examples, too large, invalid lines, missing file).
 * Permanent: retrying the same data gives the same answer.
 */
export class TrainingDataRefusedError extends LoopDmError {
  constructor(message: string) {
    super(message, { code: 'TRAINING_DATA_REFUSED', statusCode: 422 })
  }
}

/** The provider ended a fine-tuning job without a model (failed, cancelled, deadline). */
export class FineTuneFailedError extends LoopDmError {
  constructor(message: string) {
    super(message, { code: 'FINE_TUNE_FAILED' })
  }
}
