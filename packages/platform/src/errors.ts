/**
 * Loop DM's named errors: one subclass per concept, each with a stable `code`, an optional HTTP
 * `statusCode` (used by the gateway's error handler) and a `cause`.
 */
export class LoopDmError extends Error {
  readonly code: string
  readonly statusCode: number | undefined
  /** Extra fields of a 4xx answer body, beside `error` (never secrets or message text). */
  readonly details: Record<string, unknown> | undefined
  constructor(
    message: string,
    opts: { code: string; statusCode?: number; cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = new.target.name
    this.code = opts.code
    this.statusCode = opts.statusCode
    this.details = opts.details
  }
}

/** One or more environment variables are invalid. The message has one line per variable. */
export class ConfigError extends LoopDmError {
  readonly problems: string[]
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`, { code: 'CONFIG_INVALID' })
    this.problems = problems
  }
}

/** Input was rejected (HTTP 400). */
export class ValidationError extends LoopDmError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'VALIDATION', statusCode: 400, cause })
  }
}

/** A thing named by the caller does not exist (HTTP 404). */
export class NotFoundError extends LoopDmError {
  constructor(message: string) {
    super(message, { code: 'NOT_FOUND', statusCode: 404 })
  }
}

/** The request conflicts with the current state (HTTP 409). */
export class ConflictError extends LoopDmError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'CONFLICT', statusCode: 409, cause })
  }
}

/**
 * A promotion lost a race (HTTP 409): the active policy is no longer the one it expected (another
 * promotion or rollback committed in between, or an auto-promotion's beaten model was replaced).
 * Nothing was changed; `current` is the active state now (`details.current` in the answer).
 */
export class PromotionConflictError extends LoopDmError {
  readonly current: { model: string | null; version: number }
  constructor(message: string, current: { model: string | null; version: number }) {
    super(message, { code: 'PROMOTION_CONFLICT', statusCode: 409, details: { current } })
    this.current = current
  }
}

/** A dependency (Postgres, Redis, the provider) cannot be reached (HTTP 503). */
export class UnavailableError extends LoopDmError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'UNAVAILABLE', statusCode: 503, cause })
  }
}

/** The embedded Postgres data directory is already served by another process. */
export class EmbeddedDbOwnedError extends LoopDmError {
  constructor(message: string) {
    super(message, { code: 'EMBEDDED_DB_OWNED' })
  }
}

/** A migration that was applied before has changed on disk. */
export class MigrationChecksumError extends LoopDmError {
  constructor(message: string) {
    super(message, { code: 'MIGRATION_CHANGED' })
  }
}

/** Spending would exceed the configured budget. */
export class BudgetExceededError extends LoopDmError {
  constructor(message: string) {
    super(message, { code: 'BUDGET_EXCEEDED', statusCode: 402 })
  }
}

/** A model did not answer a probe completion before the deadline, so it cannot be promoted (HTTP 422). */
export class ModelNotCallableError extends LoopDmError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'MODEL_NOT_CALLABLE', statusCode: 422, cause })
  }
}

/** A Redis lease (shared/redis-lock) stayed busy past the wait: retry later (HTTP 503). */
export class LockTimeoutError extends LoopDmError {
  constructor(message: string) {
    super(message, { code: 'LOCK_TIMEOUT', statusCode: 503 })
  }
}

/**
 * The training data cannot be tuned on (too few examples, too large, invalid lines, missing file).
 * Permanent: retrying the same data gives the same answer.
 */
export class TrainingDataRefusedError extends LoopDmError {
  constructor(message: string) {
    super(message, { code: 'TRAINING_DATA_REFUSED', statusCode: 422 })
  }
}
