import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import type { FtProblemKind } from '@loopdm/training-data/ft-format'
import type { PiiCounts } from '@loopdm/training-data/redaction'
import type { RunKind } from '../repositories/export-runs.repository.js'
import type { Position } from '../repositories/messages.repository.js'
import type { ExportPausePoint } from './export-recovery.js'
import type { CurationReport } from './export-report.js'

/** What the export service is given and what a run returns (shared by the service and its steps). */

export interface ExportServiceOptions {
  db: Pool
  config: Config
  logger: Logger
  /** Export directory; default config.export.dir (resolved against the cwd). */
  exportDir?: string
  /** Enqueues `tune` after a nightly run that added ≥ FT_MIN_EXAMPLES (when auto-tune is on). */
  enqueueTune?: (date: string) => Promise<boolean>
  /**
   * Rows per keyset page; default 2,000: a page and its prefetched successor stay small enough to
   * die in V8's young generation under the exporter's heap cap (10,000-row pages were promoted
   * and cost ~20 % more GC).
   */
  batchSize?: number
  /** A progress line (and a lease heartbeat) every this many rows; default 100,000. */
  progressEvery?: number
  /** A run whose heartbeat is older than this is presumed dead; default 10 min. */
  leaseMs?: number
  /** Carried-over unanswered user turns older than this are dropped; default 30 days. */
  pendingMaxAgeMs?: number
  now?: () => Date
  /** Test hook: at this point `onPause` is awaited (the test kills the process there). */
  pauseAt?: ExportPausePoint
  onPause?: (point: ExportPausePoint) => Promise<void>
}

export interface ExportResult {
  status: 'committed' | 'dry-run'
  kind: RunKind
  runId: number | undefined
  date: string
  files: string[]
  rowsRead: number
  examples: number
  /** Examples dropped because they failed the fine-tuning format checks. */
  invalid: number
  invalidByKind: Partial<Record<FtProblemKind, number>>
  bytes: number
  pii: PiiCounts
  /** What curation included (by source) and excluded (by reason): the run's report. */
  curation: CurationReport
  pendingUsers: number
  durationMs: number
  /**
   * Where the time went: reading + pairing + redacting + writing temp files (curateInit: the
   * curation's one-off queries, dedupe: the duplicate checks, both part of read), fsync,
   * rename + master append + commit.
   */
  phaseMs: { read: number; fsync: number; finish: number; curateInit: number; dedupe: number }
  watermark: Position | undefined
  tuneEnqueued: boolean
  /** The nightly VACUUM after a committed nightly job (export.processor.ts), when it ran. */
  vacuumMs?: number
  /** A crashed run this call finished before starting its own. */
  recovered: { runId: number; examples: number } | undefined
}
