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
  /** Assistant turns: `bot` | `human` | `import`; null for customer turns. */
  author?: 'bot' | 'human' | 'import' | null
  /** Bot turns: the router's reason (image, active, base, circuit-open, fallback …). */
  routeReason?: string | null
  /** Bot turns: the registry id of the policy that answered, and its canary arm (issue 19). */
  policyId?: number | null
  canaryArm?: 'canary' | 'control' | null
  /** reply_to / quick reply / referral / postback as Meta delivered them. */
  context?: unknown
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
        `insert into conversation_messages
           (ig_user_id, role, content, ig_message_id, model, has_image, image_url, created_at, author, route_reason, context,
            policy_id, canary_arm)
         values ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()), $9, $10, $11::jsonb, $12, $13)
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
          t.author ?? null,
          t.routeReason ?? null,
          t.context === undefined ? null : JSON.stringify(t.context),
          t.policyId ?? null,
          t.canaryArm ?? null,
        ],
      )
      if (r.rows[0]) return { id: Number(r.rows[0].id), inserted: true }
      const existing = await q.query<{ id: number }>(
        'select id from conversation_messages where ig_message_id = $1',
        [t.igMessageId],
      )
      return { id: Number(existing.rows[0]?.id), inserted: false }
    },

    /**
     * The customer unsent `mid`: its text, summary and embedding are blanked and `deleted_at` set.
     * When the turn is not stored yet (its job has not run), a blank tombstone is stored instead,
     * so the message, when it is processed, is neither stored with its text nor answered.
     */
    async markDeleted(args: { mid: string; igUserId: string }, q: Queryable = db): Promise<void> {
      await q.query(
        `insert into conversation_messages (ig_user_id, role, content, ig_message_id, deleted_at)
         values ($2, 'user', '', $1, now())
         on conflict (ig_message_id) do update
           set content = '', content_summary = null, embedding = null, image_url = null, has_image = false,
               context = null, deleted_at = coalesce(conversation_messages.deleted_at, now())`,
        [args.mid, args.igUserId],
      )
    },

    /** message_edit: the stored text is replaced (embedding and summary dropped: memory re-embeds it). */
    async editText(args: { mid: string; text: string }, q: Queryable = db): Promise<boolean> {
      const r = await q.query(
        `update conversation_messages set content = $2, content_summary = null, embedding = null, edited_at = now()
          where ig_message_id = $1 and role = 'user' and deleted_at is null`,
        [args.mid, args.text],
      )
      return (r.rowCount ?? 0) > 0
    },

    async isDeleted(igMessageId: string, q: Queryable = db): Promise<boolean> {
      const r = await q.query(
        'select 1 from conversation_messages where ig_message_id = $1 and deleted_at is not null',
        [igMessageId],
      )
      return r.rows.length > 0
    },

    /** When staff last replied to this customer by hand (an echo the gateway did not send). */
    async lastHumanReplyAt(igUserId: string, q: Queryable = db): Promise<Date | null> {
      const r = await q.query<{ at: Date | null }>(
        `select max(created_at) as at from conversation_messages where ig_user_id = $1 and author = 'human'`,
        [igUserId],
      )
      return r.rows[0]?.at ?? null
    },

    /** When the customer last wrote (the Send API's 24-hour / 7-day windows count from it). */
    async lastCustomerTurnAt(igUserId: string, q: Queryable = db): Promise<Date | null> {
      const r = await q.query<{ at: Date | null }>(
        `select max(created_at) as at from conversation_messages
          where ig_user_id = $1 and role = 'user' and ig_message_id not like 'import:%' and deleted_at is null`,
        [igUserId],
      )
      return r.rows[0]?.at ?? null
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
