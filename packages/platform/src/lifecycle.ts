import type { Logger } from './logger.js'

export type CloseStep = { name: string; close: () => Promise<unknown> | unknown }

/**
 * Runs every close step in order, even when one fails, and resolves once all ran.
 * Idempotent: a second call returns the first call's promise.
 */
export function closer(steps: CloseStep[], logger?: Logger): () => Promise<void> {
  let done: Promise<void> | undefined
  return () => {
    done ??= (async () => {
      for (const s of steps) {
        try {
          await s.close()
        } catch (err) {
          logger?.warn({ step: s.name, err: (err as Error).message }, 'close step failed')
        }
      }
    })()
    return done
  }
}

/**
 * SIGTERM/SIGINT → stop intake, let in-flight work finish, close everything, exit 0. A second
 * signal or `timeoutMs` (default 10 s) forces exit 1.
 */
export function onShutdown(
  close: () => Promise<void>,
  opts: { logger?: Logger; timeoutMs?: number; supervisorPid?: number } = {},
): void {
  let shuttingDown = false
  const handler = (signal: NodeJS.Signals) => {
    if (shuttingDown) process.exit(1)
    shuttingDown = true
    opts.logger?.info({ signal }, 'shutting down')
    const timer = setTimeout(() => {
      opts.logger?.error('shutdown timed out; exiting')
      process.exit(1)
    }, opts.timeoutMs ?? 10_000)
    timer.unref()
    close().then(
      () => {
        opts.logger?.info('stopped')
        opts.logger?.flush?.()
        process.exit(0)
      },
      (err) => {
        opts.logger?.error({ err: (err as Error).message }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', handler)
  process.on('SIGINT', handler)
  // Under `npm start` the supervisor passes its pid (config.supervisorPid): if it dies without stopping us (SIGKILL),
  // we notice we were re-parented and stop too, so no orphan keeps ports or the database.
  const supervisor = opts.supervisorPid ?? 0
  if (supervisor > 0) {
    setInterval(() => {
      if (process.ppid !== supervisor) handler('SIGTERM')
    }, 1000).unref()
  }
}
