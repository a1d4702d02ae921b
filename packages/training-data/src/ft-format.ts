import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { createGunzip } from 'node:zlib'
import { countChatTokens } from '@loopdm/platform/tokens'

/**
 * The OpenAI chat fine-tuning format checks, shared by the exporter (every line it writes) and the
 * tuner (every file it uploads). They mirror what OpenAI's validator rejects: one JSON object per
 * line with exactly a `messages` array of {role, content} messages, non-empty content, at least one
 * assistant message, and an example no longer than the base model's per-example token limit.
 */

export type FtProblemKind =
  | 'invalid_json'
  | 'not_object'
  | 'extra_keys'
  | 'missing_messages'
  | 'bad_message'
  | 'bad_role'
  | 'bad_weight'
  | 'empty_content'
  | 'no_assistant'
  | 'too_many_tokens'

export interface FtProblem {
  /** 1-based line number in the file. */
  line: number
  kind: FtProblemKind
  message: string
}

/** Per-example token limits (training context) of the fine-tunable models. */
export const FT_TOKEN_LIMITS: Record<string, number> = {
  'gpt-3.5-turbo': 16385,
  'gpt-3.5-turbo-0125': 16385,
  'gpt-3.5-turbo-1106': 16385,
  'gpt-3.5-turbo-0613': 4096,
  'gpt-4o-mini': 65536,
  'gpt-4o-mini-2024-07-18': 65536,
  'gpt-4o': 65536,
  'gpt-4o-2024-08-06': 65536,
  'gpt-4.1': 65536,
  'gpt-4.1-2025-04-14': 65536,
  'gpt-4.1-mini': 65536,
  'gpt-4.1-mini-2025-04-14': 65536,
  'gpt-4.1-nano': 65536,
  'gpt-4.1-nano-2025-04-14': 65536,
}

/** The limit used for a model not in the table (the most conservative current one). */
export const DEFAULT_FT_TOKEN_LIMIT = 16385

/**
 * Per-example token limit for `model`. Accepts fine-tuned ids (`ft:<base>:org::id` → base) and
 * dated variants of known families (longest known prefix wins).
 */
export function tokenLimitFor(model: string): number {
  let m = model.trim()
  if (m.startsWith('ft:')) m = m.split(':')[1] ?? m
  const exact = FT_TOKEN_LIMITS[m]
  if (exact !== undefined) return exact
  let best: string | undefined
  for (const k of Object.keys(FT_TOKEN_LIMITS)) {
    if (m.startsWith(k) && (best === undefined || k.length > best.length)) best = k
  }
  return best === undefined ? DEFAULT_FT_TOKEN_LIMIT : (FT_TOKEN_LIMITS[best] as number)
}

const ROLES = new Set(['system', 'user', 'assistant'])
/** Message keys OpenAI's chat fine-tuning format accepts besides role/content. */
const MESSAGE_KEYS = new Set(['role', 'content', 'name', 'weight'])
const TOP_KEYS = new Set(['messages'])

/** `obj`'s own keys not in `allowed`, or undefined when there are none (no array on the common path). */
function keysOutside(obj: Record<string, unknown>, allowed: Set<string>): string[] | undefined {
  let out: string[] | undefined
  for (const k in obj) {
    if (!Object.hasOwn(obj, k) || allowed.has(k)) continue
    out ??= []
    out.push(k)
  }
  return out
}

/** `text.trim() === ''` without building the trimmed string (`\s` is trim's whitespace). */
const BLANK = /^\s*$/
const isBlank = (text: string) => BLANK.test(text)

function contentText(content: unknown): string | undefined {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) {
    const parts: string[] = []
    for (const p of content) {
      if (!p || typeof p !== 'object') return undefined
      const part = p as { type?: unknown; text?: unknown }
      if (part.type === 'text' && typeof part.text === 'string') parts.push(part.text)
      else if (part.type !== 'image_url') return undefined
    }
    return parts.join('\n')
  }
  return undefined
}

