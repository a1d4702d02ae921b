import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import pino, { type Logger } from 'pino'

export type { Logger }

/**
 * Paths pino censors. Secrets (keys, tokens, authorization headers) and message text never reach
 * the logs at any level: operators grep for ids, models and counts, never for what a customer wrote.
 */
export const REDACT_PATHS = [
  'apiKey',
  '*.apiKey',
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'adminToken',
  '*.adminToken',
  'appSecret',
  '*.appSecret',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers["x-hub-signature-256"]',
  'headers.authorization',
  'content',
  '*.content',
  'text',
  '*.text',
  'reply',
  '*.reply',
  'messages',
  '*.messages',
  'prompt',
  '*.prompt',
  'body',
  '*.body',
]

export interface LoggerOptions {
  /** pino level; default info. */
  level?: string
  /** Also append JSON lines to this file (directories are created). */
  file?: string | undefined
  /** Bound as `app` on every line. */
  name?: string
  /** Where stdout lines go; default process.stdout (tests pass a stream). */
  destination?: NodeJS.WritableStream
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const streams: pino.StreamEntry[] = [{ stream: opts.destination ?? process.stdout }]
  if (opts.file) {
    mkdirSync(dirname(opts.file), { recursive: true })
    streams.push({ stream: pino.destination({ dest: opts.file, sync: false, mkdir: true }) })
  }
  const level = opts.level ?? 'info'
  return pino(
    {
      level,
      base: opts.name ? { app: opts.name } : {},
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.multistream(streams.map((s) => ({ ...s, level: level as pino.Level }))),
  )
}
