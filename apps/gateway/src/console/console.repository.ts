import type { Queryable } from '@loopdm/db/pool'
import { hmacPads, userKeySql } from '@loopdm/training-data/pseudonym'

/**
 * The console's read queries (exports, fine-tunes, evaluations, outbox activity, conversations,
 * costs). Read-only: every change goes through the services the console is given.
 */
export interface ExportRunView {
  id: number
  runDate: string
  kind: string
  status: string
  trigger: string
  rowsRead: number
  examples: number
  bytes: number
  pii: Record<string, number>
  files: Array<{ path: string; lines: number; bytes: number }>
  error: string | null
  startedAt: Date
  committedAt: Date | null
}

export interface FinetuneJobView {
  id: number
  status: string
  filePath: string
  providerFileId: string | null
  providerJobId: string | null
  baseModel: string
  fineTunedModel: string | null
  examples: number
  tokens: number
  estimatedCostUsd: number
  actualCostUsd: number | null
  error: string | null
  createdAt: Date
  finishedAt: Date | null
}

export interface EvalRunView {
  id: number
  candidateModel: string
  currentModel: string
  baseModel: string
  status: string
  goldPath: string | null
  /** `file` | `table` | `table+file` (migration 0015; null in older runs), its hash and the holdout size. */
  goldSource: string | null
  goldSha256: string | null
  holdoutItems: number
  /** Why auto-promotion was held back (EVAL_MIN_GOLD), or null. */
  promotionBlocked: string | null
  items: number
  summary: Record<string, unknown> | null
  decision: string | null
  reason: string | null
  error: string | null
  createdAt: Date
}

export interface EvalItemView {
  itemId: string
  source: string
  category: string | null
  role: string
  model: string
  reply: string
  similarity: number | null
  factRecall: number | null
  factsMissing: string[]
  lengthOk: boolean
  piiOk: boolean
  score: number
  error: string | null
  /** The prompt and ideal answer as the run stored them (migration 0015); null in older runs. */
  customerText: string | null
  ideal: string | null
}

export interface ThreadMessage {
  id: number
  role: string
  content: string
  model: string | null
  /** The registry key of the policy that wrote a bot turn (its model is the serving model). */
  policy: string | null
  /** `bot` | `human` | `import` once migration for authorship lands; null before. */
  author: string | null
  hasImage: boolean
  createdAt: Date
}

const EVAL_RUN_COLS = `id, candidate_model as "candidateModel", current_model as "currentModel",
  base_model as "baseModel", status, gold_path as "goldPath", items, summary, decision, reason, error,
  gold_source as "goldSource", gold_sha256 as "goldSha256", holdout_items as "holdoutItems",
  promotion_blocked as "promotionBlocked", created_at as "createdAt"`

/** 42P01 = undefined table: a page still renders before the migration that creates it ran. */
async function orEmpty<T>(p: Promise<T[]>): Promise<T[]> {
  try {
    return await p
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return []
    throw err
  }
}