export interface FtLineResult {
  ok: boolean
  problems: FtProblem[]
  /** Billed tokens of the example (0 when it could not be parsed). */
  tokens: number
}

export interface FtLineOptions {
  /** Per-example limit; default the gpt-3.5-turbo-0125 limit (16,385). */
  maxTokens?: number
  /**
   * `exact` (default) always tokenizes. `when-near-limit` tokenizes only when the example could
   * exceed the limit (a token covers at least one UTF-8 byte, so bytes + framing bound the count);
   * below that bound `tokens` is reported as 0. The exporter uses it to check millions of lines.
   */
  countTokens?: 'exact' | 'when-near-limit'
}

/** Checks one JSONL line. */
export function validateFtLine(line: string, lineNo: number, opts: FtLineOptions = {}): FtLineResult {
  const problems: FtProblem[] = []
  const add = (kind: FtProblemKind, message: string) => problems.push({ line: lineNo, kind, message })
  let parsed: unknown
  try {
    parsed = JSON.parse(line)
  } catch (err) {
    add('invalid_json', `line ${lineNo}: not valid JSON (${(err as Error).message})`)
    return { ok: false, problems, tokens: 0 }
  }
  return validateFtExample(parsed, lineNo, opts)
}

const where = (lineNo: number, i: number) => `line ${lineNo}: messages[${i}]`

/** checkMessage's verdict on an invalid message: HARD makes "no assistant message" moot. */
const BAD = 0
const HARD = 1
const ignore = () => {}

/**
 * One message's checks: its text when it is valid, HARD for a problem that makes "no assistant
 * message" moot (bad role, empty content, bad weight), else BAD. Problems name it as "line 3:
 * messages[1]" (built only when there is one). Allocates nothing on the valid path: the exporter
 * checks millions of messages.
 */
function checkMessage(
  m: unknown,
  lineNo: number,
  i: number,
  add: (kind: FtProblemKind, message: string) => void,
): string | typeof BAD | typeof HARD {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) {
    add('bad_message', `${where(lineNo, i)} is not an object`)
    return BAD
  }
  const msg = m as Record<string, unknown>
  const unknownKeys = keysOutside(msg, MESSAGE_KEYS)
  if (unknownKeys) add('bad_message', `${where(lineNo, i)} has unexpected keys ${unknownKeys.join(', ')}`)
  if (typeof msg.role !== 'string' || !ROLES.has(msg.role)) {
    add('bad_role', `${where(lineNo, i)}.role must be system, user or assistant`)
    return HARD
  }
  const text = contentText(msg.content)
  if (text === undefined) {
    add('bad_message', `${where(lineNo, i)}.content must be a string`)
    return BAD
  }
  if (isBlank(text)) {
    add('empty_content', `${where(lineNo, i)} (${msg.role}) has empty content`)
    return HARD
  }
  // OpenAI's format: `weight` (0 = context, not learned; 1 = learned) on assistant messages only.
  if (msg.weight !== undefined && msg.role !== 'assistant') {
    add('bad_weight', `${where(lineNo, i)} (${msg.role}) has a "weight"; only assistant messages may`)
    return HARD
  }
  if (msg.weight !== undefined && msg.weight !== 0 && msg.weight !== 1) {
    add('bad_weight', `${where(lineNo, i)}.weight must be 0 or 1 (got ${JSON.stringify(msg.weight)})`)
    return HARD
  }
  return text
}

/**
 * The same checks on an already parsed example (everything but JSON syntax): the exporter checks
 * each object it is about to serialise without parsing its own output again.
 */
