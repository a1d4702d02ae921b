import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
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

/** How LOG_FILE rotates (pino-roll). Both `sizeBytes: 0` and `frequency: 'off'` → a plain append file. */
export interface LogRotateOptions {
  /** Start a new file once the active one reaches this many bytes; 0 = no size limit. */
  sizeBytes: number
  /** Also start a new file each day/hour; 'off' = by size only. */
  frequency: 'daily' | 'hourly' | 'off'
  /** Rotated files kept besides the active one; older ones are deleted. */
  keep: number
}

export interface LoggerOptions {
  /** pino level; default info. */
  level?: string
  /** Also append JSON lines to this file (directories are created). */
  file?: string | undefined
  /**
   * Rotate `file` with pino-roll: files become `<name>.<n><ext>` (e.g. logs/app.3.log; daily
   * rotation adds the date, logs/app.2026-12-01.3.log) and `current.log` in the same directory
   * links to the active one. Unset → one plain append file (rotate it with logrotate).
   */
  rotate?: LogRotateOptions | undefined
  /** Bound as `app` on every line. */
  name?: string
  /** Where stdout lines go; default process.stdout (tests pass a stream). */
  destination?: NodeJS.WritableStream
}

function fileStream(file: string, rotate: LogRotateOptions | undefined): pino.DestinationStream {
  if (!rotate || (rotate.sizeBytes === 0 && rotate.frequency === 'off')) {
    return pino.destination({ dest: file, sync: false, mkdir: true })
  }
  // A worker-thread transport (pino flushes it on exit); the absolute path keeps the target
  // resolvable whichever package or test runner created the logger.
  return pino.transport({
    target: createRequire(import.meta.url).resolve('pino-roll'),
    options: {
      file,
      mkdir: true,
      symlink: true,
      ...(rotate.sizeBytes > 0 ? { size: `${Math.max(1, Math.floor(rotate.sizeBytes / 1024))}k` } : {}),
      ...(rotate.frequency !== 'off'
        ? {
            frequency: rotate.frequency,
            dateFormat: rotate.frequency === 'daily' ? 'yyyy-MM-dd' : 'yyyy-MM-dd-HH',
          }
        : {}),
      limit: { count: rotate.keep },
    },
  })
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const streams: pino.StreamEntry[] = [{ stream: opts.destination ?? process.stdout }]
  if (opts.file) {
    mkdirSync(dirname(opts.file), { recursive: true })
    streams.push({ stream: fileStream(opts.file, opts.rotate) })
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
