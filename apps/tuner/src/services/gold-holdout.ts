import type { Queryable } from '@loopdm/db/pool'
import { createGoldRepository } from '@loopdm/models/gold-items'
import { redactPII } from '@loopdm/training-data/redaction'

/** Case, spacing and redaction differences do not make a gold question a new one. */
const normalise = (s: string) => s.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim()

/**
 * Gold items are held out of every exemplar set: a demonstration whose customer turn is a gold
 * item's (compared after the export's PII redaction, normalised) is skipped, whichever customer
 * asked it — an exemplar answering the exact gold question would let the candidate copy the
 * answer it is graded on. A multi-turn prompt is held out when any of its lines is a gold question.
 */
export async function goldPromptFilter(db: Queryable): Promise<(prompt: string) => boolean> {
  const rows = await createGoldRepository(db).list()
  const gold = new Set(
    rows.flatMap((r) => [normalise(r.customerText), normalise(redactPII(r.customerText).text)]),
  )
  if (gold.size === 0) return () => false
  return (prompt) =>
    gold.has(normalise(prompt)) || prompt.split('\n').some((line) => gold.has(normalise(line)))
}
