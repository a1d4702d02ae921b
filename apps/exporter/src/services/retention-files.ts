import { createReadStream, createWriteStream, existsSync, promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'
import {
  ARCHIVE_DIR,
  archiveName,
  type DailyFile,
  listDailyFiles,
  MASTER_FILE,
  manifestPath,
} from '@loopdm/training-data/export-layout'
import { fsyncDir } from '@loopdm/training-data/fs-atomic'

export interface RetentionAction {
  action: 'gzip' | 'archive' | 'trim-master' | 'delete-messages' | 'vacuum'
  target: string
  count: number
}

export interface RetentionResult {
  dryRun: boolean
  actions: RetentionAction[]
  gzipped: number
  archivedFiles: number
  archivedLines: number
  masterLinesRemoved: number
  messagesDeleted: number
  vacuumed: boolean
}

/** One retention pass: where it works, whether it only lists, and what it has done so far. */
export interface RetentionPass {
  dir: string
  dryRun: boolean
  result: RetentionResult
  /** Records (and logs) one action. */
  act: (a: RetentionAction) => void
}

async function syncAndRename(tmp: string, final: string): Promise<void> {
  const fh = await fsp.open(tmp, 'r')
  await fh.sync()
  await fh.close()
  await fsp.rename(tmp, final)
}

async function* lines(path: string): AsyncGenerator<string> {
  const input = path.endsWith('.gz') ? createReadStream(path).pipe(createGunzip()) : createReadStream(path)
  for await (const l of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) yield l
}

async function countLinesOf(path: string): Promise<number> {
  let n = 0
  for await (const _ of lines(path)) n++
  return n
}

/** 1. gzip daily files older than `gzipBefore` (files that the archive step takes anyway are skipped). */
export async function gzipOldDailies(
  p: RetentionPass,
  gzipBefore: string,
  archiveBefore: string,
): Promise<void> {
  const { dir } = p
  const daily = listDailyFiles(dir)
  for (const f of daily.filter((f) => !f.gz && f.date < gzipBefore && f.date >= archiveBefore)) {
    const src = join(dir, f.name)
    const count = await countLinesOf(src)
    p.act({ action: 'gzip', target: f.name, count })
    if (p.dryRun) continue
    const gzPath = `${src}.gz`
    const tmp = join(dir, `.${f.name}.gz.tmp-retention`)
    await pipeline(createReadStream(src), createGzip(), createWriteStream(tmp))
    await syncAndRename(tmp, gzPath)
    if (existsSync(manifestPath(src))) await fsp.rename(manifestPath(src), manifestPath(gzPath))
    await fsyncDir(dir)
    await fsp.rm(src, { force: true })
    p.result.gzipped++
  }
}

/** 2. archive daily files older than `archiveBefore`, one archive (+ manifest) per month. */
export async function archiveOldMonths(p: RetentionPass, archiveBefore: string): Promise<void> {
  const old = listDailyFiles(p.dir).filter((f) => f.date < archiveBefore)
  const byMonth = new Map<string, typeof old>()
  for (const f of old) {
    const m = f.date.slice(0, 7)
    byMonth.set(m, [...(byMonth.get(m) ?? []), f])
  }
  for (const [month, files] of byMonth) await archiveMonth(p, month, files)
}

async function archiveMonth(p: RetentionPass, month: string, files: DailyFile[]): Promise<void> {
  const { dir } = p
  const name = archiveName(month)
  const archivePath = join(dir, ARCHIVE_DIR, name)
  let count = 0
  for (const f of files) count += await countLinesOf(join(dir, f.name))
  p.act({
    action: 'archive',
    target: `${ARCHIVE_DIR}/${name} ← ${files.map((f) => f.name).join(', ')}`,
    count,
  })
  if (p.dryRun) return
  await fsp.mkdir(join(dir, ARCHIVE_DIR), { recursive: true })
  const sources = [...(existsSync(archivePath) ? [archivePath] : []), ...files.map((f) => join(dir, f.name))]
  const tmp = join(dir, ARCHIVE_DIR, `.${name}.tmp-retention`)
  const mTmp = join(dir, ARCHIVE_DIR, `.${name}.manifest.tmp-retention`)
  await pipeline(
    async function* () {
      for (const s of sources) for await (const l of lines(s)) yield `${l}\n`
    },
    createGzip(),
    createWriteStream(tmp),
  )
  await pipeline(async function* () {
    for (const s of sources)
      if (existsSync(manifestPath(s))) for await (const l of lines(manifestPath(s))) yield `${l}\n`
  }, createWriteStream(mTmp))
  await syncAndRename(tmp, archivePath)
  await syncAndRename(mTmp, manifestPath(archivePath))
  await fsyncDir(join(dir, ARCHIVE_DIR))
  for (const f of files) {
    await fsp.rm(join(dir, f.name), { force: true })
    await fsp.rm(manifestPath(join(dir, f.name)), { force: true })
  }
  p.result.archivedFiles += files.length
  p.result.archivedLines += count
}

/** 2b. removes the master's lines dated before `archiveBefore` (by the manifest's date column). */
export async function trimMaster(p: RetentionPass, archiveBefore: string): Promise<void> {
  const { dir } = p
  const master = join(dir, MASTER_FILE)
  if (!existsSync(master) || !existsSync(manifestPath(master))) return
  const mLines = (await fsp.readFile(manifestPath(master), 'utf8')).split('\n')
  if (mLines[mLines.length - 1] === '') mLines.pop()
  const drop = mLines.map((l) => (l.split('\t')[1] ?? '9999') < archiveBefore)
  const n = drop.filter(Boolean).length
  if (n === 0) return
  p.act({ action: 'trim-master', target: MASTER_FILE, count: n })
  if (p.dryRun) return
  const tmp = join(dir, `.${MASTER_FILE}.tmp-retention`)
  let i = 0
  await pipeline(async function* () {
    for await (const l of lines(master)) if (!drop[i++]) yield `${l}\n`
  }, createWriteStream(tmp))
  await fsp.writeFile(
    `${tmp}.manifest`,
    mLines
      .filter((_, j) => !drop[j])
      .map((l) => `${l}\n`)
      .join(''),
  )
  await syncAndRename(tmp, master)
  await syncAndRename(`${tmp}.manifest`, manifestPath(master))
  await fsyncDir(dir)
  p.result.masterLinesRemoved = n
}
