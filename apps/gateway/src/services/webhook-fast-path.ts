import type { MessageEventData } from './instagram-webhook.js'

/** The message fields the fast path leaves to the schema: their presence sends the event there. */
const SCHEMA_ONLY = [
  'is_echo',
  'is_self',
  'is_deleted',
  'is_unsupported',
  'attachments',
  'quick_reply',
  'reply_to',
  'referral',
] as const

const idOf = (party: unknown): string | undefined => {
  if (!party || typeof party !== 'object') return undefined
  const id = (party as { id?: unknown }).id
  if (typeof id === 'string') return id.length > 0 ? id : undefined
  return typeof id === 'number' ? String(id) : undefined
}

/**
 * The webhook's common event — a plain text message (`sender`, `recipient`, `timestamp`, `message`
 * with `mid` and `text` only) — checked by hand, as the schema would decide it: the same data for
 * an event it accepts, undefined for anything else (the caller then runs the schema, which decides).
 * The schema costs more than the rest of the parse on this path.
 */
export function plainMessageEvent(ev: object): MessageEventData | undefined {
  const e = ev as { sender?: unknown; recipient?: unknown; timestamp?: unknown; message?: unknown }
  const msg = e.message as Record<string, unknown> | null | undefined
  if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return undefined
  const { mid, text } = msg
  if (typeof mid !== 'string' || mid.length === 0) return undefined
  if (text !== undefined && typeof text !== 'string') return undefined
  for (const k of SCHEMA_ONLY) if (msg[k] !== undefined) return undefined
  const ts = e.timestamp
  if (ts !== undefined && (typeof ts !== 'number' || !Number.isFinite(ts))) return undefined
  const sender = idOf(e.sender)
  const recipient = idOf(e.recipient)
  if (sender === undefined || recipient === undefined) return undefined
  return {
    sender: { id: sender },
    recipient: { id: recipient },
    ...(ts !== undefined ? { timestamp: ts } : {}),
    message: text !== undefined ? { mid, text } : { mid },
  }
}
