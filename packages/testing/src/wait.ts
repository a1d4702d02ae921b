/** Thrown by {@link waitFor} when its condition is still unmet at the deadline. */
export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError'
  readonly code = 'WAIT_TIMEOUT'
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`)
  }
}

export interface WaitForOptions {
  /** What is awaited, for the timeout error ("reply to mid.x", "tuner ready"). */
  what: string
  /** How long to keep polling, in ms. Default 10_000. */
  timeoutMs?: number
  /** Pause between polls, in ms. Default 50. */
  intervalMs?: number
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>

/**
 * Polls `check` until it returns a truthy value and resolves with it; throws a
 * {@link WaitTimeoutError} naming `what` when `timeoutMs` passes first. `check` runs at least once,
 * and an error it throws propagates at once (a failing poll is a failure, not a retry).
 */
export async function waitFor<T>(check: () => T | Promise<T>, opts: WaitForOptions): Promise<Truthy<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const intervalMs = opts.intervalMs ?? 50
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as Truthy<T>
    if (Date.now() > deadline) throw new WaitTimeoutError(opts.what, timeoutMs)
    await sleep(intervalMs)
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
