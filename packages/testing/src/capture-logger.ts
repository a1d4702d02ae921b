import { Writable } from 'node:stream'
import { createLogger, type Logger, type LoggerOptions } from '@loopdm/platform/logger'

export interface CapturedLogger {
  logger: Logger
  /** Every JSON line the logger wrote, parsed, in order. */
  lines: Array<Record<string, unknown>>
}

export interface CaptureLoggerOptions {
  /** Minimum level recorded. Default 'info'. */
  level?: LoggerOptions['level']
  /** The logger's app name (`app` on each line). Default none. */
  name?: string
  /** Also copy every line to stderr (debugging a test). Default false. */
  echo?: boolean
  /** Record into this array instead of a new one (e.g. one shared across a suite). */
  lines?: Array<Record<string, unknown>>
}

/** A real pino logger (the app's `createLogger`, with its redaction) that records its lines for assertions. */
export function captureLogger(opts: CaptureLoggerOptions = {}): CapturedLogger {
  const lines = opts.lines ?? []
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue
        try {
          lines.push(JSON.parse(line))
          if (opts.echo) process.stderr.write(`${line}\n`)
        } catch {}
      }
      cb()
    },
  })
  const logger = createLogger({ level: opts.level ?? 'info', destination, name: opts.name })
  return { logger, lines }
}
