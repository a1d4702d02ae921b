import { countTokens } from '@loopdm/platform/tokens'
import type { FastifyInstance } from 'fastify'
import { decode } from 'gpt-tokenizer'
import { invalidRequest, modelNotFound } from '../errors.js'
import { baseModel } from '../model/catalog.js'
import { EMBEDDING_DIMENSIONS, embed, toBase64 } from '../model/embedding.js'
import type { RouteContext } from './context.js'

const MAX_INPUTS = 2048

/** `input` as texts: a string, strings, a token array or token arrays (decoded back to text). */
function inputs(input: unknown): string[] {
  const bad = () =>
    invalidRequest(
      "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
      'input',
    )
  const isTokens = (v: unknown): v is number[] =>
    Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x))
  let texts: string[]
  if (typeof input === 'string') texts = [input]
  else if (isTokens(input)) texts = [decode(input)]
  else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'string'))
    texts = input as string[]
  else if (Array.isArray(input) && input.length > 0 && input.every(isTokens))
    texts = (input as number[][]).map((t) => decode(t))
  else throw bad()
  if (texts.length > MAX_INPUTS)
    throw invalidRequest(`'$.input' is too long: at most ${MAX_INPUTS} inputs per request.`, 'input')
  if (texts.some((t) => t === '')) throw bad()
  return texts
}

export function embeddingRoutes(app: FastifyInstance, _ctx: RouteContext) {
  app.post('/v1/embeddings', async (req) => {
    const b = (req.body ?? {}) as Record<string, unknown>
    if (typeof b.model !== 'string' || b.model === '')
      throw invalidRequest('you must provide a model parameter', 'model')
    const m = baseModel(b.model)
    if (!m) throw modelNotFound(b.model)
    if (m.kind !== 'embedding')
      throw invalidRequest(`The model \`${b.model}\` does not support embeddings.`, 'model')
    const format = b.encoding_format ?? 'float'
    if (format !== 'float' && format !== 'base64')
      throw invalidRequest(
        `Invalid value for 'encoding_format': expected 'float' or 'base64', got ${JSON.stringify(format)}.`,
        'encoding_format',
      )
    const dims = b.dimensions ?? EMBEDDING_DIMENSIONS
    if (!Number.isInteger(dims) || (dims as number) < 1 || (dims as number) > EMBEDDING_DIMENSIONS)
      throw invalidRequest(
        `Invalid 'dimensions': expected an integer in 1..${EMBEDDING_DIMENSIONS}.`,
        'dimensions',
      )
    const texts = inputs(b.input)
    let tokens = 0
    const data = texts.map((t, index) => {
      tokens += countTokens(t)
      let v = embed(t)
      if (dims !== EMBEDDING_DIMENSIONS) {
        // Like text-embedding-3's `dimensions`: keep a prefix, renormalise.
        v = v.slice(0, dims as number)
        const norm = Math.hypot(...v) || 1
        v = v.map((x) => x / norm)
      }
      return { object: 'embedding', index, embedding: format === 'base64' ? toBase64(v) : v }
    })
    return { object: 'list', data, model: m.id, usage: { prompt_tokens: tokens, total_tokens: tokens } }
  })
}
