import { invalidRequest } from '../errors.js'

/**
 * OpenAI's cursor pages: `{ object: "list", data, has_more, first_id, last_id }`, newest first by
 * default, `after` = the id of the last item of the previous page.
 */
export function page<T extends { id: string; created_at: number }>(
  items: T[],
  q: {
    after?: string | undefined
    limit?: string | undefined
    order?: string | undefined
    defaultLimit?: number
  },
) {
  const limit = q.limit === undefined ? (q.defaultLimit ?? 20) : Number(q.limit)
  if (!Number.isInteger(limit) || limit < 1)
    throw invalidRequest("Invalid 'limit': expected a positive integer.", 'limit')
  // Stable order: creation time, then insertion order (ids are random).
  const indexed = items.map((item, i) => ({ item, i }))
  indexed.sort((a, b) => a.item.created_at - b.item.created_at || a.i - b.i)
  const sorted = indexed.map((x) => x.item)
  if (q.order !== 'asc') sorted.reverse()
  let start = 0
  if (q.after) {
    const at = sorted.findIndex((x) => x.id === q.after)
    start = at < 0 ? sorted.length : at + 1
  }
  const data = sorted.slice(start, start + limit)
  return {
    object: 'list' as const,
    data,
    has_more: start + limit < sorted.length,
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
  }
}
