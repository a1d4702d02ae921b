import { createHash } from 'node:crypto'
import { z } from 'zod'
import type { ConversationRepository } from '../repositories/conversation.repository.js'

/**
 * `npm run import:history -- <file.jsonl>`: past conversations, one JSON object per line
 * (`{"igUserId","role":"user"|"assistant","text","timestamp", "author"?, "id"?}`; timestamp in ms
 * or ISO-8601). Customer lines become user turns, staff lines assistant turns with
 * `author = 'import'` (the line's `author`, e.g. a staff name, is kept in `context.author`).
 * Idempotent: each line's `ig_message_id` is `import:<id>` or `import:<hash of user, role, time,
 * text>`, so a re-run inserts nothing twice. Invalid lines are reported with their number and
 * skipped; memory embeds the imported turns in its back-fill sweep.
 */
export const HistoryLineSchema = z.object({
  igUserId: z.union([z.string().min(1).max(128), z.number()]).transform(String),
  role: z.enum(['user', 'assistant'], { error: 'role must be "user" or "assistant"' }),
  text: z.string().min(1, 'text is empty'),
  timestamp: z.union([
    z.number().int().positive(),
    z.string().datetime({ offset: true, error: 'timestamp must be ms since epoch or ISO-8601' }),
  ]),
  author: z.string().max(200).optional(),
  id: z
    .union([z.string().min(1).max(200), z.number()])
    .transform(String)
    .optional(),
})
export type HistoryLine = z.infer<typeof HistoryLineSchema>

export interface ImportReport {
  lines: number
  imported: number
  /** Already imported by an earlier run (same stable id). */
  existing: number
  invalid: Array<{ line: number; error: string }>
}

export class HistoryImportError extends Error {
  override name = 'HistoryImportError'
  readonly code = 'HISTORY_LINE_INVALID'
}

export const importMessageId = (l: HistoryLine): string =>
  l.id
    ? `import:${l.id}`
    : `import:${createHash('sha256')
        .update(JSON.stringify([l.igUserId, l.role, String(l.timestamp), l.text]))
        .digest('hex')
        .slice(0, 32)}`

export async function importHistory(args: {
  conversations: Pick<ConversationRepository, 'insertTurn'>
  lines: AsyncIterable<string> | Iterable<string>
  /** Called every `progressEvery` lines and at the end. */
  onProgress?: (r: ImportReport) => void
  progressEvery?: number
}): Promise<ImportReport> {
  const report: ImportReport = { lines: 0, imported: 0, existing: 0, invalid: [] }
  const every = args.progressEvery ?? 500
  for await (const raw of args.lines) {
    report.lines++
    if (raw.trim() === '') continue
    let parsed: HistoryLine
    try {
      const r = HistoryLineSchema.safeParse(JSON.parse(raw))
      if (!r.success) {
        const i = r.error.issues[0]
        throw new HistoryImportError(`${i?.path.join('.') || 'line'}: ${i?.message}`)
      }
      parsed = r.data
    } catch (err) {
      const msg = err instanceof SyntaxError ? `not JSON (${err.message})` : (err as Error).message
      report.invalid.push({ line: report.lines, error: msg })
      continue
    }
    const turn = await args.conversations.insertTurn({
      igMessageId: importMessageId(parsed),
      igUserId: parsed.igUserId,
      role: parsed.role,
      content: parsed.text,
      author: parsed.role === 'assistant' ? 'import' : null,
      context: parsed.author ? { author: parsed.author } : undefined,
      createdAt: new Date(parsed.timestamp),
    })
    if (turn.inserted) report.imported++
    else report.existing++
    if (report.lines % every === 0) args.onProgress?.(report)
  }
  args.onProgress?.(report)
  return report
}
