import type { RunKind } from '../repositories/export-runs.repository.js'
import type { MessageRow, MessagesRepository, Position } from '../repositories/messages.repository.js'

/** The bounds of one run's read: where the last nightly stopped and the highest id now. */
export interface SourceBounds {
  kind: RunKind
  watermark: Position | undefined
  prevHighId: number
  highId: number
  since?: string | undefined
  until?: string | undefined
}

/** Yields every row the run reads, page by page, tracking the last main-window position in `last`. */
export async function* readSource(
  messages: MessagesRepository,
  batch: number,
  q: SourceBounds & { last: { pos: Position | undefined } },
): AsyncGenerator<MessageRow[]> {
  const wm = q.watermark
  if (q.kind === 'nightly' && wm) {
    yield* keyset(batch, undefined, (after) =>
      messages.pagePreWindow({
        watermark: wm,
        prevHighId: q.prevHighId,
        highId: q.highId,
        after,
        limit: batch,
      }),
    )
  }
  const pages = keyset(batch, q.kind === 'nightly' ? wm : undefined, (after) =>
    messages.pageAfter({ after, highId: q.highId, since: q.since, until: q.until, limit: batch }),
  )
  for await (const rows of pages) {
    const l = rows[rows.length - 1] as MessageRow
    q.last.pos = { createdAt: l.createdAt, id: l.id }
    yield rows
  }
}

/**
 * Keyset pages, each its own short statement. The next page is requested before the current
 * one is handed out, so the database reads page n+1 while this process works on page n.
 */
async function* keyset(
  batch: number,
  start: Position | undefined,
  fetch: (after: Position | undefined) => Promise<MessageRow[]>,
): AsyncGenerator<MessageRow[]> {
  let next: Promise<MessageRow[]> | undefined = fetch(start)
  while (next) {
    const rows: MessageRow[] = await next
    if (rows.length === 0) return
    const l = rows[rows.length - 1] as MessageRow
    next = rows.length < batch ? undefined : fetch({ createdAt: l.createdAt, id: l.id })
    // A rejected prefetch must not go unhandled if the consumer stops early.
    next?.catch(() => {})
    yield rows
  }
}
