/**
 * Fault knobs for tests: fail the next N API requests with 429/500/503 (optionally only those whose
 * path contains a substring, optionally with `retry-after`), and add latency to every API request.
 */
export type FaultStatus = 403 | 429 | 500 | 503

export interface FailNextOptions {
  /** Sent as `retry-after` (seconds; fractions allowed). */
  retryAfterSec?: number
  /** Sent as `retry-after-ms` (the SDK prefers it over `retry-after`). */
  retryAfterMs?: number
  /** Only requests whose URL contains this substring are failed (and counted). */
  paths?: string
  /** Only requests with this HTTP method (e.g. `POST`: job creation, not its listing). */
  method?: string
  /**
   * The error `code` to answer with instead of the status's default: `training_not_available`
   * (403, OpenAI's answer to job creation for organisations without fine-tuning) or
   * `insufficient_quota` (429, out of credit; not a rate limit).
   */
  code?: 'training_not_available' | 'insufficient_quota'
}

export interface Faults {
  failNext(n: number, status: FaultStatus, opts?: FailNextOptions): void
  setLatency(ms: number): void
  reset(): void
  /** Pending failures, latency, and how many API requests arrived since the last reset. */
  snapshot(): {
    remaining: number
    status: FaultStatus
    paths: string | null
    latencyMs: number
    requests: number
  }
}

export interface FaultInjector extends Faults {
  /** The fault to answer `url` with, consuming one of the pending failures; undefined → serve it. */
  take(
    url: string,
    method?: string,
  ): { status: FaultStatus; headers: Record<string, string>; code?: FailNextOptions['code'] } | undefined
  latencyMs(): number
}

export function createFaults(): FaultInjector {
  let remaining = 0
  let status: FaultStatus = 429
  let opts: FailNextOptions = {}
  let latency = 0
  let requests = 0
  return {
    failNext(n, s, o = {}) {
      remaining = Math.max(0, Math.floor(n))
      status = s
      opts = o
    },
    setLatency(ms) {
      latency = Math.max(0, ms)
    },
    reset() {
      remaining = 0
      opts = {}
      latency = 0
      requests = 0
    },
    take(url, method) {
      requests++
      if (remaining <= 0) return undefined
      if (opts.paths && !url.includes(opts.paths)) return undefined
      if (opts.method && method && opts.method.toUpperCase() !== method.toUpperCase()) return undefined
      remaining--
      const headers: Record<string, string> = {}
      if (opts.retryAfterSec !== undefined) headers['retry-after'] = String(opts.retryAfterSec)
      if (opts.retryAfterMs !== undefined) headers['retry-after-ms'] = String(opts.retryAfterMs)
      return { status, headers, ...(opts.code ? { code: opts.code } : {}) }
    },
    latencyMs: () => latency,
    snapshot: () => ({ remaining, status, paths: opts.paths ?? null, latencyMs: latency, requests }),
  }
}

/** Bodies of the coded faults, worded like OpenAI's. */
export const CODED_FAULT_MESSAGES = {
  training_not_available: {
    message:
      'Fine-tuning is not available for your organization. New fine-tuning jobs can no longer be created (openai-local fault injection).',
    type: 'invalid_request_error',
    code: 'training_not_available',
  },
  insufficient_quota: {
    message:
      'You exceeded your current quota, please check your plan and billing details (openai-local fault injection).',
    type: 'insufficient_quota',
    code: 'insufficient_quota',
  },
} as const

export const FAULT_MESSAGES: Record<FaultStatus, { message: string; type: string; code: string | null }> = {
  403: {
    message: 'You are not allowed to perform this request (openai-local fault injection).',
    type: 'invalid_request_error',
    code: 'forbidden',
  },
  429: {
    message: 'Rate limit reached for requests (openai-local fault injection). Please try again later.',
    type: 'requests',
    code: 'rate_limit_exceeded',
  },
  500: {
    message: 'The server had an error while processing your request (openai-local fault injection).',
    type: 'server_error',
    code: null,
  },
  503: {
    message: 'The engine is currently overloaded (openai-local fault injection). Please try again later.',
    type: 'server_error',
    code: null,
  },
}