export function validateFtExample(parsed: unknown, lineNo: number, opts: FtLineOptions = {}): FtLineResult {
  const problems: FtProblem[] = []
  const add = (kind: FtProblemKind, message: string) => problems.push({ line: lineNo, kind, message })
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    add('not_object', `line ${lineNo}: expected a JSON object`)
    return { ok: false, problems, tokens: 0 }
  }
  const obj = parsed as Record<string, unknown>
  const extra = keysOutside(obj, TOP_KEYS)
  if (extra) add('extra_keys', `line ${lineNo}: unexpected keys ${extra.join(', ')} (only "messages")`)
  const messages = obj.messages
  if (!Array.isArray(messages) || messages.length === 0) {
    add('missing_messages', `line ${lineNo}: "messages" must be a non-empty array`)
    return { ok: false, problems, tokens: 0 }
  }
  let assistant = false
  let hardProblem = false
  let bound = 3
  for (let i = 0; i < messages.length; i++) {
    const text = checkMessage(messages[i], lineNo, i, add)
    if (typeof text === 'number') {
      if (text === HARD) hardProblem = true
      continue
    }
    const msg = messages[i] as { role: string; weight?: unknown }
    if (msg.role === 'assistant' && msg.weight !== 0) assistant = true
    bound += 3 + msg.role.length + Buffer.byteLength(text)
  }
  if (!assistant && !hardProblem) {
    add('no_assistant', `line ${lineNo}: no assistant message to learn from (weight 1 or unset)`)
  }
  const max = opts.maxTokens ?? DEFAULT_FT_TOKEN_LIMIT
  let tokens = 0
  if (opts.countTokens !== 'when-near-limit' || bound > max) {
    const counted: Array<{ role: string; content: string }> = []
    for (let i = 0; i < messages.length; i++) {
      const text = checkMessage(messages[i], lineNo, i, ignore)
      if (typeof text === 'string')
        counted.push({ role: (messages[i] as { role: string }).role, content: text })
    }
    tokens = countChatTokens(counted)
  }
  if (tokens > max) add('too_many_tokens', `line ${lineNo}: ${tokens} tokens exceed the limit of ${max}`)
  return { ok: problems.length === 0, problems, tokens }
}

export interface FtFileReport {
  /** Non-blank lines read (each is one example, valid or not). */
  examples: number
  /** Lines that passed every check. */
  valid: number
  /** Billed tokens over all parseable examples. */
  tokens: number
  /** Tokens of the longest example. */
  longest: number
  /** Every problem found, capped at `maxProblems` (counts in byKind are complete). */
  problems: FtProblem[]
  byKind: Partial<Record<FtProblemKind, number>>
}

/**
 * Streams a JSONL file (or `.gz`) line by line in constant memory and checks every example
 * against `model`'s token limit (default gpt-3.5-turbo-0125). Blank lines are reported as
 * invalid_json, like OpenAI does, except a single trailing newline.
 */
export async function validateFtFile(
  path: string,
  opts: { model?: string; maxTokens?: number; maxProblems?: number } = {},
): Promise<FtFileReport> {
  const maxTokens = opts.maxTokens ?? (opts.model ? tokenLimitFor(opts.model) : DEFAULT_FT_TOKEN_LIMIT)
  const maxProblems = opts.maxProblems ?? 1000
  const raw = createReadStream(path)
  const input = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw
  const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })
  const report: FtFileReport = { examples: 0, valid: 0, tokens: 0, longest: 0, problems: [], byKind: {} }
  let lineNo = 0
  try {
    for await (const line of rl) {
      lineNo++
      const r =
        line.trim() === ''
          ? {
              ok: false,
              tokens: 0,
              problems: [
                { line: lineNo, kind: 'invalid_json' as const, message: `line ${lineNo}: blank line` },
              ],
            }
          : validateFtLine(line, lineNo, { maxTokens })
      if (line.trim() !== '') report.examples++
      if (r.ok) report.valid++
      report.tokens += r.tokens
      if (r.tokens > report.longest) report.longest = r.tokens
      for (const p of r.problems) {
        report.byKind[p.kind] = (report.byKind[p.kind] ?? 0) + 1
        if (report.problems.length < maxProblems) report.problems.push(p)
      }
    }
  } finally {
    rl.close()
    raw.destroy()
  }
  return report
}
