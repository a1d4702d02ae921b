import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { TrainingDataRefusedError } from '@loopdm/platform/errors'
import { countChatTokens } from '@loopdm/platform/tokens'
import { manifestPath } from '@loopdm/training-data/export-layout'

/** One demonstration read from an export file (the serving layout, PII already redacted). */
export interface ExemplarSourceItem {
  userKey: string | null
  /** The customer turn(s) right before the shop's answer, joined by newlines. */
  prompt: string
  answer: string
  tokens: number
}

interface Msg {
  role?: unknown
  content?: unknown
  weight?: unknown
}

/**
 * The demonstration of one training line: its last assistant turn (unless weighted 0: curation
 * marks earlier/unusable answers that way) and the user turn(s) right before it.
 */
export function demonstrationOf(line: unknown): { prompt: string; answer: string } | null {
  const messages = (line as { messages?: Msg[] } | null)?.messages
  if (!Array.isArray(messages)) return null
  let i = messages.length - 1
  while (i >= 0 && messages[i]?.role !== 'assistant') i--
  const last = messages[i]
  if (!last || last.weight === 0 || typeof last.content !== 'string' || !last.content.trim()) return null
  const prompt: string[] = []
  for (let j = i - 1; j >= 0 && messages[j]?.role === 'user'; j--) {
    const c = messages[j]?.content
    if (typeof c === 'string' && c.trim()) prompt.unshift(c.trim())
  }
  if (prompt.length === 0) return null
  return { prompt: prompt.join('\n'), answer: last.content.trim() }
}

/**
 * Reads an export file and its manifest into demonstrations. Refuses a file without a manifest:
 * an exemplar whose customer is unknown could not be erased (GDPR), so it is never stored.
 * `contentHash` covers the demonstrations, their user keys and the embedding model: identical
 * data → the same hash → the same exemplar set.
 */
export function readExemplarSource(
  path: string,
  embeddingModel: string,
  /** Demonstrations to hold out (gold items, see gold-holdout.ts): counted in `heldOut`, never stored. */
  holdOut: (prompt: string) => boolean = () => false,
): { items: ExemplarSourceItem[]; contentHash: string; skipped: number; heldOut: number } {
  const mpath = manifestPath(path)
  if (!existsSync(mpath))
    throw new TrainingDataRefusedError(
      `${basename(path)} has no manifest (${basename(mpath)}), so a GDPR erase could not find its customers' exemplars; re-export it`,
    )
  const keys = readFileSync(mpath, 'utf8').split('\n')
  const lines = readFileSync(path, 'utf8').split('\n')
  const hash = createHash('sha256').update(`exemplars-v1\n${embeddingModel}\n`)
  const items: ExemplarSourceItem[] = []
  let skipped = 0
  let heldOut = 0
  lines.forEach((raw, n) => {
    if (!raw.trim()) return
    let demo: { prompt: string; answer: string } | null = null
    try {
      demo = demonstrationOf(JSON.parse(raw))
    } catch {
      demo = null
    }
    if (!demo) {
      skipped++
      return
    }
    if (holdOut(demo.prompt)) {
      heldOut++
      return
    }
    const userKey = keys[n]?.split('\t')[0] || null
    // The pair as it sits inside a prompt: its two messages, without the reply priming.
    const tokens =
      countChatTokens([
        { role: 'user', content: demo.prompt },
        { role: 'assistant', content: demo.answer },
      ]) - 3
    hash.update(`${userKey ?? ''}\t${JSON.stringify(demo)}\n`)
    items.push({ userKey, ...demo, tokens })
  })
  return { items, contentHash: hash.digest('hex'), skipped, heldOut }
}
