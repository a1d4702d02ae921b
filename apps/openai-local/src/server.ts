import type { Logger } from '@loopdm/platform/logger'
import { buildOpenAILocalApp } from './app.js'
import { createFaults, type Faults } from './faults.js'

export { buildOpenAILocalApp } from './app.js'
export type { Faults } from './faults.js'

export interface StartOpenAILocalOptions {
  /** TCP port; default 0 (an ephemeral port — read it back from `url`). */
  port?: number
  /** Interface to bind; default 127.0.0.1. */
  host?: string
  /** Where files, jobs and models persist; undefined → in-memory state. */
  dataDir?: string
  logger?: Logger
  /** Time between fine-tuning job states; default 1000 ms (tests pass ~20). */
  ftStepMs?: number
  /** A succeeded fine-tuned model answers 404 "not yet available" until this long after success; default 0. */
  callableAfterMs?: number
  /** On close, in-flight requests get this long before their connections are cut; default 2000 ms. */
  closeGraceMs?: number
  /**
   * Apply OpenAI's known shutdowns (catalog `SHUTDOWNS`: `gpt-3.5-turbo-0125` from 2026-10-23 →
   * chat 404 `model_not_found`, fine-tuning 400) and today's fine-tunable bases
   * (`gpt-4.1-mini-2025-04-14`, `gpt-4.1-2025-04-14`). `false` restores the legacy world for callers
   * not yet migrated. Default true.
   */
  retiredModels?: boolean
}

export interface OpenAILocal {
  /** `http://host:port` */
  url: string
  /** `url + '/v1'` — what the `openai` SDK takes as `baseURL` (also vLLM's OpenAI-compatible base). */
  baseURL: string
  /**
   * `url + '/together/v1'` — the `together-ai` SDK's `baseURL`. Upload with the SDK's
   * `client.post('/files/upload', { body: formData })`: its `files.upload` helper cannot work in
   * Node (0.52: no `duplex` on its stream PUT, reads `TOGETHER_API_BASE_URL` not the client's URL).
   */
  togetherBaseURL: string
  faults: Faults
  close(): Promise<void>
}

/** Starts openai-local listening on `host:port` and resolves once it accepts connections. */
export async function startOpenAILocal(opts: StartOpenAILocalOptions = {}): Promise<OpenAILocal> {
  const faults = createFaults()
  const app = buildOpenAILocalApp({
    dataDir: opts.dataDir,
    logger: opts.logger,
    faults,
    ftStepMs: opts.ftStepMs ?? 1000,
    callableAfterMs: opts.callableAfterMs ?? 0,
    retiredModels: opts.retiredModels ?? true,
  })
  const host = opts.host ?? '127.0.0.1'
  await app.listen({ port: opts.port ?? 0, host })
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 0)
  const shownHost =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  const url = `http://${shownHost}:${port}`
  let closing: Promise<void> | undefined
  return {
    url,
    baseURL: `${url}/v1`,
    togetherBaseURL: `${url}/together/v1`,
    faults,
    close: () => {
      closing ??= (async () => {
        // Graceful first; a connection still open after the grace period (a client that vanished
        // mid-request, a kept-alive socket the server never saw go idle) is cut so close never hangs.
        const force = setTimeout(() => app.server.closeAllConnections(), opts.closeGraceMs ?? 2000)
        try {
          await app.close()
        } finally {
          clearTimeout(force)
        }
      })()
      return closing
    },
  }
}
