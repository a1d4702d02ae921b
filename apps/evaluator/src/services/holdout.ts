import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isPlainDailyFileName } from '@loopdm/training-data/export-layout'
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
 */
interface Example {
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

export function buildHoldout(args: {
  exportDir: string
  size: number
  trainingText: string | null
}): GoldItem[] {
  if (args.size <= 0 || args.trainingText === null || !existsSync(args.exportDir)) return []
  const trained = new Set<string>()
  for (const line of args.trainingText.split('\n')) {
    const e = line.trim() ? parseExample(line) : null
    if (e) trained.add(keyOf(e))
  }
  const files = readdirSync(args.exportDir).filter(isPlainDailyFileName).sort().reverse()
  const out: GoldItem[] = []
  const seen = new Set<string>()
  for (const f of files) {
    const lines = readFileSync(join(args.exportDir, f), 'utf8').split('\n').reverse()
    for (const line of lines) {
      const e = line.trim() ? parseExample(line) : null
      if (!e) continue
      const k = keyOf(e)
      if (trained.has(k) || seen.has(k)) continue
      seen.add(k)
      out.push({
        id: `holdout-${k.slice(0, 12)}`,
        messages: [{ role: 'user', content: e.user }],
        ideal: e.assistant,
        facts: [],
        category: 'holdout',
        source: 'holdout',
      })
      if (out.length >= args.size) return out
    }
  }
  return out
}
