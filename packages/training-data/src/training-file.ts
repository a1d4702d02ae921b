import { existsSync, readFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import type { Config } from '@loopdm/platform/config'
import { TrainingDataRefusedError } from '@loopdm/platform/errors'
import { listDailyFiles, MASTER_FILE, manifestPath, sinceLastName, TUNE_DIR } from './export-layout.js'
import { writeFileAtomic } from './fs-atomic.js'

/** Where training data came from: `file`, `master` or `since-last`. */
export type TrainingDataSource = 'file' | 'master' | 'since-last'

export interface PickedTrainingData {
  path: string
  source: TrainingDataSource
  /** Last daily export (YYYY-MM-DD) included, when known. */
  dataThrough: string | null
}

/**
 * Which file to train on. An explicit file wins; else `FT_TRAINING_DATA`: `master` (the whole
 * master file) or `since-last` (the daily exports newer than the last succeeded job's
 * `dataThrough`, concatenated into `EXPORT_DIR/tune/since_<from>_<to>.jsonl`, written atomically
 * and deterministically so the same days give the same sha256 and hence the same job).
 */
export async function pickTrainingData(opts: {
  config: Config
  file?: string | undefined
  lastDataThrough?: string | null | undefined
}): Promise<PickedTrainingData> {
  const dir = resolve(opts.config.export.dir)
  const dailies = listDailyFiles(dir)
  const latest = dailies.at(-1)?.date ?? null
  if (opts.file) {
    const path = resolve(opts.file)
    if (!existsSync(path)) throw new TrainingDataRefusedError(`training file ${opts.file} does not exist`)
    return { path, source: 'file', dataThrough: null }
  }
  if (opts.config.finetune.trainingData === 'since-last' && opts.lastDataThrough) {
    const since = opts.lastDataThrough
    const fresh = dailies.filter((d) => d.date > since)
    if (fresh.length === 0)
      throw new TrainingDataRefusedError(
        `no daily export newer than ${since} (the last tuned model's data) in ${dir}: nothing new to tune on`,
      )
    const gz = fresh.filter((d) => d.gz)
    if (gz.length > 0)
      throw new TrainingDataRefusedError(
        `daily exports ${gz.map((d) => d.date).join(', ')} are already archived (gzipped); pass --file or use FT_TRAINING_DATA=master`,
      )
    const first = fresh[0]?.date as string
    const last = fresh.at(-1)?.date as string
    const outDir = join(dir, TUNE_DIR)
    await mkdir(outDir, { recursive: true })
    const path = join(outDir, sinceLastName(first, last))
    const lines = (file: string) => {
      const s = readFileSync(file, 'utf8')
      return s.length === 0 || s.endsWith('\n') ? s : `${s}\n`
    }
    // The manifests are concatenated alongside, so a GDPR erase finds the user's lines here too.
    const missing = fresh.filter((d) => !existsSync(manifestPath(d.file)))
    if (missing.length > 0)
      throw new TrainingDataRefusedError(
        `daily exports ${missing.map((d) => basename(d.file)).join(', ')} have no manifest (${basename(manifestPath(missing[0]?.file ?? ''))}), so a GDPR erase could not find their lines in the training file; re-export them or pass --file`,
      )
    await writeFileAtomic(manifestPath(path), fresh.map((d) => lines(manifestPath(d.file))).join(''))
    await writeFileAtomic(path, fresh.map((d) => lines(d.file)).join(''))
    return { path, source: 'since-last', dataThrough: last }
  }
  const master = join(dir, MASTER_FILE)
  if (!existsSync(master))
    throw new TrainingDataRefusedError(
      `no training data: ${master} does not exist (run npm run export:ft first)`,
    )
  return { path: master, source: 'master', dataThrough: latest }
}
