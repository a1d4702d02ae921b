import type { Logger } from '@loopdm/platform/logger'
import type { MemoryRepository } from '../repositories/memory.repository.js'

/**
 * Memory's quantised pass in the gateway's own memory (issue 20). On the embedded Postgres the SQL
 * pass (memory.repository.ts searchQuantized) costs ~1–1.5 µs of executor time per turn — the scan,
 * not the Hamming distance — so a 10,000-turn user's recall was 5–12 ms. Here each mid-sized
 * user's binary codes (`embedding_bq`, 192 bytes a turn) are kept in a typed array and ranked in
 * JavaScript (~0.1 µs a turn); only the few candidates go back to Postgres, for the exact re-rank
 * (`rerank`), which also makes deletions safe: a turn erased or expired since is simply not found.
 *
 * Staying current: every recall first asks for the codes embedded since the entry's mark (one
 * indexed range scan, run beside the query embedding), so a turn is searchable as soon as its
 * embedding is written. The mark is the embedding sequence's value, read in the same statement as
 * the rows; a row given a number below it whose transaction commits after that statement's
 * snapshot (a race of one statement's length on a real Postgres, none on the embedded one) is
 * picked up by the full reload every `reloadMs`. Bounded by `maxBytes` (least recently used users go first).
 */

/** 1,536 bits = 48 32-bit words per code (text-embedding-3-small's dimensions, the schema's). */
export const CODE_BYTES = 192
const WORDS = CODE_BYTES / 4

/** Bits set in every 16-bit value: a popcount is two lookups. */
const POP16 = (() => {
  const t = new Uint8Array(65536)
  for (let i = 1; i < 65536; i++) t[i] = (i & 1) + (t[i >>> 1] as number)
  return t
})()

/**
 * pgvector's `binary_quantize(v)` (bit i = v[i] > 0, the first dimension in the first byte's high
 * bit), as 48 words laid out as the stored codes are.
 */
export function queryCode(v: readonly number[]): Uint32Array {
  if (v.length !== CODE_BYTES * 8) throw new Error(`query vector has ${v.length} dimensions, expected 1536`)
  const bytes = new Uint8Array(CODE_BYTES)
  for (let i = 0; i < v.length; i++) if ((v[i] as number) > 0) bytes[i >>> 3]! |= 0x80 >>> (i & 7)
  return new Uint32Array(bytes.buffer)
}

interface Entry {
  ids: Float64Array
  codes: Uint32Array
  n: number
  seen: Set<number>
  /** The embedding sequence's value at the last read: the next refresh asks for rows above it. */
  mark: number
  loadedAt: number
  /** What `bytes` counted for this entry when it was put (`seen` grows in place afterwards). */
  counted: number
}

/**
 * Memory a V8 `Set` of numbers takes per entry, on average (16–21 bytes measured at 1M entries,
 * up to twice that right after its table grows): counted with the codes and ids, so the bound is
 * about the memory the cache really holds.
 */
export const SEEN_ENTRY_BYTES = 24

export interface CodeCacheOptions {
  repo: Pick<MemoryRepository, 'codesOf'>
  /** Memory the codes, their ids and the per-turn id set may use in all; 0 turns the cache off. */
  maxBytes: number
  /** A user's entry is reloaded from scratch after this long (deletions, races). Default 10 min. */
  reloadMs?: number
  logger?: Logger | undefined
}

export type CodeCache = ReturnType<typeof createCodeCache>

