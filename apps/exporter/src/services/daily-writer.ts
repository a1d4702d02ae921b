import { existsSync } from 'node:fs'
import { basename, join } from 'node:path'
import { dailyName, listDailyFiles, manifestPath } from '@loopdm/training-data/export-layout'
import { ExportTooLargeError } from '../errors.js'
import type { FilePlan } from '../repositories/export-runs.repository.js'
import { BufferedFile, copyInto, countLines, fileSize } from './export-files.js'

export interface DailyWriterOptions {
  dir: string
  /** YYYY-MM-DD: names the daily file and goes into every manifest line. */
  date: string
  runId: number
  maxBytes: number
  oversize: 'refuse' | 'split'
  /** A fixed file name (backfills) instead of the daily name and parts. */
  fileName?: string
}

interface Current {
  plan: FilePlan
  data: BufferedFile
  manifest: BufferedFile
}

/**
 * Writes a run's lines to temp files next to their final names, enforcing EXPORT_MAX_BYTES: with
 * `refuse` the run fails the moment a file would exceed it; with `split` the next line opens
 * `fine_tune_<date>.part<N>.jsonl`. A second run on the same date continues the day's last file
 * (its content is copied into the temp file first), so there is still one file per day.
 */
export class DailyWriter {
  private current: Current | undefined
  private readonly done: FilePlan[] = []
  private part = 1

  constructor(private readonly o: DailyWriterOptions) {}

  private names(part: number) {
    const name = this.o.fileName ?? dailyName(this.o.date, part)
    const final = join(this.o.dir, name)
    return {
      final,
      temp: join(this.o.dir, `.${name}.tmp-run${this.o.runId}`),
      manifestFinal: manifestPath(final),
      manifestTemp: join(this.o.dir, `.${name}.manifest.tmp-run${this.o.runId}`),
    }
  }

  private async open(part: number, continueExisting: boolean): Promise<Current> {
    const n = this.names(part)
    const data = await BufferedFile.create(n.temp)
    const manifest = await BufferedFile.create(n.manifestTemp)
    let baseBytes = 0
    let baseLines = 0
    let baseManifestBytes = 0
    if (continueExisting && existsSync(n.final)) {
      baseLines = await countLines(n.final)
      await copyInto(n.final, data, baseLines)
      baseBytes = data.bytes
      if (existsSync(n.manifestFinal)) await copyInto(n.manifestFinal, manifest, baseLines)
      baseManifestBytes = manifest.bytes
    }
    this.part = part
    return {
      data,
      manifest,
      plan: { ...n, baseBytes, baseLines, baseManifestBytes, bytes: 0, lines: 0, manifestBytes: 0 },
    }
  }

  /** Opens the first file: the date's last existing part when it still has room. */
  async start(): Promise<void> {
    if (this.o.fileName) {
      this.current = await this.open(1, false)
      return
    }
    const parts = listDailyFiles(this.o.dir).filter((f) => f.date === this.o.date && !f.gz)
    const last = parts[parts.length - 1]
    if (!last) {
      this.current = await this.open(1, true)
      return
    }
    const full =
      this.o.oversize === 'split' && (await fileSize(join(this.o.dir, last.name))) >= this.o.maxBytes
    this.current = await this.open(full ? last.part + 1 : last.part, !full)
  }

  /**
   * Adds one example line (no newline; `lineBytes` its UTF-8 size when the caller has it) and its
   * manifest line. Returns a promise only when it has I/O to do (a buffer flush or a new part), so
   * the common path stays synchronous.
   */
  add(line: string, manifestLine: string, lineBytes?: number): Promise<void> | undefined {
    const cur = this.current
    if (!cur) throw new Error('DailyWriter.add before start')
    const n = lineBytes ?? Buffer.byteLength(line)
    if (cur.data.bytes + n + 1 > this.o.maxBytes) return this.rollOver(`${line}\n`, manifestLine)
    const a = cur.data.push(line, 1, true, n)
    const b = cur.manifest.push(manifestLine)
    return a || b ? this.flush() : undefined
  }

  private async rollOver(text: string, manifestLine: string): Promise<void> {
    const cur = this.current as Current
    const n = Buffer.byteLength(text)
    const name = basename(cur.plan.final)
    if (this.o.oversize === 'refuse') {
      throw new ExportTooLargeError(
        `${name} would exceed EXPORT_MAX_BYTES (${this.o.maxBytes} bytes); nothing was written and the watermark did not move. Raise EXPORT_MAX_BYTES or set EXPORT_OVERSIZE=split.`,
      )
    }
    if (cur.data.lines === 0 || n > this.o.maxBytes) {
      throw new ExportTooLargeError(
        `one example is ${n} bytes, over EXPORT_MAX_BYTES (${this.o.maxBytes}) on its own`,
      )
    }
    await this.seal(cur)
    this.current = await this.open(this.part + 1, false)
    await this.current.data.write(text)
    await this.current.manifest.write(manifestLine)
  }

  async flush(): Promise<void> {
    await this.current?.data.flush()
    await this.current?.manifest.flush()
  }

  private async seal(cur: Current): Promise<void> {
    await cur.data.close()
    await cur.manifest.close()
    this.done.push({
      ...cur.plan,
      bytes: cur.data.bytes,
      lines: cur.data.lines,
      manifestBytes: cur.manifest.bytes,
    })
  }

  /** Flushes and fsyncs every temp file; returns their plans (nothing is renamed yet). */
  async close(): Promise<FilePlan[]> {
    if (this.current) await this.seal(this.current)
    this.current = undefined
    return this.done
  }

  /** Removes every temp file written so far. */
  async abort(): Promise<void> {
    const { rm } = await import('node:fs/promises')
    if (this.current) {
      await this.current.data.abort()
      await this.current.manifest.abort()
    }
    for (const p of this.done) {
      await rm(p.temp, { force: true })
      await rm(p.manifestTemp, { force: true })
    }
  }
}
