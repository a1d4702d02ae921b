import { countChatTokens } from '@loopdm/platform/tokens'
import type { TrainingPair } from '../state/store.js'

/**
 * Validates a chat fine-tuning JSONL file the way OpenAI does before it trains: every line is a
 * JSON object with only `messages`; each message has a known role and non-empty content; each
 * example has an assistant message to learn from (`weight`, 0 or 1, only on assistant messages;
 * weight-0 turns are not learned) and fits the base model's per-example token
 * limit; a training file has at least `minExamples` examples. The first problem found is reported
 * naming its line. openai-local plays the provider here, so this is its own check, independent of
 * the exporter's.
 */

export const MIN_TRAINING_EXAMPLES = 10
const ROLES = new Set(['system', 'user', 'assistant'])
const MESSAGE_KEYS = new Set(['role', 'content', 'name', 'weight'])

export interface ValidationProblem {
  code: string
  message: string
  param: string
}

export type ValidationResult =
  | { ok: true; examples: number; tokens: number; pairs: TrainingPair[] }
  | { ok: false; error: ValidationProblem }

export interface ValidateOptions {
  /** `training_file` or `validation_file`: names the parameter and the error code. */
  param?: 'training_file' | 'validation_file'
  /** Max tokens per example (16,385 for gpt-3.5-turbo-0125, 65,536 for gpt-4o-mini). */
  tokenLimit: number
  /** Model name used in the token-limit message. */
  model: string
  /** Fewest examples accepted; default 10 for a training file, 1 for a validation file. */
  minExamples?: number
}

type Part = { type?: unknown; text?: unknown; image_url?: unknown }

function partsText(content: unknown): string | undefined {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return undefined
  const texts: string[] = []
  for (const p of content as Part[]) {
    if (p?.type === 'text' && typeof p.text === 'string') texts.push(p.text)
    else if (p?.type === 'image_url') continue
    else return undefined
  }
  return texts.join('\n')
}

/** One message of an example: its role and text, or the problem (prefixed with `where`). */
function checkMessage(
  raw: unknown,
  where: string,
): string | { m: { role: string; weight?: unknown }; body: string } {
  const m = raw as Record<string, unknown>
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return `${where} is not an object.`
  const badKey = Object.keys(m).find((k) => !MESSAGE_KEYS.has(k))
  if (badKey) return `${where} has unrecognized key "${badKey}".`
  if (typeof m.role !== 'string' || !ROLES.has(m.role))
    return `${where} has an invalid role ${JSON.stringify(m.role ?? null)}; expected system, user or assistant.`
  const body =
    m.role === 'assistant' ? (typeof m.content === 'string' ? m.content : undefined) : partsText(m.content)
  if (body === undefined || body.trim() === '') return `${where} (${m.role}) has missing or empty content.`
  // OpenAI: `weight` (0 = do not learn this turn, 1 = learn it) exists on assistant messages only.
  if (m.weight !== undefined && m.role !== 'assistant')
    return `${where} (${m.role}) has a "weight"; weight is only allowed on assistant messages.`
  if (m.weight !== undefined && m.weight !== 0 && m.weight !== 1)
    return `${where} has an invalid weight; expected 0 or 1.`
  return { m: { role: m.role, weight: m.weight }, body }
}

export function validateFineTuneFile(content: Buffer | string, opts: ValidateOptions): ValidationResult {
  const param = opts.param ?? 'training_file'
  const what = param === 'training_file' ? 'training' : 'validation'
  const minExamples = opts.minExamples ?? (param === 'training_file' ? MIN_TRAINING_EXAMPLES : 1)
  const fail = (message: string): ValidationResult => ({
    ok: false,
    error: { code: `invalid_${param}`, message: `Invalid ${what} file: ${message}`, param },
  })
  const text = (typeof content === 'string' ? content : content.toString('utf8')).replace(/^\uFEFF/, '')
  const lines = text.split('\n')
  if (lines.length > 0 && (lines[lines.length - 1] as string).trim() === '') lines.pop()
  const pairs: TrainingPair[] = []
  let tokens = 0
  let examples = 0
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1
    const line = (lines[i] as string).replace(/\r$/, '')
    if (line.trim() === '') return fail(`line ${n} is empty; every line must be one JSON example.`)
    let row: unknown
    try {
      row = JSON.parse(line)
    } catch {
      return fail(`line ${n} is not valid JSON.`)
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row))
      return fail(`line ${n} is not a JSON object with a "messages" array.`)
    const extra = Object.keys(row).filter((k) => k !== 'messages')
    if (extra.length > 0)
      return fail(
        `line ${n} has unexpected key(s) ${extra.map((k) => `"${k}"`).join(', ')}; only "messages" is allowed.`,
      )
    const messages = (row as { messages?: unknown }).messages
    if (!Array.isArray(messages) || messages.length === 0)
      return fail(`line ${n} is missing a non-empty "messages" array.`)
    let hasAssistant = false
    let lastUser: string | undefined
    const textMsgs: Array<{ role: string; content: string }> = []
    for (let j = 0; j < messages.length; j++) {
      const checked = checkMessage(messages[j], `line ${n}, message ${j + 1}`)
      if (typeof checked === 'string') return fail(checked)
      const { m, body } = checked
      textMsgs.push({ role: m.role, content: body })
      if (m.role === 'user') lastUser = body
      if (m.role === 'assistant') {
        hasAssistant = true
        if (m.weight !== 0 && lastUser !== undefined) pairs.push({ user: lastUser, assistant: body })
      }
    }
    if (!hasAssistant)
      return fail(
        `line ${n} has no assistant message; each example needs at least one assistant message to learn from.`,
      )
    const t = countChatTokens(textMsgs)
    if (t > opts.tokenLimit)
      return fail(
        `line ${n} has ${t} tokens, over the ${opts.tokenLimit}-token limit per example for ${opts.model}.`,
      )
    tokens += t
    examples++
  }
  if (examples < minExamples)
    return fail(`the file has ${examples} example(s), but must have at least ${minExamples} examples.`)
  return { ok: true, examples, tokens, pairs }
}
