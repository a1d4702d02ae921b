import { addPiiCounts, type PiiCounts, redactPII } from '@loopdm/training-data/redaction'
import type { PendingTurn } from '../repositories/export-runs.repository.js'
import type { MessageRow, Position } from '../repositories/messages.repository.js'

/** Text marker an image becomes in training data (the URL itself is never exported). */
export const IMAGE_MARKER = '[image]'

export interface FtMessage {
  role: 'system' | 'user' | 'assistant'
  content: string
}

export interface Example {
  igUserId: string
  /** Serialised as one JSONL line: exactly `messages`, each message exactly role/content. */
  example: { messages: FtMessage[] }
}

interface UserState {
  user: string[]
  assistant: string[]
  /** Where the user's current (unanswered) turn starts: becomes the carry-over if the window ends. */
  userFrom: Position | undefined
}

/**
 * Turns a per-run stream of rows (any users, in (created_at, id) order) into training examples:
 * per user, consecutive same-role turns are merged, a user turn followed by an assistant turn is one
 * example `{"messages":[system, user, assistant]}`, images become `[image]`, empty turns are dropped
 * and PII is redacted from every turn before it is kept. An assistant turn with no user turn before
 * it (the answer of an already exported pair continuing, or a greeting) trains nothing and is dropped.
 *
 * A pair is emitted when the user's next turn arrives or at `finish()`; a user turn still unanswered
 * at `finish()` is returned as pending so the next run can complete it.
 */
export function createPairer(opts: { systemPrompt: string }) {
  const users = new Map<string, UserState>()
  const pii: PiiCounts = {}
  const system: FtMessage = { role: 'system', content: opts.systemPrompt }

  const emit = (igUserId: string, s: UserState): Example => {
    const example = {
      messages: [
        system,
        { role: 'user' as const, content: s.user.join('\n') },
        { role: 'assistant' as const, content: s.assistant.join('\n') },
      ],
    }
    s.user = []
    s.assistant = []
    s.userFrom = undefined
    return { igUserId, example }
  }

  return {
    pii,
    /** Feeds one row; returns the example it completed, if any. */
    push(row: MessageRow): Example | undefined {
      if (row.role !== 'user' && row.role !== 'assistant') return undefined
      let text = row.content.trim()
      if (row.hasImage) text = text === '' ? IMAGE_MARKER : `${text} ${IMAGE_MARKER}`
      if (text === '') return undefined
      const r = redactPII(text)
      addPiiCounts(pii, r.counts)
      let s = users.get(row.igUserId)
      if (!s) {
        s = { user: [], assistant: [], userFrom: undefined }
        users.set(row.igUserId, s)
      }
      if (row.role === 'user') {
        const done = s.assistant.length > 0 ? emit(row.igUserId, s) : undefined
        if (s.user.length === 0) s.userFrom = { createdAt: row.createdAt, id: row.id }
        s.user.push(r.text)
        return done
      }
      if (s.user.length === 0) return undefined
      s.assistant.push(r.text)
      return undefined
    },
    /** Ends the window: completed pairs, and the unanswered user turns to carry over. */
    finish(): { examples: Example[]; pending: PendingTurn[] } {
      const examples: Example[] = []
      const pending: PendingTurn[] = []
      for (const [igUserId, s] of users) {
        if (s.user.length > 0 && s.assistant.length > 0) examples.push(emit(igUserId, s))
        else if (s.user.length > 0 && s.userFrom) {
          pending.push({ igUserId, fromCreatedAt: s.userFrom.createdAt, fromId: s.userFrom.id })
        }
      }
      users.clear()
      return { examples, pending }
    },
  }
}
