import type { TrainingPair } from '../state/store.js'

/**
 * In-context learning: the demonstrations a chat request carries, as user → assistant pairs a base
 * model answers from by nearest neighbour (nearest.ts), like a fine-tuned model from its training.
 *
 * Two shapes, both read:
 * 1. Messages: every assistant message before the live (last) user message whose previous
 *    non-system message is a user message makes one pair (few-shot turns, or earlier turns of the
 *    conversation). This is the shape the gateway sends.
 * 2. System (or developer) text: blocks of a `Customer:` line and a `Shop:` line —
 *    ```
 *    Customer: Do you ship to Austria?
 *    Shop: Yes, 3–5 days, €6.
 *    ```
 *    A turn's text runs until the next `Customer:`/`Shop:` line or a blank line (labels are
 *    case-insensitive); a `Customer:` block without a `Shop:` line is ignored.
 */
export interface ChatTurn {
  role: string
  text: string
}

const LABEL = /^\s*(customer|shop)\s*:\s?(.*)$/i

/** `Customer:`/`Shop:` blocks of one system text, in order. */
export function parseSystemDemonstrations(text: string): TrainingPair[] {
  const pairs: TrainingPair[] = []
  let user: string[] | undefined
  let shop: string[] | undefined
  let current: string[] | undefined
  const flush = () => {
    if (user && shop) {
      const u = user.join('\n').trim()
      const a = shop.join('\n').trim()
      if (u !== '' && a !== '') pairs.push({ user: u, assistant: a })
    }
    if (shop) user = undefined
    shop = undefined
  }
  for (const line of text.split(/\r?\n/)) {
    const m = LABEL.exec(line)
    if (m) {
      if ((m[1] as string).toLowerCase() === 'customer') {
        flush()
        user = [m[2] as string]
        current = user
      } else if (user) {
        if (shop) flush()
        shop = [m[2] as string]
        current = shop
      } else {
        current = undefined
      }
    } else if (line.trim() === '') {
      current = undefined
    } else {
      current?.push(line)
    }
  }
  flush()
  return pairs
}

/** Every demonstration of a request: system-text blocks first, then message pairs, in order. */
export function demonstrationsOf(turns: readonly ChatTurn[]): TrainingPair[] {
  let live = -1
  for (let i = turns.length - 1; i >= 0; i--)
    if ((turns[i] as ChatTurn).role === 'user') {
      live = i
      break
    }
  const fromSystem: TrainingPair[] = []
  const fromMessages: TrainingPair[] = []
  let previous: ChatTurn | undefined
  for (let i = 0; i < (live < 0 ? turns.length : live); i++) {
    const t = turns[i] as ChatTurn
    if (t.role === 'system' || t.role === 'developer') {
      fromSystem.push(...parseSystemDemonstrations(t.text))
      continue
    }
    if (t.role === 'assistant' && previous?.role === 'user') {
      const u = previous.text.trim()
      const a = t.text.trim()
      if (u !== '' && a !== '') fromMessages.push({ user: u, assistant: a })
    }
    previous = t
  }
  return [...fromSystem, ...fromMessages]
}
