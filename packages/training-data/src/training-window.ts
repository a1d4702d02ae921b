import { createReadStream, createWriteStream, existsSync, promises as fsp } from 'node:fs'
import { basename, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { manifestPath } from './export-layout.js'

/** The part of a training file one tune trains on, and what it left out. */
export interface TrainingWindow {
  path: string
  /** Examples in the source file. */
  total: number
  /** Examples in the window (the newest). */
  examples: number
  leftOut: number
  /** What bounded the window, when something was left out. */
  limitedBy: 'FT_MAX_EXAMPLES' | 'file size' | null
  maxBytes: number
}

/**
 * Where the newest lines of `file` start so that at most `maxLines` lines and `maxBytes` bytes
 * remain: reads backwards in 1 MiB chunks, so the cost is the window's size, not the file's.
 */
async function tailStart(
  file: string,
  maxLines: number,
  maxBytes: number,
): Promise<{ start: number; lines: number; limitedBy: TrainingWindow['limitedBy'] }> {
  const fh = await fsp.open(file, 'r')
  try {
    const size = (await fh.stat()).size
    let start = size
    let lines = 0
    let pos = size
    // The last byte is the final line's newline: it starts no line.
    let end = size > 0 ? size - 1 : 0
    const buf = Buffer.alloc(1 << 20)
    while (end > 0) {
      pos = Math.max(0, end - buf.length)
      const n = end - pos
      await fh.read(buf, 0, n, pos)
      for (let i = n - 1; i >= 0; i--) {
        if (buf[i] !== 10) continue
        const s = pos + i + 1
        if (lines + 1 > maxLines) return { start, lines, limitedBy: 'FT_MAX_EXAMPLES' }
        if (size - s > maxBytes) return { start, lines, limitedBy: 'file size' }
        start = s
        lines++
      }
      end = pos
    }
    if (size === 0) return { start: 0, lines: 0, limitedBy: null }
    if (lines + 1 > maxLines) return { start, lines, limitedBy: 'FT_MAX_EXAMPLES' }
    if (size > maxBytes) return { start, lines, limitedBy: 'file size' }
    return { start: 0, lines: lines + 1, limitedBy: null }
  } finally {
    await fh.close()
  }
}

async function copyRange(src: string, start: number, dst: string): Promise<void> {
  const tmp = `${dst}.tmp-${process.pid}`
  await pipeline(createReadStream(src, { start }), createWriteStream(tmp))
  await fsp.rename(tmp, dst)
}

/**
 * The newest examples of `file` within `maxExamples` and `maxBytes` (FT_MAX_EXAMPLES, the
 * provider's file-size limit): the file itself when it fits, else `outDir/window_<n>of<total>_…`
 * with the matching manifest lines (so a GDPR erase finds the user's lines there too). The same
 * file and limits give the same window (and so the same sha256 and the same job).
 */
export async function trainingWindow(
  file: string,
  o: { maxExamples: number; maxBytes: number; outDir: string },
): Promise<TrainingWindow> {
  const t = await tailStart(file, o.maxExamples, o.maxBytes)
  if (t.limitedBy === null)
    return {
      path: file,
      total: t.lines,
      examples: t.lines,
      leftOut: 0,
      limitedBy: null,
      maxBytes: o.maxBytes,
    }
  let total = t.lines
  for await (const chunk of createReadStream(file, {
    end: Math.max(0, t.start - 1),
  }) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) total++
  }
  if (t.start === 0) total = t.lines
  await fsp.mkdir(o.outDir, { recursive: true })
  const size = (await fsp.stat(file)).size
  const out = join(o.outDir, `window_${t.lines}of${total}_${size}_${basename(file)}`)
  await copyRange(file, t.start, out)
  const manifest = manifestPath(file)
  if (existsSync(manifest)) {
    const m = await tailStart(manifest, t.lines, Number.POSITIVE_INFINITY)
    await copyRange(manifest, m.start, manifestPath(out))
  }
  return {
    path: out,
    total,
    examples: t.lines,
    leftOut: total - t.lines,
    limitedBy: t.limitedBy,
    maxBytes: o.maxBytes,
  }
}
