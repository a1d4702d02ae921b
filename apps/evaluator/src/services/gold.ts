import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { ValidationError } from '@loopdm/platform/errors'
import { z } from 'zod'

/**
 * The gold set: `evals/gold.jsonl`, one DM exchange per line with the ideal reply and, where it
 * matters, the facts a good reply must state. `messages` may be plain strings (user turns) or
 * `{role, content}` turns for multi-turn context.
 */
const TurnSchema = z.union([
  z
    .string()
    .min(1)
    .transform((content) => ({ role: 'user' as const, content })),
  z.object({ role: z.enum(['user', 'assistant']), content: z.string().min(1) }),
])

export const GoldItemSchema = z.object({
  id: z.string().min(1),
  messages: z.array(TurnSchema).min(1),
  ideal: z.string().min(1),
  facts: z.array(z.string().min(1)).default([]),
  category: z.string().default('general'),
})
export type GoldItem = z.infer<typeof GoldItemSchema> & { source?: 'gold' | 'holdout' }

export interface GoldSet {
  path: string
  sha256: string
  items: GoldItem[]
}

/** Parses a gold JSONL text; a bad line is a ValidationError naming the line. Ids must be unique. */
export function parseGold(text: string, path = 'gold.jsonl'): GoldSet {
  const items: GoldItem[] = []
  const ids = new Set<string>()
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch {
      throw new ValidationError(`${path}:${i + 1}: not JSON`)
    }
    const r = GoldItemSchema.safeParse(json)
    if (!r.success) throw new ValidationError(`${path}:${i + 1}: ${r.error.issues[0]?.message ?? 'invalid'}`)
    if (ids.has(r.data.id)) throw new ValidationError(`${path}:${i + 1}: duplicate id ${r.data.id}`)
    ids.add(r.data.id)
    items.push({ ...r.data, source: 'gold' })
  })
  if (items.length === 0) throw new ValidationError(`${path}: the gold set is empty`)
  return { path, sha256: createHash('sha256').update(text).digest('hex'), items }
}

export function loadGold(path: string): GoldSet {
  return parseGold(readFileSync(path, 'utf8'), path)
}
