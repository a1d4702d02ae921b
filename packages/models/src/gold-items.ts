import { createHash } from 'node:crypto'
import type { Queryable } from '@loopdm/db/pool'
import { ConflictError, NotFoundError, ValidationError } from '@loopdm/platform/errors'

/**
 * The deployment's gold set (table `gold_items`, migration 0015): the shop's own exchanges with the
 * ideal answer and the facts a good answer must state. `npm run gold:add|gold:list|gold:remove`,
 * `POST|GET|DELETE /admin/gold` and the console's "Mark as gold" all go through this repository.
 * Gold items are held out: the exemplar learner skips their customer turns, the export skips them.
 */
export interface GoldItemRow {
  id: number
  messageId: number | null
  igUserId: string | null
  customerText: string
  idealAnswer: string
  requiredFacts: string[]
  createdBy: string
  createdAt: Date
}

export interface AddGoldInput {
  /** A customer turn (`conversation_messages.id`, role `user`). */
  fromMessageId?: number | undefined
  /** Typed in by hand (with `idealAnswer`) instead of `fromMessageId`. */
  customerText?: string | undefined
  /** Default with `fromMessageId`: the human answer that followed the turn, else the answer that followed. */
  idealAnswer?: string | undefined
  requiredFacts?: string[] | undefined
  createdBy?: string | undefined
}

const COLS = `id, message_id as "messageId", ig_user_id as "igUserId", customer_text as "customerText",
  ideal_answer as "idealAnswer", required_facts as "requiredFacts", created_by as "createdBy", created_at as "createdAt"`

interface MessageRow {
  id: number
  igUserId: string
  role: string
  content: string
  deletedAt: Date | null
}

/** A message id as given on a command line or in a form: a positive integer, else a ValidationError naming it. */
export function parseMessageId(raw: unknown, what = 'message id'): number {
  const n =
    typeof raw === 'number'
      ? raw
      : typeof raw === 'string' && /^\d{1,18}$/.test(raw.trim())
        ? Number(raw)
        : NaN
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new ValidationError(`bad ${what} "${String(raw)}": expected a positive integer`)
  return n
}

/** Content hash of a gold set: the same items (id, text, ideal, facts) → the same hash. */
export function goldItemsHash(
  rows: Array<Pick<GoldItemRow, 'id' | 'customerText' | 'idealAnswer' | 'requiredFacts'>>,
): string {
  const h = createHash('sha256').update('gold-items-v1\n')
  for (const r of [...rows].sort((a, b) => a.id - b.id))
    h.update(`${JSON.stringify([r.id, r.customerText, r.idealAnswer, r.requiredFacts])}\n`)
  return h.digest('hex')
}

