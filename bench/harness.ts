/**
 * The benchmark harness: each `bench/*.bench.ts` default-exports a function returning rows; the
 * runner prints one line per row — name, figure, baseline measured in the same run, ratio — through
 * bench/report.ts (which also writes them as JSON with `--json`).
 */
export interface BenchRow {
  name: string
  /** The figure under test, e.g. req/s or ms. */
  value: number
  /** The baseline measured in the same run, same unit. */
  baseline: number
  unit: string
  /** `higher` (throughput) or `lower` (latency) is better; ratio is always value/baseline. */
  better: 'higher' | 'lower'
  /** Optional target on the ratio or the value, printed beside it. */
  target?: string
  /** Extra context printed after the row (recall, RSS …). */
  note?: string
  /** Whether the target holds, when `target` is not of the form bench/report.ts checks itself. */
  pass?: boolean
}

export type Bench = () => Promise<BenchRow[]>

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i] as number
}

/** Runs `fn` n times, returning the sorted durations in ms. */
export async function timeMany(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await fn(i)
    out.push(performance.now() - t)
  }
  return out.sort((a, b) => a - b)
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  if (Math.abs(n) >= 1000) return n.toFixed(0)
  if (Math.abs(n) >= 10) return n.toFixed(1)
  return n.toFixed(3)
}
