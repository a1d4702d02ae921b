import { createRequire } from 'node:module'

type Encode = (text: string) => number[]
let encode: Encode | undefined

/**
 * gpt-tokenizer's BPE ranks cost ~75 MB of memory once loaded: loaded on the first count, so a
 * process that rarely counts (the exporter counts only examples near the token limit) never pays.
 */
function encoder(): Encode {
  encode ??= (createRequire(import.meta.url)('gpt-tokenizer') as { encode: Encode }).encode
  return encode
}

/** Real token count (o200k/cl100k-compatible BPE from gpt-tokenizer) of one text. */
export function countTokens(text: string): number {
  return text.length === 0 ? 0 : encoder()(text).length
}

export interface ChatMessageLike {
  role: string
  content: string | null | Array<{ type: string; text?: string }>
}

function contentText(c: ChatMessageLike['content']): string {
  if (c === null) return ''
  if (typeof c === 'string') return c
  return c.map((p) => (p.type === 'text' ? (p.text ?? '') : '')).join('\n')
}

/**
 * Tokens of a chat prompt as OpenAI bills it: per message 3 tokens of framing plus role and
 * content, plus 3 tokens priming the reply (the cookbook's formula for current chat models).
 */
export function countChatTokens(messages: ChatMessageLike[]): number {
  let n = 3
  for (const m of messages) n += 3 + countTokens(m.role) + countTokens(contentText(m.content))
  return n
}
