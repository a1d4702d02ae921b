/**
 * Buffers a connection's incoming bytes as a list of chunks and hands out whole messages.
 *
 * The first version concatenated the buffer with every TCP chunk (`Buffer.concat([buf, chunk])`),
 * so a 16 MB Bind arriving in 64 KB chunks copied ~2 GB: quadratic. Here each byte is copied at
 * most once, when the message it belongs to is taken.
 */
export class ChunkReader {
  private chunks: Buffer[] = []
  /** Read offset into chunks[0]. */
  private offset = 0
  private size = 0

  /** Bytes buffered and not yet taken. */
  get length(): number {
    return this.size
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.size += chunk.length
  }

  /** Byte `i` past the read position (caller checks `length`). */
  byteAt(i: number): number {
    let rest = i + this.offset
    for (const c of this.chunks) {
      if (rest < c.length) return c[rest] as number
      rest -= c.length
    }
    throw new RangeError('byteAt past the buffered data')
  }

  /** Big-endian int32 at `i` past the read position (caller checks `length >= i + 4`). */
  int32At(i: number): number {
    const b = Buffer.from([this.byteAt(i), this.byteAt(i + 1), this.byteAt(i + 2), this.byteAt(i + 3)])
    return b.readInt32BE(0)
  }

  /** Removes and returns the next `n` bytes (caller checks `length >= n`). */
  take(n: number): Buffer {
    const first = this.chunks[0]
    if (first && first.length - this.offset >= n) {
      const out = first.subarray(this.offset, this.offset + n)
      this.advance(n)
      return out
    }
    const out = Buffer.allocUnsafe(n)
    let written = 0
    while (written < n) {
      const c = this.chunks[0] as Buffer
      const k = Math.min(c.length - this.offset, n - written)
      c.copy(out, written, this.offset, this.offset + k)
      written += k
      this.advance(k)
    }
    return out
  }

  /** Drops the next `n` bytes. */
  skip(n: number): void {
    let rest = n
    while (rest > 0) {
      const c = this.chunks[0] as Buffer
      const k = Math.min(c.length - this.offset, rest)
      this.advance(k)
      rest -= k
    }
  }

  private advance(n: number): void {
    this.offset += n
    this.size -= n
    const c = this.chunks[0]
    if (c && this.offset >= c.length) {
      this.chunks.shift()
      this.offset = 0
    }
  }
}

/**
 * Follows the message boundaries of the engine's output (type byte + int32 length) across the
 * chunks it streams, remembering the last message type and the last ReadyForQuery status
 * (`I` idle, `T` in a transaction, `E` in a failed one). A connection gives the engine back only
 * when its last output was ReadyForQuery `I`: a COPY FROM STDIN in progress (CopyInResponse, no
 * ReadyForQuery yet), an extended-protocol sequence before its Sync, or an open transaction all
 * keep it.
 */
export class OutputTracker {
  lastType = 0
  readyStatus = 0
  private header: number[] = []
  private remaining = 0

  feed(d: Uint8Array): void {
    let i = 0
    while (i < d.length) {
      if (this.remaining > 0) {
        const k = Math.min(this.remaining, d.length - i)
        // ReadyForQuery's body is its one status byte.
        if (this.lastType === 0x5a && this.remaining === 1) this.readyStatus = d[i] as number
        this.remaining -= k
        i += k
        continue
      }
      this.header.push(d[i] as number)
      i++
      if (this.header.length === 5) {
        const [t, a, b, c, e] = this.header as [number, number, number, number, number]
        this.lastType = t
        this.remaining = (((a << 24) | (b << 16) | (c << 8) | e) >>> 0) - 4
        this.header = []
      }
    }
  }
}

/** A NUL-terminated string at `from` and the offset after its NUL (the end when there is none). */
export const cstring = (b: Buffer, from: number): [string, number] => {
  const end = b.indexOf(0, from)
  return end < 0 ? ['', b.length] : [b.toString('utf8', from, end), end + 1]
}

/** A frontend Sync message ('S', length 4). */
export const SYNC = new Uint8Array([0x53, 0, 0, 0, 4])
