import { randomBytes } from 'node:crypto'
import { countChatTokens, countTokens } from '@loopdm/platform/tokens'
import type { FastifyInstance } from 'fastify'
import { decode, encode } from 'gpt-tokenizer'
import { invalidRequest } from '../errors.js'
import { demonstrationsOf } from '../model/demonstrations.js'
import { nearestTrainedReply } from '../model/fine-tuned.js'
import { nearestReply } from '../model/nearest.js'
import { baseReply } from '../model/reply-policy.js'
import { checkReasoningParams } from '../model/request-rules.js'
import { IMAGE_TOKENS, type Msg, type Part, parseRequest, textOf } from './chat-request.js'
import { nowSec, type ResolvedChatModel, type RouteContext, resolveChatModel } from './context.js'

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

/**
 * What the model says: a fine-tuned model's nearest training pair, else the nearest demonstration
 * the prompt carries (in-context learning), else the base reply policy.
 */
function answer(model: ResolvedChatModel, messages: Msg[]) {
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')
  const userText = lastUser ? textOf(lastUser.content) : ''
  const hasImage = Array.isArray(lastUser?.content) && lastUser.content.some((p) => p.type === 'image_url')
  const trained = model.fineTuned ? nearestTrainedReply(model.fineTuned, userText) : undefined
  if (trained) return { content: trained.reply, source: 'trained', similarity: trained.similarity }
  const demos = demonstrationsOf(messages.map((m) => ({ role: m.role, text: textOf(m.content) })))
  const shown = nearestReply(demos, userText)
  if (shown) return { content: shown.reply, source: 'demonstration', similarity: shown.similarity }
  return { content: baseReply(userText, { hasImage }), source: 'policy', similarity: null }
}

export function chatRoutes(app: FastifyInstance, ctx: RouteContext) {
  // Together's OpenAI-compatible chat lives at its API base (TOGETHER_BASE_URL) too.
  for (const path of ['/v1/chat/completions', '/together/v1/chat/completions'])
    app.post(path, async (req, reply) => {
      const r = parseRequest(req.body)
      const model = resolveChatModel(ctx, r.model)
      if (model.reasoning) checkReasoningParams(r.raw)
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
      const said = answer(model, r.messages)
      let content = said.content
      let finish: 'stop' | 'length' = 'stop'
      if (r.maxTokens !== undefined) {
        const toks = encode(content)
        if (toks.length > r.maxTokens) {
          content = decode(toks.slice(0, r.maxTokens))
          finish = 'length'
        }
      }
      ctx.logger?.debug(
        { model: model.id, source: said.source, similarity: said.similarity },
        'chat completion',
      )
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
