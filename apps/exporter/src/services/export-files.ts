import { createReadStream, existsSync, promises as fsp } from 'node:fs'
import { basename, dirname } from 'node:path'

/**
 * File primitives of the export: buffered writes, fsync, atomic replace, and the byte-range
 * append to the master. The directory's layout (file names, manifests, markers) is
 * `@loopdm/training-data/export-layout`; its lock is `@loopdm/training-data/export-lock`.
 */

const BUFFER_BYTES = 1 << 20
/**
 * Reads of whole files (the master append, a continued daily file, line counts) in 1 MiB chunks:
 * with the stream's default 64 KiB, appending a 1M-message night (~335 MB) to the master took
 * 0.56–0.74 s of reads and writes; in 1 MiB chunks 0.26–0.34 s (the fsync after it is the same).
 */
const READ_CHUNK = { highWaterMark: 1 << 20 } as const
const NEWLINE = Buffer.from('\n')

/**
 * Appends through a 1 MiB buffer; counts bytes and lines. Lines are encoded straight into the
 * buffer (no per-line `line + "\n"` string, no joined chunk, no second copy into a Buffer); a
 * flush hands the filled buffer to the write and carries on in a spare one.
 */
export class BufferedFile {
  private buf: Buffer = Buffer.allocUnsafe(BUFFER_BYTES)
  private spare: Buffer | undefined
  private used = 0
  /** What did not fit in the buffer, in order (written after it). */
  private overflow: Buffer[] = []
  bytes = 0
  lines = 0
  private constructor(
    readonly path: string,
    private readonly fh: fsp.FileHandle,
  ) {}

  static async create(path: string): Promise<BufferedFile> {
    await fsp.mkdir(dirname(path), { recursive: true })
    return new BufferedFile(path, await fsp.open(path, 'w'))
  }

  /**
   * Buffers `text` (whole lines; with `newline`, one line and its "\n" added here) without
   * awaiting; true when the buffer is due a `flush()`. Synchronous so the per-line path of a
   * million-row export allocates no promise. `byteLength` is the UTF-8 size of `text` when the
   * caller knows it already.
   */
  push(text: string | Buffer, lines = 1, newline = false, byteLength?: number): boolean {
    const n =
      (typeof text === 'string' ? (byteLength ?? Buffer.byteLength(text)) : text.length) + (newline ? 1 : 0)
    if (this.overflow.length === 0 && this.used + n <= this.buf.length) {
      if (typeof text === 'string') this.buf.write(text, this.used, 'utf8')
      else text.copy(this.buf, this.used)
      if (newline) this.buf[this.used + n - 1] = 10
      this.used += n
    } else {
      // A Buffer is the caller's to give away (copyInto's read chunks): kept, not copied.
      this.overflow.push(typeof text === 'string' ? Buffer.from(text, 'utf8') : text)
      if (newline) this.overflow.push(NEWLINE)
    }
    this.bytes += n
    this.lines += lines
    return this.overflow.length > 0 || this.used >= this.buf.length - (this.buf.length >> 4)
  }

  /** Writes `text` (one or more whole lines). */
  async write(text: string | Buffer, lines = 1): Promise<void> {
    if (this.push(text, lines)) await this.flush()
  }

  async flush(): Promise<void> {
    if (this.used === 0 && this.overflow.length === 0) return
    const full = this.buf
    const used = this.used
    const overflow = this.overflow
    this.buf = this.spare ?? Buffer.allocUnsafe(BUFFER_BYTES)
    this.spare = undefined
    this.used = 0
    this.overflow = []
    if (used > 0) await this.fh.write(full, 0, used)
    for (const b of overflow) await this.fh.write(b)
    this.spare = full
  }

  /** Flushes, fsyncs and closes. */
  async close(): Promise<void> {
    await this.flush()
    await this.fh.sync()
    await this.fh.close()
  }

  async abort(): Promise<void> {
    await this.fh.close().catch(() => {})
    await fsp.rm(this.path, { force: true })
  }
}

/** Copies an existing file into a fresh BufferedFile (a second run on the same date continues it). */
export async function copyInto(src: string, dst: BufferedFile, lines: number): Promise<void> {
  for await (const chunk of createReadStream(src, READ_CHUNK) as AsyncIterable<Buffer>)
    await dst.write(chunk, 0)
  dst.lines += lines
}

export async function fileSize(path: string): Promise<number> {
  try {
    return (await fsp.stat(path)).size
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw err
  }
}

/** Lines in a file (counts '\n'). */
export async function countLines(path: string): Promise<number> {
  if (!existsSync(path)) return 0
  let n = 0
  for await (const chunk of createReadStream(path, READ_CHUNK) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++
  }
  return n
}

/**
 * Appends bytes [from, end) of `src` to `dst`, first truncating `dst` to `dstOffset`: whatever a
 * crashed earlier attempt appended past the recorded offset is discarded, so the append happens
 * exactly once however often it is retried. fsyncs before returning. `onHalf` runs after half
 * the bytes are written and synced (a test hook to crash mid-append).
 */
export async function appendRange(
  src: string,
  from: number,
  dst: string,
  dstOffset: number,
  onHalf?: () => Promise<void>,
): Promise<number> {
  const size = await fileSize(dst)
  if (size < dstOffset) {
    throw new Error(`${basename(dst)} is ${size} bytes, shorter than the recorded offset ${dstOffset}`)
  }
  const fh = await fsp.open(dst, existsSync(dst) ? 'r+' : 'w')
  try {
    await fh.truncate(dstOffset)
    const total = (await fileSize(src)) - from
    let pos = dstOffset
    let written = 0
    let halfDone = !onHalf || total < 2
    if (total > 0) {
      for await (const chunk of createReadStream(src, {
        ...READ_CHUNK,
        start: from,
      }) as AsyncIterable<Buffer>) {
        let buf = chunk
        if (!halfDone && written + buf.length >= total / 2) {
          const cut = Math.ceil(total / 2) - written
          await fh.write(buf.subarray(0, cut), 0, cut, pos)
          pos += cut
          written += cut
          buf = buf.subarray(cut)
          await fh.sync()
          halfDone = true
          await onHalf?.()
        }
        if (buf.length > 0) {
          await fh.write(buf, 0, buf.length, pos)
          pos += buf.length
          written += buf.length
        }
      }
    }
    await fh.sync()
    return written
  } finally {
    await fh.close()
  }
}
