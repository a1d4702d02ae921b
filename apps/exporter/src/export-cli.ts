import { type ExportPayload, ExportPayloadSchema } from '@loopdm/queues/contracts'
import type { ExportResult } from './services/export.service.js'
import { formatReport } from './services/export-report.js'

export interface ExportCliOptions {
  inline: boolean
  timeoutMs: number
  payload: ExportPayload
}

export class CliUsageError extends Error {
  override name = 'CliUsageError'
}

export const EXPORT_USAGE = `usage: npm run export:ft -- [--inline] [--dry-run] [--since ISO] [--until ISO] [--date YYYY-MM-DD] [--timeout SECONDS]
  --inline    run the export in this process (starts the embedded database if no stack runs)
  --dry-run   read, pair, redact and validate; write nothing, move no watermark
  --since/--until  backfill window (ISO-8601, e.g. 2024-05-01 or 2024-05-01T00:00:00Z); writes
              fine_tune_backfill_<since>_<until>.jsonl, not appended to the master, watermark unchanged
  --date      the daily file's date (default today)
  --timeout   seconds to wait for the queued job (default 600)`

const KNOWN = new Set(['inline', 'dry-run', 'since', 'until', 'date', 'timeout', 'help'])

function iso(flag: string, v: string | true | undefined): string | undefined {
  if (v === undefined) return undefined
  if (v === true)
    throw new CliUsageError(`--${flag} needs an ISO-8601 timestamp, e.g. --${flag} 2024-05-01T00:00:00Z`)
  const s = /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v
  const ok = ExportPayloadSchema.shape.since.safeParse(s).success && !Number.isNaN(Date.parse(s))
  if (!ok) {
    throw new CliUsageError(
      `--${flag} "${v}" is not an ISO-8601 timestamp (expected e.g. 2024-05-01 or 2024-05-01T00:00:00Z)`,
    )
  }
  return s
}

/** Validates `npm run export:ft` flags; every problem names the flag. */
export function parseExportCli(
  flags: Record<string, string | true>,
  positionals: string[] = [],
): ExportCliOptions {
  for (const k of Object.keys(flags)) {
    if (!KNOWN.has(k)) {
      throw new CliUsageError(
        `unknown flag --${k} (expected --inline, --dry-run, --since, --until, --date, --timeout)`,
      )
    }
  }
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"`)
  for (const b of ['inline', 'dry-run'] as const) {
    if (flags[b] !== undefined && flags[b] !== true)
      throw new CliUsageError(`--${b} takes no value (got "${flags[b]}")`)
  }
  const since = iso('since', flags.since)
  const until = iso('until', flags.until)
  if (since && until && Date.parse(since) >= Date.parse(until)) {
    throw new CliUsageError(`--since (${since}) must be before --until (${until})`)
  }
  let date: string | undefined
  if (flags.date !== undefined) {
    if (
      flags.date === true ||
      !/^\d{4}-\d{2}-\d{2}$/.test(flags.date) ||
      Number.isNaN(Date.parse(flags.date))
    ) {
      throw new CliUsageError(
        `--date needs YYYY-MM-DD (got ${flags.date === true ? 'nothing' : `"${flags.date}"`})`,
      )
    }
    date = flags.date
  }
  let timeoutMs = 600_000
  if (flags.timeout !== undefined) {
    const n = Number(flags.timeout)
    if (flags.timeout === true || !Number.isFinite(n) || n <= 0) {
      throw new CliUsageError(`--timeout needs a number of seconds > 0 (got ${String(flags.timeout)})`)
    }
    timeoutMs = n * 1000
  }
  return {
    inline: flags.inline === true,
    timeoutMs,
    payload: ExportPayloadSchema.parse({
      trigger: 'manual',
      dryRun: flags['dry-run'] === true,
      since,
      until,
      date,
    }),
  }
}

/** The summary the script prints. */
export function formatExportSummary(r: ExportResult): string {
  const pii = Object.entries(r.pii)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')
  return [
    `export ${r.status}${r.runId !== undefined ? ` (run ${r.runId}, ${r.kind})` : ` (${r.kind})`} for ${r.date}`,
    `  rows read:        ${r.rowsRead}`,
    `  examples:         ${r.examples}${r.invalid ? ` (${r.invalid} dropped by format checks: ${JSON.stringify(r.invalidByKind)})` : ''}`,
    ...formatReport(r.curation),
    `  PII replaced:     ${pii || 'none'}`,
    `  bytes:            ${r.bytes}`,
    `  files:            ${r.files.join(', ') || 'none'}`,
    `  pending users:    ${r.pendingUsers} (unanswered turns carried to the next run)`,
    `  watermark:        ${r.watermark ? `${r.watermark.createdAt} #${r.watermark.id}` : 'unchanged'}`,
    `  tune enqueued:    ${r.tuneEnqueued ? 'yes' : 'no'}`,
    ...(r.recovered ? [`  recovered run:    ${r.recovered.runId} (${r.recovered.examples} examples)`] : []),
    `  duration:         ${r.durationMs} ms`,
  ].join('\n')
}
