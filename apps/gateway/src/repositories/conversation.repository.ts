import type { Pool, Queryable } from '@loopdm/db/pool'

/** Turns in `conversation_messages` (migration 0001). Embeddings are back-filled by memory, not here. */
export interface TurnInput {
  igMessageId: string
  igUserId: string
  role: 'user' | 'assistant'
  content: string
  model?: string | null
  hasImage?: boolean
  imageUrl?: string | null
  /** Defaults to now(). */
  createdAt?: Date
}

export interface StoredTurn {
  id: number
  /** False when a row with this `ig_message_id` already existed (a re-delivery or a retry). */
  inserted: boolean
}

/** The assistant turn answering `mid` gets this derived, unique `ig_message_id`. */
export const replyMessageId = (mid: string) => `${mid}#reply`

export function createConversationRepository(db: Pool) {
  return {
    /** Idempotent on `ig_message_id`: a second insert returns the first row's id. */
    async insertTurn(t: TurnInput, q: Queryable = db): Promise<StoredTurn> {
      const r = await q.query<{ id: number }>(
        `insert into conversation_messages (ig_user_id, role, content, ig_message_id, model, has_image, image_url, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()))
         on conflict (ig_message_id) do nothing
         returning id`,
        [
          t.igUserId,
          t.role,
          t.content,
          t.igMessageId,
          t.model ?? null,
          t.hasImage ?? false,
          t.imageUrl ?? null,
          t.createdAt ?? null,
        ],
      )
      if (r.rows[0]) return { id: Number(r.rows[0].id), inserted: true }
      const existing = await q.query<{ id: number }>(
        'select id from conversation_messages where ig_message_id = $1',
        [t.igMessageId],
      )
      return { id: Number(existing.rows[0]?.id), inserted: false }
    },

    /** The model that wrote an assistant turn with this id, if any. */
    async findModelByMessageId(igMessageId: string, q: Queryable = db): Promise<string | null> {
      const r = await q.query<{ model: string | null }>(
        'select model from conversation_messages where ig_message_id = $1',
        [igMessageId],
      )
      return r.rows[0]?.model ?? null
    },
  }
}

export type ConversationRepository = ReturnType<typeof createConversationRepository>
