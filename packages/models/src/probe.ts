import { completionLimit } from '@loopdm/platform/capabilities'
import type { Config } from '@loopdm/platform/config'
import { ModelNotCallableError } from '@loopdm/platform/errors'
import type { Logger } from '@loopdm/platform/logger'
import type OpenAI from 'openai'
import type { PolicyEndpoint } from './policy.js'

export interface ProbeOptions {
  /** Give up after this many ms (0 = one attempt). Default config.models.probeDeadlineMs. */
  deadlineMs?: number
  /** First back-off delay (ms), doubled per attempt up to maxDelayMs. Default 250. */
  initialDelayMs?: number
  maxDelayMs?: number
  /** Per-attempt timeout (ms). Default 15 000. */
  attemptTimeoutMs?: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function status(err: unknown): number | undefined {
  const s = (err as { status?: unknown }).status
  return typeof s === 'number' ? s : undefined
}

/**
 * Asks `model` for a one-token completion until it answers or the deadline passes. A fresh
 * fine-tune answers 404 for a while; 404/408/409/429/5xx and network errors are retried with
 * exponential back-off, other 4xx (bad request, auth) fail at once.
 * @returns the number of attempts made.
 * @throws ModelNotCallableError naming the model and the last error.
 */
export async function probeModel(
  sdk: OpenAI,
  model: string,
  opts: ProbeOptions & { logger?: Logger | undefined } = {},
): Promise<number> {
  const deadline = Date.now() + (opts.deadlineMs ?? 120_000)
  let delay = opts.initialDelayMs ?? 250
  let attempts = 0
  for (;;) {
    attempts++
    try {
      await sdk.chat.completions.create(
        { model, messages: [{ role: 'user', content: 'ping' }], ...completionLimit(model, 1) },
        { maxRetries: 0, timeout: opts.attemptTimeoutMs ?? 15_000 },
      )
      return attempts
    } catch (err) {
      const s = status(err)
      const retryable = s === undefined || s === 404 || s === 408 || s === 409 || s === 429 || s >= 500
      const left = deadline - Date.now()
      if (!retryable || left <= 0) {
        throw new ModelNotCallableError(
          `model ${model} is not callable (${s ?? 'no response'}: ${(err as Error).message}) after ${attempts} probe attempt(s); nothing was changed`,
          err,
        )
      }
      opts.logger?.info(
        { model, attempt: attempts, status: s, retryInMs: Math.min(delay, left) },
        'probe failed; retrying',
      )
      await sleep(Math.min(delay, left))
      delay = Math.min(delay * 2, opts.maxDelayMs ?? 5_000)
    }
  }
}

/**
 * Probes a policy where it is served: its serving model on its own endpoint's client (the
 * process's SDK when it has none), within PROMOTE_PROBE_DEADLINE_MS. Promotion, canary and shadow
 * starts all check a candidate this way. Resolves the attempts it took.
 */
export function probePolicy(
  deps: {
    sdk: OpenAI
    clientFor?: ((endpoint: PolicyEndpoint) => OpenAI) | undefined
    config: Pick<Config, 'models'>
    probe?: ProbeOptions | undefined
    logger?: Logger | undefined
  },
  servingModel: string,
  endpoint: PolicyEndpoint | null | undefined,
): Promise<number> {
  const client = endpoint && deps.clientFor ? deps.clientFor(endpoint) : deps.sdk
  return probeModel(client, servingModel, {
    deadlineMs: deps.config.models.probeDeadlineMs,
    ...deps.probe,
    logger: deps.logger,
  })
}
