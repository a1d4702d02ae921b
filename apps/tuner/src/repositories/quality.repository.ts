import type { Pool } from '@loopdm/db/pool'

/**
 * Production quality signals, per model, over a period [from, to):
 * - replies: assistant turns written by the model;
 * - reactions: `react` signals on the model's messages (and `unreact`s);
 * - fallbacks: replies written by BASE_MODEL while a different (fine-tuned) model was active —
 *   the router fell back (error, timeout, open circuit). The active model at a time is read from
 *   the append-only `model_promotions` log, so nothing extra has to be recorded on the hot path;
 * - completion: per conversation (user), whether the user's last turn in the period was answered,
 *   attributed to the model that was active when that turn arrived (BASE_MODEL before any promotion).
 */
export interface ModelQualityRow {
  model: string
  replies: number
  reactions: number
  unreactions: number
  fallbacks: number
  conversations: number
  completed: number
}

const ACTIVE_AT = (t: string, base: string) => `coalesce((select p.to_model from model_promotions p
  where p.created_at <= ${t} order by p.id desc limit 1), ${base})`

export function createQualityRepository(db: Pool) {
  return {
    async perModel(args: {
      from: Date
      to: Date
      baseModel: string
      visionModel: string
    }): Promise<ModelQualityRow[]> {
      const params = [args.from, args.to, args.baseModel, args.visionModel]
      const hasSignals = await db.query<{ t: string | null }>(
        "select to_regclass('message_signals')::text as t",
      )
      const replies = await db.query<{ model: string; replies: number; fallbacks: number }>(
        `select a.model,
                count(*)::int as replies,
                count(*) filter (where a.model = $3 and ${ACTIVE_AT('a.created_at', '$3')} <> $3)::int as fallbacks
           from conversation_messages a
          where a.role = 'assistant' and a.model is not null and a.model <> $4
            and a.created_at >= $1 and a.created_at < $2
          group by a.model`,
        params,
      )
      const completion = await db.query<{ model: string; conversations: number; completed: number }>(
        `with last_user as (
           select distinct on (ig_user_id) ig_user_id, id, created_at
             from conversation_messages
            where role = 'user' and created_at >= $1 and created_at < $2
            order by ig_user_id, created_at desc, id desc)
         select ${ACTIVE_AT('u.created_at', '$3')} as model,
                count(*)::int as conversations,
                count(*) filter (where exists (
                  select 1 from conversation_messages a
                   where a.ig_user_id = u.ig_user_id and a.role = 'assistant'
                     and (a.created_at > u.created_at or (a.created_at = u.created_at and a.id > u.id))))::int as completed
           from last_user u group by 1`,
        params.slice(0, 3),
      )
      const reactions = hasSignals.rows[0]?.t
        ? await db.query<{ model: string; reactions: number; unreactions: number }>(
            `select model, count(*) filter (where action = 'react')::int as reactions,
                    count(*) filter (where action = 'unreact')::int as unreactions
               from message_signals where model is not null and created_at >= $1 and created_at < $2
              group by model`,
            [args.from, args.to],
          )
        : { rows: [] }
      const out = new Map<string, ModelQualityRow>()
      const row = (model: string) => {
        let r = out.get(model)
        if (!r) {
          r = {
            model,
            replies: 0,
            reactions: 0,
            unreactions: 0,
            fallbacks: 0,
            conversations: 0,
            completed: 0,
          }
          out.set(model, r)
        }
        return r
      }
      for (const r of replies.rows)
        Object.assign(row(r.model), { replies: r.replies, fallbacks: r.fallbacks })
      for (const r of completion.rows)
        Object.assign(row(r.model), { conversations: r.conversations, completed: r.completed })
      for (const r of reactions.rows)
        Object.assign(row(r.model), { reactions: r.reactions, unreactions: r.unreactions })
      return [...out.values()].sort((a, b) => b.replies - a.replies)
    },
  }
}

export type QualityRepository = ReturnType<typeof createQualityRepository>
