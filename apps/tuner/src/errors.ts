import { LoopDmError } from '@loopdm/platform/errors'

/** The provider ended a fine-tuning job without a model (failed, cancelled, deadline). */
export class FineTuneFailedError extends LoopDmError {
  constructor(message: string) {
    super(message, { code: 'FINE_TUNE_FAILED' })
  }
}
