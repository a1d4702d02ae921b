import { createReadStream, createWriteStream, existsSync, promises as fsp } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'
import type { Logger } from '@loopdm/platform/logger'
import { isDataFileName, manifestPath, uploadedMarkerPath } from './export-layout.js'
import { acquireDirLock } from './export-lock.js'
import { type SettleDb, type SettledRun, settleInFlightExport } from './export-settle.js'
import { fsyncDir } from './fs-atomic.js'
import { userKeyCandidates } from './pseudonym.js'

export interface EraseFromExportsOptions {
  exportDir: string
  igUserId: string
  /** Optional: without it nothing is logged. */
  logger?: Logger | undefined
  /** How long to wait for a running export to release the directory; default 2 min. */
  lockTimeoutMs?: number
  /** PSEUDONYM_SECRET: lines are found by the HMAC key and by the legacy unsalted key. */
  pseudonymSecret?: string | undefined
  /**
   * The database holding `export_runs`: an export run a dead exporter left in flight is rolled
   * back first (export-settle.ts). Without it such a run is left alone.
   */
  db?: SettleDb | undefined
}

export interface EraseFromExportsResult {
  /** Export files (data + manifest pairs) that held the user's lines and were rewritten. */
  files: number
  /** Lines removed over all files. */
  lines: number
  /**
   * Rewritten files that had already been uploaded to the provider (a `<file>.uploaded` marker
   * next to them): the local copy is clean, the provider's copy needs deleting separately.
   */
  uploadedFiles: string[]
  /** Paths of every rewritten file (the provider-copy lookup matches uploads by path). */
  erasedFiles: string[]
  /** The in-flight export run rolled back before erasing, if there was one. */
  settledRun?: SettledRun | undefined
}

/** Data files with a manifest, in `dir` and its subfolders (archive/). */
async function exportFiles(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory() && !e.name.startsWith('.')) out.push(...(await exportFiles(p)))
    else if (e.isFile() && isDataFileName(e.name) && existsSync(manifestPath(p))) {
      out.push(p)
    }
  }
  return out.sort()
}

async function readManifestKeys(path: string): Promise<string[]> {
  const text = await fsp.readFile(path, 'utf8')
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  return lines.map((l) => {
    const tab = l.indexOf('\t')
    return tab === -1 ? l : l.slice(0, tab)
  })
}

async function syncFile(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

async function writeAtomically(path: string, lines: string[]): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.erase-${process.pid}`)
  await fsp.writeFile(tmp, lines.length === 0 ? '' : `${lines.join('\n')}\n`)
  await syncFile(tmp)
  await fsp.rename(tmp, path)
}

/**
 * The GDPR erase of export files: removes every line of `igUserId` (found by its pseudonymous key in the sidecar
 * manifests) from every export file — daily, parts, backfills, master, gzipped and archived ones —
 * rewriting data and manifest atomically (temp, fsync, rename) and keeping them aligned. Holds the
 * export directory lock so it never races an export's append. Idempotent: a second call finds
 * nothing and returns zero counts. A file whose manifest does not match its line count is left
 * untouched and logged as an error (deleting by a misaligned manifest would remove the wrong lines).
 */
export async function eraseUserFromExports(o: EraseFromExportsOptions): Promise<EraseFromExportsResult> {
  const userKeys = new Set(userKeyCandidates(o.igUserId, o.pseudonymSecret))
  const result: EraseFromExportsResult = { files: 0, lines: 0, uploadedFiles: [], erasedFiles: [] }
  if (!existsSync(o.exportDir)) return result
  const release = await acquireDirLock(o.exportDir, { timeoutMs: o.lockTimeoutMs, what: 'GDPR erase' })
  try {
    // A run a dead exporter left in flight is rolled back first (never renamed over the erase).
    if (o.db) result.settledRun = await settleInFlightExport(o.db, o.logger)
    for (const file of await exportFiles(o.exportDir)) {
      const mPath = manifestPath(file)
      const keys = await readManifestKeys(mPath)
      if (!keys.some((k) => userKeys.has(k))) continue
      const gz = file.endsWith('.gz')
      const manifestLines = (await fsp.readFile(mPath, 'utf8')).split('\n')
      if (manifestLines[manifestLines.length - 1] === '') manifestLines.pop()
      const tmp = join(dirname(file), `.${basename(file)}.erase-${process.pid}`)
      // Stream the data file through the filter into a temp file (constant memory for the master).
      let seen = 0
      let removed = 0
      const kept = async function* () {
        const input = gz ? createReadStream(file).pipe(createGunzip()) : createReadStream(file)
        for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
          if (userKeys.has(keys[seen++] as string)) removed++
          else yield `${line}\n`
        }
      }
      if (gz) await pipeline(kept, createGzip(), createWriteStream(tmp))
      else await pipeline(kept, createWriteStream(tmp))
      if (seen !== keys.length) {
        await fsp.rm(tmp, { force: true })
        o.logger?.error(
          { file: basename(file), lines: seen, manifestLines: keys.length },
          'export file and manifest are misaligned; left untouched',
        )
        continue
      }
      await syncFile(tmp)
      // Both are complete, synced files before either rename; data first, then manifest.
      await fsp.rename(tmp, file)
      await writeAtomically(
        mPath,
        manifestLines.filter((_, j) => !userKeys.has(keys[j] as string)),
      )
      await fsyncDir(dirname(file))
      result.files++
      result.lines += removed
      result.erasedFiles.push(file)
      if (existsSync(uploadedMarkerPath(file))) result.uploadedFiles.push(file)
      o.logger?.info({ file: basename(file), lines: removed }, 'erased user lines from export file')
    }
  } finally {
    await release()
  }
  o.logger?.info(
    { files: result.files, lines: result.lines, uploadedFiles: result.uploadedFiles.length },
    'GDPR erase of export files done',
  )
  return result
}
