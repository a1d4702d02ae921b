import { existsSync, readdirSync, realpathSync } from 'node:fs'
import { isAbsolute, join, relative, resolve } from 'node:path'

/**
 * The one description of the export directory (`EXPORT_DIR`). Everything that reads or writes it —
 * the exporter, retention, the tuner's since-last file, the evaluator's hold-out, the GDPR erase,
 * scripts — names its files through this module:
 *
 * - `fine_tune_<YYYY-MM-DD>.jsonl` daily files; `.part<N>` when EXPORT_OVERSIZE=split; `.gz` after
 *   30 days (retention).
 * - `master_fine_tune.jsonl`: every daily file appended exactly once.
 * - `fine_tune_backfill_<since>_<until>.jsonl`: a `--since/--until` export, not appended to the master.
 * - `archive/fine_tune_archive_<YYYY-MM>.jsonl.gz`: a month of old daily files (retention).
 * - `tune/since_<from>_<to>.jsonl`: the tuner's since-last training file.
 * - `<data file>.manifest`: one line per data line, `<pseudonymous user key>\t<export date>\t<source>`
 *   (source: `human` | `import` | `bot`, where the answer came from; manifests written before
 *   curation have two columns), so a GDPR erase can find a user's lines, retention can age master
 *   lines out and the tuner can count the human share.
 * - `<daily file>.report.json`: what the day's runs included (by source) and excluded (by reason).
 * - `<data file>.uploaded`: written by the tuner once the file was uploaded to the provider.
 * - `.export.lock`: the directory lock (export-lock.ts).
 */

export const MASTER_FILE = 'master_fine_tune.jsonl'
export const ARCHIVE_DIR = 'archive'
export const TUNE_DIR = 'tune'
export const LOCK_FILE = '.export.lock'

/** A daily file's name: date, optional `.partN`, optional `.gz`. */
export const DAILY_RE = /^fine_tune_(\d{4}-\d{2}-\d{2})(?:\.part(\d+))?\.jsonl(\.gz)?$/

/** A daily file (or part) not yet gzipped. */
export function isPlainDailyFileName(name: string): boolean {
  const m = DAILY_RE.exec(name)
  return m !== null && m[3] === undefined
}

export const dailyName = (date: string, part: number) =>
  part <= 1 ? `fine_tune_${date}.jsonl` : `fine_tune_${date}.part${part}.jsonl`

/** `since`/`until` are ISO timestamps (or absent); ':' and '.' are dropped from the name. */
export const backfillName = (since: string | undefined, until: string | undefined) =>
  `fine_tune_backfill_${(since ?? 'start').replace(/[:.]/g, '')}_${(until ?? 'now').replace(/[:.]/g, '')}.jsonl`

/** `month` is YYYY-MM. */
export const archiveName = (month: string) => `fine_tune_archive_${month}.jsonl.gz`

/** The since-last training file for the daily exports `from`..`to` (YYYY-MM-DD), under `tune/`. */
export const sinceLastName = (from: string, to: string) => `since_${from}_${to}.jsonl`

/** The sidecar manifest of a data file. Every data file that holds conversation text has one. */
export const manifestPath = (file: string) => `${file}.manifest`

/** One manifest line: the user's pseudonymous key (pseudonym.ts), the export date, the answer's source. */
export const manifestLine = (key: string, date: string, source?: string) =>
  source ? `${key}\t${date}\t${source}\n` : `${key}\t${date}\n`

/** Where a manifest line's answer came from; `undefined` for a line written before curation. */
export function manifestSource(line: string): 'human' | 'import' | 'bot' | undefined {
  const s = line.split('\t')[2]?.trim()
  return s === 'human' || s === 'import' || s === 'bot' ? s : undefined
}

/** The marker the tuner writes beside a training file once it is uploaded (provider-copies.ts). */
export const uploadedMarkerPath = (file: string) => `${file}.uploaded`

/** A data file the GDPR erase rewrites: `.jsonl` or `.jsonl.gz`, not hidden (temps start with '.'). */
export const isDataFileName = (name: string) => !name.startsWith('.') && /\.jsonl(\.gz)?$/.test(name)

export interface DailyFile {
  name: string
  /** Absolute (or `dir`-relative) path: `join(dir, name)`. */
  file: string
  date: string
  part: number
  gz: boolean
}

/** Daily files (and parts, gzipped or not) present in `dir`, by date then part. */
export function listDailyFiles(dir: string): DailyFile[] {
  if (!existsSync(dir)) return []
  const out: DailyFile[] = []
  for (const name of readdirSync(dir)) {
    const m = DAILY_RE.exec(name)
    if (m)
      out.push({
        name,
        file: join(dir, name),
        date: m[1] as string,
        part: m[2] ? Number(m[2]) : 1,
        gz: Boolean(m[3]),
      })
  }
  return out.sort((a, b) => a.date.localeCompare(b.date) || a.part - b.part)
}

/**
 * `file` as a path inside `exportDir`, or null when it points anywhere else (`..`, an absolute
 * path elsewhere, a symlink out of the directory). A relative `file` is read against the working
 * directory first (`exports/master_fine_tune.jsonl`), then against `exportDir` (`master_fine_tune.jsonl`).
 */
export function fileInsideExportDir(exportDir: string, file: string): string | null {
  const root = realOrSelf(resolve(exportDir))
  const candidates = isAbsolute(file) ? [resolve(file)] : [resolve(file), resolve(exportDir, file)]
  for (const c of candidates) {
    const real = realOrSelf(c)
    const rel = relative(root, real)
    if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) return real
  }
  return null
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p)
  } catch {
    return p
  }
}