export function createGoldRepository(db: Queryable) {
  const message = async (id: number): Promise<MessageRow | null> => {
    const r = await db.query<MessageRow>(
      `select id, ig_user_id as "igUserId", role, content, to_jsonb(m) ->> 'deleted_at' as "deletedAt"
         from conversation_messages m where id = $1`,
      [id],
    )
    return r.rows[0] ?? null
  }

  /** The answer to customer turn `m`: assistant turns after it up to the customer's next question; human first. */
  const answerTo = async (m: MessageRow): Promise<string | null> => {
    const r = await db.query<{ content: string }>(
      `with first_answer as (
         select min(id) as id from conversation_messages
          where ig_user_id = $1 and role = 'assistant' and id > $2),
       next_question as (
         select min(id) as id from conversation_messages
          where ig_user_id = $1 and role = 'user' and id > (select id from first_answer))
       select content from conversation_messages m
        where ig_user_id = $1 and role = 'assistant' and id >= (select id from first_answer)
          and id < coalesce((select id from next_question), 9223372036854775807)
          and content <> ''
        order by case to_jsonb(m) ->> 'author' when 'human' then 0 when 'import' then 1 else 2 end, id
        limit 1`,
      [m.igUserId, m.id],
    )
    return r.rows[0]?.content ?? null
  }

  /** The customer turn an assistant turn answered: the latest customer turn before it in its conversation. */
  const customerTurnBefore = async (
    assistantId: number,
  ): Promise<{ id: number; igUserId: string } | null> => {
    const r = await db.query<{ id: number; igUserId: string }>(
      `select q.id, q.ig_user_id as "igUserId" from conversation_messages a
         join conversation_messages q on q.ig_user_id = a.ig_user_id and q.role = 'user' and q.id < a.id
        where a.id = $1 and a.role = 'assistant' order by q.id desc limit 1`,
      [assistantId],
    )
    return r.rows[0] ?? null
  }

  return {
    /** Adds one gold item; every refusal is a named error (unknown id 404, not a customer turn 400, already gold 409). */
    async add(input: AddGoldInput): Promise<GoldItemRow> {
      const facts = (input.requiredFacts ?? []).map((f) => f.trim()).filter(Boolean)
      const createdBy = input.createdBy?.trim() || 'admin'
      let ideal = input.idealAnswer?.trim() || undefined
      let customerText: string
      let messageId: number | null = null
      let igUserId: string | null = null
      if (input.fromMessageId !== undefined) {
        const id = parseMessageId(input.fromMessageId, 'fromMessageId')
        const m = await message(id)
        if (!m) throw new NotFoundError(`fromMessageId ${id}: no such message`)
        if (m.role !== 'user') {
          const q = m.role === 'assistant' ? await customerTurnBefore(id) : null
          const hint = q ? ` (the customer turn it answered is ${q.id})` : ''
          throw new ValidationError(
            `fromMessageId ${id}: message ${id} is an ${m.role} turn, not a customer turn${hint}`,
          )
        }
        if (m.deletedAt) throw new ValidationError(`fromMessageId ${id}: the customer unsent message ${id}`)
        if (!m.content.trim()) throw new ValidationError(`fromMessageId ${id}: message ${id} has no text`)
        const dup = await db.query<{ id: number }>(
          'select id from gold_items where message_id = $1 limit 1',
          [id],
        )
        if (dup.rows[0]) throw new ConflictError(`fromMessageId ${id}: already gold item ${dup.rows[0].id}`)
        ideal ??= (await answerTo(m)) ?? undefined
        if (!ideal)
          throw new ValidationError(
            `idealAnswer: message ${id} has no answer after it; give the ideal answer`,
          )
        customerText = m.content.trim()
        messageId = id
        igUserId = m.igUserId
      } else {
        const text = input.customerText?.trim()
        if (!text) throw new ValidationError('customerText: required (or fromMessageId)')
        if (!ideal) throw new ValidationError('idealAnswer: required with customerText')
        customerText = text
      }
      try {
        const r = await db.query<GoldItemRow>(
          `insert into gold_items (message_id, ig_user_id, customer_text, ideal_answer, required_facts, created_by)
           values ($1, $2, $3, $4, $5::jsonb, $6) returning ${COLS}`,
          [messageId, igUserId, customerText, ideal, JSON.stringify(facts), createdBy],
        )
        return r.rows[0] as GoldItemRow
      } catch (err) {
        // 23505: a concurrent add of the same customer turn won (gold_items_message_unique).
        if ((err as { code?: string }).code === '23505')
          throw new ConflictError(`fromMessageId ${messageId}: already gold`, err)
        throw err
      }
    },

    async list(): Promise<GoldItemRow[]> {
      return (await db.query<GoldItemRow>(`select ${COLS} from gold_items order by id`)).rows
    },

    async count(): Promise<number> {
      const r = await db.query<{ n: number }>('select count(*)::int as n from gold_items')
      return Number(r.rows[0]?.n ?? 0)
    },

    /** Removes one item; NotFoundError naming the id when there is none. */
    async remove(id: number): Promise<GoldItemRow> {
      const r = await db.query<GoldItemRow>(`delete from gold_items where id = $1 returning ${COLS}`, [id])
      if (!r.rows[0]) throw new NotFoundError(`gold item ${id}: no such item`)
      return r.rows[0]
    },

    /** The customer turn an assistant turn answered (the console marks an exchange from its answer). */
    customerTurnBefore,

    /** GDPR erase: deletes the user's gold items (run inside the erase transaction); returns the count. */
    async eraseUser(igUserId: string, q: Queryable = db): Promise<number> {
      const r = await q.query('delete from gold_items where ig_user_id = $1', [igUserId])
      return r.rowCount ?? 0
    },
  }
}

export type GoldRepository = ReturnType<typeof createGoldRepository>

/**
 * Operator exclusions (table `curation_exclusions`, shared with curation): a message an operator kept
 * out of training. The export skips it (curation); idempotent — excluding twice keeps the first row.
 */
export function createExclusionRepository(db: Queryable) {
  return {
    async exclude(a: { messageId: number; igUserId?: string; createdBy?: string; reason?: string }) {
      const r = await db.query<{ igUserId: string }>(
        'select ig_user_id as "igUserId" from conversation_messages where id = $1',
        [a.messageId],
      )
      const m = r.rows[0]
      if (!m || (a.igUserId !== undefined && m.igUserId !== a.igUserId))
        throw new NotFoundError(
          `messageId ${a.messageId}: no such message${a.igUserId ? ' in this conversation' : ''}`,
        )
      await db.query(
        `insert into curation_exclusions (message_id, reason, created_by) values ($1, $2, $3)
         on conflict (message_id) do nothing`,
        [a.messageId, a.reason ?? 'operator', a.createdBy ?? 'admin'],
      )
    },
  }
}
