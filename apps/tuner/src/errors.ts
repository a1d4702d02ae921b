import { LoopDmError } from '@loopdm/platform/errors'

/** The provider ended a fine-tuning job without a model (failed, cancelled, deadline). */
export class FineTuneFailedError extends LoopDmError {
  constructor(message: string) {
    super(message, { code: 'FINE_TUNE_FAILED' })
  }
}

/**
 * The provider cannot take this fine-tune at all: a retired base, OpenAI's self-serve cutoff, an
 * account without fine-tuning (`training_not_available`) or out of credit (`insufficient_quota`).
 * Raised before (or instead of) spending anything; retrying does not help.
 */
export class FineTuneRefusedError extends LoopDmError {
  constructor(
    message: string,
    readonly reason: 'shutdown' | 'training_not_available' | 'insufficient_quota' | 'rejected_before',
  ) {
    super(message, { code: 'FINE_TUNE_REFUSED' })
  }
}
