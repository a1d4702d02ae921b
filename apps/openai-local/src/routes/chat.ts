import { randomBytes } from 'node:crypto'
import { countChatTokens, countTokens } from '@loopdm/platform/tokens'
import type { FastifyInstance } from 'fastify'
import { decode, encode } from 'gpt-tokenizer'
import { invalidRequest } from '../errors.js'
import { nearestTrainedReply } from '../model/fine-tuned.js'
import { baseReply } from '../model/reply-policy.js'
import { nowSec, type RouteContext, resolveChatModel } from './context.js'

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function'])
/** What OpenAI bills a low-detail image; openai-local does not look at pixels. */
const IMAGE_TOKENS = 85

interface Part {
  type: string
  text?: string
  image_url?: { url?: string }
}
interface Msg {
  role: string
  content: string | Part[] | null
}

/** Validates the request as OpenAI does (the parts openai-local understands) and returns the messages. */
function parseRequest(body: unknown) {
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
    includeUsage: (b.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true,
  }
}

/** `stream: true`: the same answer as server-sent `chat.completion.chunk`s, word by word, then `[DONE]`. */
function sseBody(
  base: { id: string; created: number; model: string },
  content: string,
  n: number,
  finish: string,
  usage: unknown,
) {
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', system_fingerprint: 'fp_openai_local', choices, ...extra })}\n\n`
  const pieces = content.match(/\S+\s*|\s+/g) ?? []
  let out = ''
  for (let index = 0; index < n; index++) {
    out += chunk([
      {
        index,
        delta: { role: 'assistant', content: '', refusal: null },
        logprobs: null,
        finish_reason: null,
      },
    ])
    for (const p of pieces)
      out += chunk([{ index, delta: { content: p }, logprobs: null, finish_reason: null }])
    out += chunk([{ index, delta: {}, logprobs: null, finish_reason: finish }])
  }
  if (usage) out += chunk([], { usage })
  return `${out}data: [DONE]\n\n`
}

const textOf = (c: Msg['content']) =>
  c === null
    ? ''
    : typeof c === 'string'
      ? c
      : c
          .filter((p) => p.type === 'text')
          .map((p) => p.text ?? '')
          .join('\n')

export function chatRoutes(app: FastifyInstance, ctx: RouteContext) {
  app.post('/v1/chat/completions', async (req, reply) => {
    const r = parseRequest(req.body)
    const model = resolveChatModel(ctx, r.model)
    if (r.images > 0 && !model.vision) {
      const i = r.messages.findIndex(
        (m) => Array.isArray(m.content) && m.content.some((p) => p.type === 'image_url'),
      )
      const j = ((r.messages[i]?.content ?? []) as Part[]).findIndex((p) => p.type === 'image_url')
      throw invalidRequest(
        'Invalid content type. image_url is only supported by certain models.',
        `messages.[${i}].content.[${j}].type`,
      )
    }
    const lastUser = [...r.messages].reverse().find((m) => m.role === 'user')
    const userText = lastUser ? textOf(lastUser.content) : ''
    const hasImage = Array.isArray(lastUser?.content) && lastUser.content.some((p) => p.type === 'image_url')
    const trained = model.fineTuned ? nearestTrainedReply(model.fineTuned, userText) : undefined
    let content = trained?.reply ?? baseReply(userText, { hasImage })
    let finish: 'stop' | 'length' = 'stop'
    if (r.maxTokens !== undefined) {
      const toks = encode(content)
      if (toks.length > r.maxTokens) {
        content = decode(toks.slice(0, r.maxTokens))
        finish = 'length'
      }
    }
    ctx.logger?.debug({ model: model.id, trained: trained?.similarity ?? null }, 'chat completion')
    const promptTokens = countChatTokens(r.messages) + r.images * IMAGE_TOKENS
    const completionTokens = countTokens(content)
    const id = `chatcmpl-${randomBytes(12).toString('base64url')}`
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens * r.n,
      total_tokens: promptTokens + completionTokens * r.n,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    }
    if (r.stream) {
      const body = sseBody(
        { id, created: nowSec(ctx), model: model.id },
        content,
        r.n,
        finish,
        r.includeUsage ? usage : null,
      )
      return reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache')
        .send(body)
    }
    return {
      id,
      object: 'chat.completion',
      created: nowSec(ctx),
      model: model.id,
      choices: Array.from({ length: r.n }, (_, index) => ({
        index,
        message: { role: 'assistant', content, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: finish,
      })),
      usage,
      service_tier: 'default',
      system_fingerprint: 'fp_openai_local',
    }
  })
}
