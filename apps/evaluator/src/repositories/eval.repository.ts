import type { Pool } from '@loopdm/db/pool'

/** SQL for `eval_runs` and `eval_items` (migration 0008). */
export interface EvalItemRow {
  itemId: string
  source: 'gold' | 'holdout'
  category: string | null
  role: string
  model: string
  reply: string
  similarity: number | null
  factRecall: number | null
  factsMissing: string[]
  lengthOk: boolean
  piiOk: boolean
  piiTypes: string[]
  judgeScore: number | null
  score: number
  latencyMs: number | null
  error: string | null
  /** The prompt (customer turns, `customer:`/`shop:` lines when multi-turn) and the ideal answer. */
  customerText?: string | null
  ideal?: string | null
}

export interface EvalRunRow {
  id: number
  candidateModel: string
  currentModel: string
  baseModel: string
  trigger: string
  status: 'running' | 'succeeded' | 'failed'
  items: number
  holdoutItems: number
  goldSource: string | null
  goldSize: number | null
  goldSha256: string | null
  promotionBlocked: string | null
  summary: Record<string, unknown> | null
  decision: string | null
  reason: string | null
  createdAt: Date
  finishedAt: Date | null
}

const RUN_COLS = `id, candidate_model as "candidateModel", current_model as "currentModel", base_model as "baseModel",
  trigger, status, items, holdout_items as "holdoutItems", summary, decision, reason,
  gold_source as "goldSource", gold_size as "goldSize", gold_sha256 as "goldSha256", promotion_blocked as "promotionBlocked",
  created_at as "createdAt", finished_at as "finishedAt"`

const ITEM_COLS = [
  'item_id',
  'source',
  'category',
  'role',
  'model',
  'reply',
  'similarity',
  'fact_recall',
  'facts_missing',
  'length_ok',
  'pii_ok',
  'pii_types',
  'judge_score',
  'score',
  'latency_ms',
  'error',
  'customer_text',
  'ideal',
] as const

export function createEvalRepository(db: Pool) {
  return {
    async startRun(r: {
      candidateModel: string
      currentModel: string
      baseModel: string
      trigger: string
      goldPath: string
      goldSha256: string
      /** `file` | `table` | `table+file` (migration 0015). */
      goldSource?: string
      items: number
      holdoutItems: number
    }): Promise<number> {
      const res = await db.query<{ id: number }>(
        `insert into eval_runs (candidate_model, current_model, base_model, trigger, gold_path, gold_sha256, items, holdout_items, gold_source, gold_size)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $7) returning id`,
        [
          r.candidateModel,
          r.currentModel,
          r.baseModel,
          r.trigger,
          r.goldPath,
          r.goldSha256,
          r.items,
          r.holdoutItems,
          r.goldSource ?? 'file',
        ],
      )
      return Number(res.rows[0]?.id)
    },

    /** Multi-row inserts in chunks, so the embedded Postgres is never held by one long statement. */
    async insertItems(runId: number, rows: EvalItemRow[]): Promise<void> {
      const per = ITEM_COLS.length + 1
      for (let i = 0; i < rows.length; i += 100) {
        const chunk = rows.slice(i, i + 100)
        const params: unknown[] = []
        const values = chunk.map((r, j) => {
          params.push(
            runId,
            r.itemId,
            r.source,
            r.category,
            r.role,
            r.model,
            r.reply,
            r.similarity,
            r.factRecall,
            r.factsMissing,
            r.lengthOk,
            r.piiOk,
            r.piiTypes,
            r.judgeScore,
            r.score,
            r.latencyMs,
            r.error,
            r.customerText ?? null,
            r.ideal ?? null,
          )
          return `(${Array.from({ length: per }, (_, k) => `$${j * per + k + 1}`).join(', ')})`
        })
        await db.query(
          `insert into eval_items (run_id, ${ITEM_COLS.join(', ')}) values ${values.join(', ')}`,
          params,
        )
      }
    },

    async finishRun(
      id: number,
      r: {
        summary: Record<string, unknown>
        decision: string
        reason: string
        promotionBlocked?: string | null
      },
    ): Promise<void> {
      await db.query(
        `update eval_runs set status = 'succeeded', summary = $2, decision = $3, reason = $4,
                promotion_blocked = $5, finished_at = now()
          where id = $1`,
        [id, JSON.stringify(r.summary), r.decision, r.reason, r.promotionBlocked ?? null],
      )
    },

    /**
     * Recent human-authored exchanges (staff `human`, then `import` answers, newest first) for the
     * holdout: the customer turn right before each answer. Gold items, operator exclusions and unsent
     * customer messages are left out.
     */
    async recentHumanAnswers(limit: number): Promise<Array<{ user: string; assistant: string }>> {
      if (limit <= 0) return []
      const r = await db.query<{ user: string; assistant: string }>(
        `select q.content as "user", a.content as assistant
           from conversation_messages a
           cross join lateral (
             select id, content, deleted_at from conversation_messages u
              where u.ig_user_id = a.ig_user_id and u.role = 'user' and u.id < a.id
              order by u.id desc limit 1) q
          where a.role = 'assistant' and a.author in ('human', 'import') and a.content <> ''
            and q.deleted_at is null and q.content <> ''
            and not exists (select 1 from gold_items g where g.message_id = q.id)
            and not exists (select 1 from curation_exclusions e where e.message_id in (q.id, a.id))
          order by (a.author = 'human') desc, a.created_at desc, a.id desc
          limit $1`,
        [limit],
      )
      return r.rows
    },

    async failRun(id: number, error: string): Promise<void> {
      await db.query(
        `update eval_runs set status = 'failed', error = $2, finished_at = now() where id = $1`,
        [id, error.slice(0, 2000)],
      )
    },

    async findRun(id: number): Promise<EvalRunRow | null> {
      const r = await db.query<EvalRunRow>(`select ${RUN_COLS} from eval_runs where id = $1`, [id])
      return r.rows[0] ?? null
    },

    async latestRunFor(candidateModel: string): Promise<EvalRunRow | null> {
      const r = await db.query<EvalRunRow>(
        `select ${RUN_COLS} from eval_runs where candidate_model = $1 order by id desc limit 1`,
        [candidateModel],
      )
      return r.rows[0] ?? null
    },

    async countItems(runId: number): Promise<Record<string, number>> {
      const r = await db.query<{ role: string; n: number }>(
        'select role, count(*)::int as n from eval_items where run_id = $1 group by role',
        [runId],
      )
      return Object.fromEntries(r.rows.map((x) => [x.role, Number(x.n)]))
    },

    async deleteRunsFor(candidateModel: string): Promise<void> {
      await db.query('delete from eval_runs where candidate_model = $1', [candidateModel])
    },
  }
}

export type EvalRepository = ReturnType<typeof createEvalRepository>
