import { invalidRequest } from '../errors.js'

/**
 * Parsing and validation of a chat completion request, the parts openai-local understands, with
 * OpenAI's messages and params. Per-model rules (reasoning models) are applied after the model is
 * resolved (model/request-rules.ts).
 */
const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function'])
/** What OpenAI bills a low-detail image; openai-local does not look at pixels. */
export const IMAGE_TOKENS = 85

export interface Part {
  type: string
  text?: string
  image_url?: { url?: string }
}
export interface Msg {
  role: string
  content: string | Part[] | null
}

/** Validates the request as OpenAI does (the parts openai-local understands) and returns the messages. */
export function parseRequest(body: unknown) {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalidRequest('The request body must be a JSON object.')
  const b = body as Record<string, unknown>
  if (typeof b.model !== 'string' || b.model === '')
    throw invalidRequest('you must provide a model parameter', 'model')
  if (!Array.isArray(b.messages) || b.messages.length === 0)
    throw invalidRequest("'messages' must be a non-empty array.", 'messages')
  const maxTokens = b.max_completion_tokens ?? b.max_tokens
  if (
    maxTokens !== undefined &&
    maxTokens !== null &&
    (!Number.isInteger(maxTokens) || (maxTokens as number) < 1)
  )
    throw invalidRequest(
      `Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got ${JSON.stringify(maxTokens)} instead.`,
      'max_tokens',
      'integer_below_min_value',
    )
  const t = b.temperature
  if (t !== undefined && t !== null && (typeof t !== 'number' || t < 0 || t > 2))
    throw invalidRequest(
      `Invalid 'temperature': expected a number between 0 and 2, got ${JSON.stringify(t)}.`,
      'temperature',
    )
  const n = b.n ?? 1
  if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > 128)
    throw invalidRequest("Invalid 'n': expected an integer in 1..128.", 'n')
  const messages: Msg[] = []
  let images = 0
  b.messages.forEach((raw, i) => {
    const m = raw as Record<string, unknown>
    if (typeof m !== 'object' || m === null || typeof m.role !== 'string' || !ROLES.has(m.role))
      throw invalidRequest(
        `Invalid value for 'messages[${i}].role': expected one of system, developer, user, assistant, tool.`,
        `messages.[${i}].role`,
      )
    const c = m.content
    if (c === null || c === undefined) {
      if (m.role !== 'assistant')
        throw invalidRequest(
          `Invalid value for 'messages[${i}].content': expected a string or an array, got null.`,
          `messages.[${i}].content`,
        )
      messages.push({ role: m.role, content: null })
      return
    }
    if (typeof c === 'string') {
      messages.push({ role: m.role, content: c })
      return
    }
    if (!Array.isArray(c))
      throw invalidRequest(
        `Invalid type for 'messages[${i}].content': expected a string or an array.`,
        `messages.[${i}].content`,
      )
    c.forEach((p: Part, j) => {
      const param = `messages.[${i}].content.[${j}].type`
      if (p?.type === 'text') {
        if (typeof p.text !== 'string')
          throw invalidRequest(
            `Missing required parameter: 'messages[${i}].content[${j}].text'.`,
            `messages.[${i}].content.[${j}].text`,
          )
      } else if (p?.type === 'image_url') {
        if (typeof p.image_url?.url !== 'string')
          throw invalidRequest(
            `Missing required parameter: 'messages[${i}].content[${j}].image_url.url'.`,
            `messages.[${i}].content.[${j}].image_url`,
          )
        // Like OpenAI, which fetches the image: a host that cannot resolve (RFC 2606 `.invalid`)
        // is a 400 invalid_image_url.
        if (/^https?:\/\/[^/?#]*\.invalid(?::\d+)?(?:[/?#]|$)/i.test(p.image_url.url))
          throw invalidRequest(
            `Error while downloading ${p.image_url.url}.`,
            `messages.[${i}].content.[${j}].image_url.url`,
            'invalid_image_url',
          )
        images++
      } else {
        throw invalidRequest(
          `Invalid value: '${String(p?.type)}'. Supported values are: 'text' and 'image_url'.`,
          param,
          'invalid_value',
        )
      }
    })
    messages.push({ role: m.role, content: c as Part[] })
  })
  return {
    model: b.model,
    messages,
    maxTokens: (maxTokens ?? undefined) as number | undefined,
    n: n as number,
    images,
    stream: b.stream === true,
    /** As sent, for the per-model rules. */
    raw: { max_tokens: b.max_tokens, temperature: b.temperature },
    includeUsage: (b.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true,
  }
}

export const textOf = (c: Msg['content']) =>
  c === null
    ? ''
    : typeof c === 'string'
      ? c
      : c
          .filter((p) => p.type === 'text')
          .map((p) => p.text ?? '')
          .join('\n')