export function createConsoleRepository(db: Queryable) {
  const rows = async <T>(sql: string, params: unknown[] = []) =>
    orEmpty(db.query<T & Record<string, unknown>>(sql, params).then((r) => r.rows as T[]))

  return {
    async exportRuns(limit = 10): Promise<ExportRunView[]> {
      const r = await rows<ExportRunView & { plan: { files?: Array<Record<string, unknown>> } | null }>(
        `select id, run_date::text as "runDate", kind, status, trigger, rows_read::int8 as "rowsRead",
                examples::int8 as examples, bytes::int8 as bytes, pii, plan, error,
                started_at as "startedAt", committed_at as "committedAt"
           from export_runs order by id desc limit $1`,
        [limit],
      )
      return r.map(({ plan, ...run }) => ({
        ...run,
        rowsRead: Number(run.rowsRead),
        examples: Number(run.examples),
        bytes: Number(run.bytes),
        files: (plan?.files ?? []).map((f) => ({
          path: String(f.final ?? ''),
          lines: Number(f.lines ?? 0),
          bytes: Number(f.bytes ?? 0),
        })),
      }))
    },

    async finetuneJobs(limit = 10): Promise<FinetuneJobView[]> {
      return rows<FinetuneJobView>(
        `select id, status, file_path as "filePath", provider_file_id as "providerFileId",
                provider_job_id as "providerJobId", base_model as "baseModel",
                fine_tuned_model as "fineTunedModel", examples, tokens,
                estimated_cost_usd::float8 as "estimatedCostUsd", actual_cost_usd::float8 as "actualCostUsd",
                error, created_at as "createdAt", finished_at as "finishedAt"
           from finetune_jobs order by id desc limit $1`,
        [limit],
      )
    },

    async latestEvalRun(candidateModel?: string): Promise<EvalRunView | null> {
      const r = await rows<EvalRunView>(
        `select ${EVAL_RUN_COLS} from eval_runs where ($1::text is null or candidate_model = $1)
          order by id desc limit 1`,
        [candidateModel ?? null],
      )
      return r[0] ?? null
    },

    async evalItems(runId: number): Promise<EvalItemView[]> {
      return rows<EvalItemView>(
        `select item_id as "itemId", source, category, role, model, reply, similarity,
                fact_recall as "factRecall", facts_missing as "factsMissing", length_ok as "lengthOk",
                pii_ok as "piiOk", score, error, customer_text as "customerText", ideal
           from eval_items where run_id = $1 order by id`,
        [runId],
      )
    },

    /** Customer messages answered since `since` (one per answered mid, delivered or logged). */
    async answeredSince(since: Date): Promise<number> {
      const r = await rows<{ n: number }>(
        `select count(distinct mid)::int as n from outbox
          where part = 0 and status in ('sent', 'logged') and created_at >= $1`,
        [since],
      )
      return Number(r[0]?.n ?? 0)
    },

    /** Replies (part 0 of each answer) per UTC day and model since `since`. */
    async repliesPerModelPerDay(since: Date): Promise<Array<{ day: string; model: string; n: number }>> {
      const r = await rows<{ day: string; model: string; n: number }>(
        `select to_char(date_trunc('day', created_at at time zone 'UTC'), 'YYYY-MM-DD') as day,
                coalesce(model, 'unknown') as model, count(*)::int as n
           from outbox where part = 0 and status in ('sent', 'logged') and created_at >= $1
          group by 1, 2 order by 1, 2`,
        [since],
      )
      return r.map((x) => ({ ...x, n: Number(x.n) }))
    },

    /**
     * Customers by latest activity; `igUserId` or `userKey` (pseudonymous) narrows to one. The key
     * (an HMAC under PSEUDONYM_SECRET, or the legacy hash) is computed in SQL from the secret's
     * padded keys (pseudonym.ts `userKeySql`): the ids never leave the database for the search.
     */
    async recentConversations(
      opts: {
        igUserId?: string
        userKey?: string
        limit?: number
        pseudonymSecret?: string | undefined
      } = {},
    ): Promise<Array<{ igUserId: string; messages: number; lastAt: Date }>> {
      let igUserId = opts.igUserId ?? null
      if (opts.userKey) {
        const pads = opts.pseudonymSecret ? hmacPads(opts.pseudonymSecret) : undefined
        const keyed = pads
          ? `${userKeySql('u.id', { inner: '$2', outer: '$3' })} = $1 or ${userKeySql('u.id')} = $1`
          : `${userKeySql('u.id')} = $1`
        const hit = await rows<{ id: string }>(
          `select u.id from (select distinct ig_user_id as id from conversation_messages) u where ${keyed} limit 1`,
          pads ? [opts.userKey, pads.inner, pads.outer] : [opts.userKey],
        )
        if (!hit[0]) return []
        igUserId = hit[0].id
      }
      return rows(
        `select ig_user_id as "igUserId", count(*)::int as messages, max(created_at) as "lastAt"
           from conversation_messages
          where ($1::text is null or ig_user_id = $1)
          group by ig_user_id order by max(created_at) desc limit $2`,
        [igUserId, opts.limit ?? 30],
      )
    },

    /** The latest `limit` turns of one customer, oldest first. */
    async thread(igUserId: string, limit = 200): Promise<ThreadMessage[]> {
      // `author` arrives with the authorship migration (issue 13); to_jsonb reads it when present.
      return rows<ThreadMessage>(
        `select * from (
           select m.id, m.role, m.content, m.model, p.model as policy,
                  to_jsonb(m) ->> 'author' as author, m.has_image as "hasImage", m.created_at as "createdAt"
             from conversation_messages m left join models p on p.id = m.policy_id
            where m.ig_user_id = $1
            order by m.created_at desc, m.id desc limit $2) t
          order by "createdAt", id`,
        [igUserId, limit],
      )
    },

    /** Spend per UTC month, operation and model since `since`. */
    /**
     * What each learner cost per month: `fine-tune` (fine-tuning jobs), `exemplars` (set builds'
     * embeddings, and the demonstrations' prompt tokens — attribution rows with cost 0, priced by
     * the caller), and the month's replies to divide by.
     */
    async learnerSpendByMonth(since: Date): Promise<
      Array<{
        month: string
        kind: 'fine-tune' | 'set-build' | 'demonstrations' | 'replies'
        model: string
        usd: number
        calls: number
        promptTokens: number
      }>
    > {
      return rows(
        `select to_char(date_trunc('month', created_at at time zone 'UTC'), 'YYYY-MM') as month,
                case when operation = 'fine_tune' then 'fine-tune'
                     when operation = 'exemplars' then 'demonstrations'
                     when purpose = 'exemplars' then 'set-build'
                     else 'replies' end as kind,
                model, coalesce(sum(cost_usd), 0)::float8 as usd, count(*)::int as calls,
                coalesce(sum(prompt_tokens), 0)::int8::float8 as "promptTokens"
           from cost_ledger
          where created_at >= $1
            and (operation in ('exemplars', 'fine_tune') or purpose = 'exemplars'
                 or (operation = 'chat' and purpose = 'reply'))
          group by 1, 2, 3 order by 1 desc`,
        [since],
      )
    },

    async spendByMonth(
      since: Date,
    ): Promise<Array<{ month: string; operation: string; model: string; costUsd: number; calls: number }>> {
      const r = await rows<{
        month: string
        operation: string
        model: string
        costUsd: number
        calls: number
      }>(
        `select to_char(date_trunc('month', created_at at time zone 'UTC'), 'YYYY-MM') as month,
                operation, model, sum(cost_usd)::float8 as "costUsd", count(*)::int as calls
           from cost_ledger where created_at >= $1 group by 1, 2, 3 order by 1 desc, 4 desc`,
        [since],
      )
      return r.map((x) => ({ ...x, costUsd: Number(x.costUsd), calls: Number(x.calls) }))
    },
  }
}

export type ConsoleRepository = ReturnType<typeof createConsoleRepository>
