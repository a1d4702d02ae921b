import type { Queryable } from '@loopdm/db/pool'

export interface SignalRow {
  igMessageId: string
  action: string
  emoji: string | null
  reaction: string | null
}

/**
 * The curation's reads (migration 0012 and the tables it consults): answer texts repeated across
 * history, held-out turns (gold set, operator exclusions), erased users, the signals about bot
 * turns, and the export's line hashes. Each is one short statement.
 */
export function createCurationRepository(db: Queryable) {
  return {
    /**
     * One statement over every assistant row: the 20 most repeated texts, and the generic ones —
     * given to ≥ `minRepeats` different questions (the customer row before each answer, compared
     * case- and space-insensitively; at most 100,000 texts, each ≤ 4,000 chars). The first pass
     * groups 64-bit hashes of the texts, not the texts (a far smaller aggregate: it stays in
     * memory where grouping texts spilled to disk); only rows whose hash repeats are read again
     * and grouped by their real text, so a collision costs a few rows, never a wrong count. Only
     * texts repeated ≥ `minRepeats` times at all get their questions looked up (through the
     * (ig_user_id, created_at) index).
     */
    async repeatedAnswers(minRepeats: number): Promise<{
      generic: string[]
      top: Array<{ text: string; n: number }>
    }> {
      const r = await db.query<{ t: string; n: number; top: boolean }>(
        `with h as materialized (
           select hashtextextended(btrim(content, E' \t\r\n'), 0) as h from conversation_messages
            where role = 'assistant' and deleted_at is null and content <> ''
            group by 1 having count(*) >= 2),
         r as materialized (
           select m.id, m.ig_user_id, m.created_at, btrim(m.content, E' \t\r\n') as t from conversation_messages m
            where m.role = 'assistant' and m.deleted_at is null and m.content <> ''
              and hashtextextended(btrim(m.content, E' \t\r\n'), 0) in (select h from h)),
         g as materialized (select t, count(*)::int as n from r group by 1 having count(*) >= 2),
         cand as materialized (select t from g where n >= $1 and length(t) <= 4000 limit 100000)
         select t, n, true as top from (select t, n from g order by n desc, t limit 20) a
         union all
         select r.t, count(distinct q.q)::int, false
           from r
           join cand c on c.t = r.t
           cross join lateral (
             select lower(btrim(p.content)) as q from conversation_messages p
              where p.ig_user_id = r.ig_user_id and p.role = 'user'
                and (p.created_at, p.id) < (r.created_at, r.id)
              order by p.created_at desc, p.id desc limit 1) q
          group by r.t having count(distinct q.q) >= $1`,
        [minRepeats],
      )
      return {
        generic: r.rows.filter((x) => !x.top).map((x) => x.t),
        top: r.rows.filter((x) => x.top).map((x) => ({ text: x.t, n: Number(x.n) })),
      }
    },

    /** Message ids held out of training: gold items' customer turns, operator exclusions. */
    async heldOut(): Promise<{ gold: number[]; operator: number[] }> {
      const r = await db.query<{ id: string; kind: string }>(
        `select message_id::text as id, 'gold' as kind from gold_items where message_id is not null
         union all
         select message_id::text, 'operator' from curation_exclusions`,
      )
      const gold: number[] = []
      const operator: number[] = []
      for (const x of r.rows) (x.kind === 'gold' ? gold : operator).push(Number(x.id))
      return { gold, operator }
    },

    /** Erased users' pseudonymous keys → when they were last erased (ms). */
    async erasures(): Promise<Map<string, number>> {
      const r = await db.query<{ k: string; at: Date }>(
        'select user_key as k, max(created_at) as at from gdpr_erasures group by 1',
      )
      return new Map(r.rows.map((x) => [x.k, x.at.getTime()]))
    },

    async hasSignals(): Promise<boolean> {
      const r = await db.query('select 1 from message_signals limit 1')
      return (r.rowCount ?? 0) > 0
    },

    /**
     * Signals about these assistant turns (their `ig_message_id`s): on the turn itself, or on a
     * part the outbox sent for it (`<mid>#reply` answers `mid`; reactions name the sent part).
     */
    async signalsFor(igMessageIds: string[]): Promise<SignalRow[]> {
      if (igMessageIds.length === 0) return []
      const r = await db.query<SignalRow>(
        `select x.id as "igMessageId", s.action, s.emoji, s.reaction
           from unnest($1::text[]) as x(id) join message_signals s on s.mid = x.id
         union all
         select x.id, s.action, s.emoji, s.reaction
           from unnest($1::text[]) as x(id)
           join outbox o on o.mid = left(x.id, -6) and o.sent_mid is not null
           join message_signals s on s.mid = o.sent_mid
          where x.id like '%#reply'`,
        [igMessageIds],
      )
      return r.rows
    },

    /** Every recorded example hash block (16 bytes an example), a page of rows at a time. */
    async *hashBlocks(page = 200): AsyncGenerator<Buffer> {
      let after: string | null = null
      for (;;) {
        const r: { rows: Array<{ b: Buffer; c: string }> } = await db.query(
          `select hashes as b, ctid::text as c from export_line_hashes
            where $1::tid is null or ctid > $1::tid order by ctid limit $2`,
          [after, page],
        )
        for (const row of r.rows) yield row.b
        if (r.rows.length < page) return
        after = (r.rows[r.rows.length - 1] as { c: string }).c
      }
    },

    /** Records one block of a run's new example hashes (deleted with the run if it fails). */
    async insertHashes(block: Buffer, runId: number): Promise<void> {
      if (block.length === 0) return
      await db.query('insert into export_line_hashes (run_id, hashes) values ($1, $2)', [runId, block])
    },
  }
}

export type CurationRepository = ReturnType<typeof createCurationRepository>