export function createCodeCache(opts: CodeCacheOptions) {
  const reloadMs = opts.reloadMs ?? 600_000
  const entries = new Map<string, Entry>()
  const loading = new Map<string, Promise<void>>()
  let bytes = 0

  const sizeOf = (e: Entry) => e.codes.byteLength + e.ids.byteLength + e.seen.size * SEEN_ENTRY_BYTES

  function append(e: Entry, ids: string, codes: Buffer): Entry {
    if (ids === '') return e
    const list = ids.split(',')
    if (codes.length !== list.length * CODE_BYTES)
      throw new Error(`codes: ${codes.length} bytes for ${list.length} turns (expected ${CODE_BYTES} each)`)
    let fresh = 0
    for (const id of list) if (!e.seen.has(Number(id))) fresh++
    if (fresh === 0) return e
    let cur = e
    if (e.n + fresh > e.ids.length) {
      const cap = Math.max(64, (e.n + fresh) * 2)
      const grown: Entry = {
        ...e,
        ids: new Float64Array(cap),
        codes: new Uint32Array(cap * WORDS),
      }
      grown.ids.set(e.ids.subarray(0, e.n))
      grown.codes.set(e.codes.subarray(0, e.n * WORDS))
      cur = grown
    }
    // Copied through an aligned buffer: a Buffer's offset into its pool need not be a multiple of 4.
    const words = new Uint32Array(new Uint8Array(codes).buffer)
    for (let i = 0; i < list.length; i++) {
      const id = Number(list[i])
      if (cur.seen.has(id)) continue
      cur.seen.add(id)
      cur.ids[cur.n] = id
      cur.codes.set(words.subarray(i * WORDS, (i + 1) * WORDS), cur.n * WORDS)
      cur.n++
    }
    return cur
  }

  /**
   * Users whose codes alone exceed `maxBytes`, and when that was seen: they stay on the SQL pass
   * until the next reload period instead of being re-read on every recall.
   */
  const tooLarge = new Map<string, number>()

  function put(user: string, e: Entry) {
    const old = entries.get(user)
    if (old) bytes -= old.counted
    entries.delete(user)
    e.counted = sizeOf(e)
    if (e.counted > opts.maxBytes) {
      tooLarge.set(user, Date.now())
      return
    }
    entries.set(user, e)
    bytes += e.counted
    for (const [u, x] of entries) {
      if (bytes <= opts.maxBytes || u === user) break
      entries.delete(u)
      bytes -= x.counted
    }
  }

  /** Reads every code of the user (in the background: the caller uses the SQL pass meanwhile). */
  function load(user: string): Promise<void> {
    const pending = loading.get(user)
    if (pending) return pending
    const started = performance.now()
    const p: Promise<void> = opts.repo
      .codesOf(user, null)
      .then(({ mark, ids, codes }) => {
        if (loading.get(user) !== p) return // forgotten while loading
        const empty: Entry = {
          ids: new Float64Array(0),
          codes: new Uint32Array(0),
          n: 0,
          seen: new Set(),
          mark,
          loadedAt: Date.now(),
          counted: 0,
        }
        const e = append(empty, ids, codes)
        put(user, e)
        opts.logger?.debug(
          { turns: e.n, ms: Math.round(performance.now() - started) },
          'memory: codes loaded',
        )
      })
      .catch((err: Error) => opts.logger?.warn({ err: err.message }, 'memory: loading codes failed'))
      .finally(() => {
        if (loading.get(user) === p) loading.delete(user)
      })
    loading.set(user, p)
    return p
  }

  /** Loads the user's codes unless held, loading, or known to be too large (failures are logged). */
  function warm(user: string): Promise<void> {
    const big = tooLarge.get(user)
    if (big !== undefined && Date.now() - big > reloadMs) tooLarge.delete(user)
    if (opts.maxBytes <= 0 || entries.has(user) || tooLarge.has(user)) return Promise.resolve()
    return load(user)
  }

  return {
    enabled: opts.maxBytes > 0,
    /** Whether the user's codes are held (a refresh is then worth running). */
    has: (user: string) => entries.has(user),
    /** The number of codes held for the user, if any. */
    size: (user: string) => entries.get(user)?.n,
    bytes: () => bytes,
    warm,

    /**
     * Brings the user's entry up to date (codes embedded since its mark) and returns whether it
     * can serve this recall. Without an entry it starts a background load and returns false.
     */
    async refresh(user: string): Promise<boolean> {
      if (opts.maxBytes <= 0) return false
      const e = entries.get(user)
      if (!e) {
        void warm(user)
        return false
      }
      const got = await opts.repo.codesOf(user, e.mark)
      const cur = entries.get(user)
      if (cur !== e) return cur !== undefined // reloaded or forgotten meanwhile
      const next = append(e, got.ids, got.codes)
      next.mark = Math.max(e.mark, got.mark)
      put(user, next)
      if (!entries.has(user)) return false // outgrew the bound
      if (Date.now() - next.loadedAt > reloadMs) void load(user)
      return true
    },

    /** The ids of the `count` codes nearest to the query's (Hamming), skipping `exclude`. */
    nearest(user: string, vector: readonly number[], count: number, exclude: ReadonlySet<number>): number[] {
      const e = entries.get(user)
      if (!e || count <= 0) return []
      const q = queryCode(vector)
      const best = new Int32Array(count).fill(-1)
      const dist = new Uint16Array(count).fill(0xffff)
      let worst = 0xffff
      let filled = 0
      const { codes, ids, n } = e
      for (let r = 0, o = 0; r < n; r++, o += WORDS) {
        let d = 0
        for (let w = 0; w < WORDS; w++) {
          const x = ((codes[o + w] as number) ^ (q[w] as number)) >>> 0
          d += (POP16[x & 0xffff] as number) + (POP16[x >>> 16] as number)
        }
        if (d >= worst && filled === count) continue
        if (exclude.size > 0 && exclude.has(ids[r] as number)) continue
        // Insertion into the sorted top list.
        let i = filled < count ? filled++ : count - 1
        while (i > 0 && (dist[i - 1] as number) > d) {
          dist[i] = dist[i - 1] as number
          best[i] = best[i - 1] as number
          i--
        }
        dist[i] = d
        best[i] = r
        worst = filled === count ? (dist[count - 1] as number) : 0xffff
      }
      const out: number[] = []
      for (let i = 0; i < filled; i++) out.push(ids[best[i] as number] as number)
      return out
    },

    forget(user: string) {
      loading.delete(user)
      tooLarge.delete(user)
      const e = entries.get(user)
      if (!e) return
      entries.delete(user)
      bytes -= e.counted
    },
  }
}
