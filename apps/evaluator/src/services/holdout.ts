import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isPlainDailyFileName } from '@loopdm/training-data/export-layout'
import { redactPII } from '@loopdm/training-data/redaction'
import type OpenAI from 'openai'
import type { GoldItem } from './gold.js'

/**
 * The optional holdout: recent exported exchanges the candidate never trained on.
 *
 * How it is kept out of training: the holdout is not a separate pool the tuner must remember to
 * skip. It is computed at evaluation time as (lines of the newest `fine_tune_*.jsonl` files) minus
 * (every exchange in the exact training file of the candidate — read from disk when the registry
 * names a path, else downloaded from the provider by its file id). Anything that trained the
 * candidate can therefore never be in its holdout; in practice it is what was exported after the
 * candidate's training snapshot. When the training file cannot be read, there is no holdout.
 *
 * Human-authored answers come first: `preferred` (recent staff/imported answers from the database,
 * gold items and operator exclusions left out) is redacted like an export and drawn before the
 * export files; one whose answer appears anywhere in the training file is skipped, so a human answer
 * the candidate learned is never its holdout either.
 */
export interface Example {
  user: string
  assistant: string
}

function parseExample(line: string): Example | null {
  try {
    const o = JSON.parse(line) as { messages?: Array<{ role: string; content: unknown }> }
    const msgs = o.messages ?? []
    const user = [...msgs].reverse().find((m) => m.role === 'user')
    const assistant = [...msgs].reverse().find((m) => m.role === 'assistant')
    if (typeof user?.content !== 'string' || typeof assistant?.content !== 'string') return null
    return { user: user.content, assistant: assistant.content }
  } catch {
    return null
  }
}

const keyOf = (e: Example) =>
  createHash('sha1').update(`${e.user.trim()}\u0000${e.assistant.trim()}`).digest('hex')

/** Reads the candidate's training file: a local path, or a provider file id (`file-…`). */
export async function readTrainingFile(sdk: OpenAI, trainingFile: string | null): Promise<string | null> {
  if (!trainingFile) return null
  if (existsSync(trainingFile)) return readFileSync(trainingFile, 'utf8')
  try {
    const res = await sdk.files.content(trainingFile)
    return await res.text()
  } catch {
    return null
  }
}

const answerKey = (answer: string) => createHash('sha1').update(answer.trim()).digest('hex')

export function buildHoldout(args: {
  exportDir: string
  size: number
  trainingText: string | null
  /** Recent human-authored exchanges (raw text, newest first): drawn first, redacted here. */
  preferred?: Example[]
  /** Customer texts of the gold set: an exchange asking one of them is never holdout too. */
  goldTexts?: string[]
}): GoldItem[] {
  if (args.size <= 0 || args.trainingText === null) return []
  const trained = new Set<string>()
  const trainedAnswers = new Set<string>()
  for (const line of args.trainingText.split('\n')) {
    const e = line.trim() ? parseExample(line) : null
    if (e) {
      trained.add(keyOf(e))
      trainedAnswers.add(answerKey(e.assistant))
    }
  }
  const out: GoldItem[] = []
  const seen = new Set<string>()
  const norm = (t: string) => t.toLowerCase().replace(/\s+/g, ' ').trim()
  const gold = new Set((args.goldTexts ?? []).flatMap((t) => [norm(t), norm(redactPII(t).text)]))
  const take = (e: Example, category: string) => {
    const k = keyOf(e)
    if (trained.has(k) || seen.has(k) || gold.has(norm(e.user))) return false
    seen.add(k)
    out.push({
      id: `holdout-${k.slice(0, 12)}`,
      messages: [{ role: 'user', content: e.user }],
      ideal: e.assistant,
      facts: [],
      category,
      source: 'holdout',
    })
    return out.length >= args.size
  }
  for (const raw of args.preferred ?? []) {
    const e = { user: redactPII(raw.user).text.trim(), assistant: redactPII(raw.assistant).text.trim() }
    if (!e.user || !e.assistant || trainedAnswers.has(answerKey(e.assistant))) continue
    if (take(e, 'holdout-human')) return out
  }
  if (!existsSync(args.exportDir)) return out
  const files = readdirSync(args.exportDir).filter(isPlainDailyFileName).sort().reverse()
  for (const f of files) {
    const lines = readFileSync(join(args.exportDir, f), 'utf8').split('\n').reverse()
    for (const line of lines) {
      const e = line.trim() ? parseExample(line) : null
      if (e && take(e, 'holdout')) return out
    }
  }
  return out
}
