import { LoopDmError } from '@loopdm/platform/errors'

/** An export file would exceed EXPORT_MAX_BYTES (with EXPORT_OVERSIZE=refuse). Permanent. */
export class ExportTooLargeError extends LoopDmError {
  constructor(message: string) {
    super(message, { code: 'EXPORT_TOO_LARGE', statusCode: 413 })
  }
}

/** Another export run holds the in-flight lease. Transient: the job retries. */
export class ExportBusyError extends LoopDmError {
  constructor(message: string) {
    super(message, { code: 'EXPORT_BUSY', statusCode: 409 })
  }
}
