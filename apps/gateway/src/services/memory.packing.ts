import { countTokens } from '@loopdm/platform/tokens'

/**
 * Pure parts of memory: the bounded extract stored as `content_summary`, and packing recalled and
 * recent turns into the prompt's token budget. No I/O here, so they are unit-tested directly.
 */

/** Turns longer than this get a `content_summary`; the summary is at most this long. */
export const SUMMARY_MAX_CHARS = 280

/**
 * A short, bounded extract of a long turn (no model call): whole leading sentences up to
 * `maxChars`, else the first words cut at a word boundary with an ellipsis. `null` for turns that
 * are short enough to be their own summary.
 */
export function summarise(content: string, maxChars = SUMMARY_MAX_CHARS): string | null {
  const text = content.replace(/\s+/g, ' ').trim()
  if (text.length <= maxChars) return null
  const sentences = text.match(/[^.!?]+(?:[.!?]+|$)\s*/g) ?? []
  let out = ''
  for (const s of sentences) {
    if ((out + s).trimEnd().length > maxChars) break
    out += s
  }
  out = out.trim()
  if (out.length > 0) return out
  const cut = text.slice(0, maxChars - 1)
  const space = cut.lastIndexOf(' ')
  return `${(space > maxChars / 2 ? cut.slice(0, space) : cut).trimEnd()}…`
}

export interface MemoryTurn {
  id: number
  role: 'user' | 'assistant'
  content: string
  contentSummary: string | null
  createdAt: Date
  /** Cosine similarity to the query (recalled turns only). */
  score?: number
}

export interface PromptMessage {
  role: 'user' | 'assistant'
  content: string
}

/**
 * Tokens one message costs in a chat prompt, counted with the real tokenizer the way OpenAI bills
 * chat messages: content + role + 3 tokens of framing (see shared/tokens countChatTokens).
 */
export function messageTokens(m: PromptMessage): number {
  return 3 + countTokens(m.role) + countTokens(m.content)
}

export interface PackResult {
  messages: PromptMessage[]
  /** Recalled (vector) turns that made it into the context. */
  recalled: number
  /** Recent (live conversation) turns that made it in. */
  recent: number
  tokens: number
}

/**
 * Packs turns into `maxTokens`, never exceeding it:
 * 1. candidates are de-duplicated by id (a turn that is both recent and recalled counts as recent);
 * 2. priority: the live conversation's recent turns newest first, then the recalled turns newest
 *    first (every recalled turn already cleared the min score and the top-k cut) — "newest-relevant
 *    first", so a newer statement ("my new address is …") wins over an older one;
 * 3. each turn goes in whole if it fits, else as its `content_summary` if that fits, else it is
 *    skipped (a smaller, lower-priority turn may still fit);
 * 4. the chosen turns are returned in chronological order (oldest first), as the model expects a
 *    conversation.
 */
export function packTurns(args: {
  recent: MemoryTurn[]
  recalled: MemoryTurn[]
  maxTokens: number
}): PackResult {
  const seen = new Set<number>()
  const newestFirst = (a: MemoryTurn, b: MemoryTurn) =>
    b.createdAt.getTime() - a.createdAt.getTime() || b.id - a.id
  const queue: Array<{ turn: MemoryTurn; recalled: boolean }> = []
  for (const t of [...args.recent].sort(newestFirst)) {
    if (seen.has(t.id)) continue
    seen.add(t.id)
    queue.push({ turn: t, recalled: false })
  }
  for (const t of [...args.recalled].sort(newestFirst)) {
    if (seen.has(t.id)) continue
    seen.add(t.id)
    queue.push({ turn: t, recalled: true })
  }
  let tokens = 0
  const chosen: Array<{ turn: MemoryTurn; recalled: boolean; message: PromptMessage }> = []
  for (const c of queue) {
    const options = [c.turn.content, c.turn.contentSummary].filter(
      (s): s is string => typeof s === 'string' && s.trim() !== '',
    )
    for (const content of options) {
      const message: PromptMessage = { role: c.turn.role, content }
      const cost = messageTokens(message)
      if (tokens + cost <= args.maxTokens) {
        tokens += cost
        chosen.push({ ...c, message })
        break
      }
    }
  }
  chosen.sort((a, b) => a.turn.createdAt.getTime() - b.turn.createdAt.getTime() || a.turn.id - b.turn.id)
  return {
    messages: chosen.map((c) => c.message),
    recalled: chosen.filter((c) => c.recalled).length,
    recent: chosen.filter((c) => !c.recalled).length,
    tokens,
  }
}
