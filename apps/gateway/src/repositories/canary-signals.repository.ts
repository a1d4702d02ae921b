import type { Pool, Queryable } from '@loopdm/db/pool'
import type { ArmCounts, CanaryArm } from '@loopdm/models/canary-decision'
import type { CanaryRun } from '@loopdm/models/canary-runs'

/**
 * The live signals of each canary arm, derived from what the gateway already records (issue 19):
 * `canary_replies` (arm, model, router reason, latency) joined by mid with `outbox` (send
 * failures, the sent Graph ids) and `message_signals` (a `takeover` within 30 min of a bot reply,
 * reactions), `conversation_messages` (a customer's question left unanswered at the end) and
 * `cost_ledger` (cost per reply, per model since the run started).
 */
export const NEGATIVE_EMOJIS = ['👎', '😡', '😠', '🤬', '😢', '😞', '💩', '😤', '🙄']
export const POSITIVE_EMOJIS = ['❤️', '❤', '👍', '😍', '🥰', '😂', '🔥', '🙏', '😊']

export interface ArmSignals extends ArmCounts {
  takeovers: number
  negativeReactions: number
  /** Customers on this arm whose last turn is a question nobody answered (after the quiet time). */
  unanswered: number
}

export type CanaryCounts = Record<CanaryArm, ArmSignals>

const empty = (): ArmSignals => ({
  replies: 0,
  badOutcomes: 0,
  positiveReactions: 0,
  fallbacks: 0,
  sendFailures: 0,
  takeovers: 0,
  negativeReactions: 0,
  unanswered: 0,
})

const SIGNAL_OF = (cond: string) => `exists (select 1 from outbox o
    join message_signals s on s.mid = o.sent_mid and s.ig_user_id = r.ig_user_id
   where o.mid = r.mid and ${cond})`
const TAKEOVER = `s.action = 'takeover'`
const NEGATIVE = `s.action = 'react' and s.emoji = any($2)`
const POSITIVE = `s.action = 'react' and (s.reaction = 'love' or s.emoji = any($3))`

export function createCanarySignalsRepository(db: Pool) {
  return {
    async counts(run: CanaryRun, o: { unansweredQuietMs: number }, q: Queryable = db): Promise<CanaryCounts> {
      const out: CanaryCounts = { control: empty(), canary: empty() }
      const main = await q.query<Record<string, number | string | null> & { arm: CanaryArm }>(
        `select r.arm, count(*)::int as replies,
                count(*) filter (where r.route_reason in ('fallback', 'circuit-open'))::int as fallbacks,
                count(*) filter (where exists (select 1 from outbox o where o.mid = r.mid and o.status = 'failed'))::int
                  as send_failures,
                count(*) filter (where ${SIGNAL_OF(`(${TAKEOVER} or (${NEGATIVE}))`)})::int as bad,
                count(*) filter (where ${SIGNAL_OF(TAKEOVER)})::int as takeovers,
                count(*) filter (where ${SIGNAL_OF(NEGATIVE)})::int as negative,
                count(*) filter (where ${SIGNAL_OF(POSITIVE)})::int as positive,
                coalesce(percentile_cont(0.99) within group (order by r.latency_ms), 0)::float8 as p99
           from canary_replies r where r.run_id = $1 group by r.arm`,
        [run.id, NEGATIVE_EMOJIS, POSITIVE_EMOJIS],
      )
      for (const row of main.rows) {
        const a = out[row.arm]
        Object.assign(a, {
          replies: Number(row.replies),
          fallbacks: Number(row.fallbacks),
          sendFailures: Number(row.send_failures),
          badOutcomes: Number(row.bad),
          takeovers: Number(row.takeovers),
          negativeReactions: Number(row.negative),
          positiveReactions: Number(row.positive),
          p99LatencyMs: Math.round(Number(row.p99)),
        })
      }
      for (const row of (await costs(q, run)).rows) out[row.arm].costPerReplyUsd = Number(row.cost)
      for (const row of (await unanswered(q, run, o.unansweredQuietMs)).rows)
        out[row.arm].unanswered = Number(row.n)
      return out
    },
  }
}

/** Mean reply cost of each model since the run started (ledger, purpose `reply`), weighted by the arm's replies. */
function costs(q: Queryable, run: CanaryRun) {
  return q.query<{ arm: CanaryArm; cost: number }>(
    `with m as (select model, avg(cost_usd)::float8 as c from cost_ledger
                 where purpose = 'reply' and created_at >= $2 group by model)
     select r.arm, avg(m.c)::float8 as cost
       from canary_replies r join m on m.model = r.model
      where r.run_id = $1 group by r.arm`,
    [run.id, run.startedAt],
  )
}

/** Customers per arm whose last turn (since the start) is a question with no reply for `quietMs`. */
function unanswered(q: Queryable, run: CanaryRun, quietMs: number) {
  return q.query<{ arm: CanaryArm; n: number }>(
    `select a.arm, count(*)::int as n
       from (select distinct ig_user_id, arm from canary_replies where run_id = $1) a
       join lateral (select role, content, created_at from conversation_messages c
                      where c.ig_user_id = a.ig_user_id and c.deleted_at is null
                      order by c.created_at desc, c.id desc limit 1) last on true
      where last.role = 'user' and last.content like '%?%' and last.created_at >= $2
        and last.created_at < now() - ($3::float8 * interval '1 millisecond')
      group by a.arm`,
    [run.id, run.startedAt, quietMs],
  )
}

export type CanarySignalsRepository = ReturnType<typeof createCanarySignalsRepository>
