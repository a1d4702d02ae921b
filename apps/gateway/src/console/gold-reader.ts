import { readFile, stat } from 'node:fs/promises'

/** What the candidate page shows per gold item besides the replies: the customer text and the ideal. */
export interface GoldView {
  customer: string
  ideal: string
}

/** Gold items by id for an evaluation run's `gold_path`; null when the file is not readable here. */
export type GoldReader = (path: string) => Promise<Map<string, GoldView> | null>

/**
 * eval_items keep replies and scores but not the prompt or the ideal answer: they live in the gold
 * file the run names (`eval_runs.gold_path`, with its sha256). This reads that file (cached by
 * path + mtime); a gateway on another machine without the file shows the replies only.
 */
export function createFileGoldReader(): GoldReader {
  const cache = new Map<string, { mtimeMs: number; items: Map<string, GoldView> }>()
  return async (path) => {
    try {
      const st = await stat(path)
      const hit = cache.get(path)
      if (hit && hit.mtimeMs === st.mtimeMs) return hit.items
      const items = parseGoldLines(await readFile(path, 'utf8'))
      cache.set(path, { mtimeMs: st.mtimeMs, items })
      return items
    } catch {
      return null
    }
  }
}

export function parseGoldLines(text: string): Map<string, GoldView> {
  const items = new Map<string, GoldView>()
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    try {
      const j = JSON.parse(line) as { id?: unknown; messages?: unknown; ideal?: unknown }
      if (typeof j.id !== 'string' || !Array.isArray(j.messages)) continue
      const turns = j.messages.map((m: unknown) =>
        typeof m === 'string'
          ? `customer: ${m}`
          : `${(m as { role?: string }).role === 'assistant' ? 'shop' : 'customer'}: ${String((m as { content?: unknown }).content ?? '')}`,
      )
      items.set(j.id, { customer: turns.join('\n'), ideal: typeof j.ideal === 'string' ? j.ideal : '' })
    } catch {
      // a bad line is the evaluator's concern; the console shows what it can
    }
  }
  return items
}
