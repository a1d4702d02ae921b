import type { Pool } from '@loopdm/db/pool'

/**
 * The monthly report's evaluation and production sections. They read tables other apps own
 * (`eval_runs` from the evaluator, `message_signals`/`outbox` from the gateway) only when present,
 * so the report works at every stage of a deployment.
 */
const cell = (v: unknown) =>
  String(v instanceof Date ? v.toISOString() : (v ?? ''))
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ')

export function table(head: string[], rows: unknown[][]): string[] {
  if (rows.length === 0) return ['_none_']
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ]
}

export async function columnsOf(pool: Pool, name: string): Promise<string[] | null> {
  const r = await pool.query<{ column_name: string }>(
    `select column_name from information_schema.columns where table_schema = current_schema() and table_name = $1
      order by ordinal_position`,
    [name],
  )
  return r.rows.length ? r.rows.map((c) => c.column_name) : null
}

/** `{ candidate: { mean: 0.81, … }, … }` → `candidate 0.810 · current 0.760`. */
function scores(summary: unknown): string {
  if (!summary || typeof summary !== 'object') return ''
  return Object.entries(summary as Record<string, unknown>)
    .map(([k, v]) => {
      const mean = typeof v === 'number' ? v : (v as { mean?: unknown } | null)?.mean
      return typeof mean === 'number' ? `${k} ${mean.toFixed(3)}` : null
    })
    .filter(Boolean)
    .join(' · ')
}

export async function evaluationSection(pool: Pool, from: Date, to: Date): Promise<string[]> {
  const cols = await columnsOf(pool, 'eval_runs')
  const md = ['## Evaluation', '']
  if (!cols) return [...md, '_no `eval_runs` table yet_', '']
  if (
    ['candidate_model', 'current_model', 'decision', 'summary', 'created_at'].every((c) => cols.includes(c))
  ) {
    const r = await pool.query<{
      created_at: Date
      candidate_model: string
      current_model: string
      decision: string | null
      reason: string | null
      summary: unknown
    }>(
      `select created_at, candidate_model, current_model, decision, ${cols.includes('reason') ? 'reason' : 'null as reason'}, summary
         from eval_runs where created_at >= $1 and created_at < $2 order by id limit 100`,
      [from, to],
    )
    return [
      ...md,
      `${r.rows.length} evaluation run(s).`,
      '',
      ...table(
        ['at', 'candidate', 'current', 'scores (mean)', 'decision', 'why'],
        r.rows.map((x) => [
          x.created_at,
          x.candidate_model,
          x.current_model,
          scores(x.summary),
          x.decision,
          x.reason,
        ]),
      ),
      '',
    ]
  }
  // Unknown shape: every scalar column.
  const timeCol = ['created_at', 'started_at', 'finished_at'].find((c) => cols.includes(c))
  const r = await pool.query<Record<string, unknown>>(
    timeCol
      ? `select * from eval_runs where ${timeCol} >= $1 and ${timeCol} < $2 order by ${timeCol} limit 100`
      : 'select * from eval_runs limit 100',
    timeCol ? [from, to] : [],
  )
  const scalar = cols.filter((c) =>
    r.rows.every((row) => row[c] === null || typeof row[c] !== 'object' || row[c] instanceof Date),
  )
  return [
    ...md,
    `${r.rows.length} evaluation run(s).`,
    '',
    ...table(
      scalar,
      r.rows.map((row) => scalar.map((c) => row[c])),
    ),
    '',
  ]
}

export async function productionSection(pool: Pool, from: Date, to: Date): Promise<string[]> {
  const range = [from, to]
  const turns = (
    await pool.query<{ n: number; users: number }>(
      `select count(*)::int as n, count(distinct ig_user_id)::int as users from conversation_messages
        where role = 'user' and created_at >= $1 and created_at < $2`,
      range,
    )
  ).rows[0] ?? { n: 0, users: 0 }
  // A conversation is complete when the user's last turn of the month was answered.
  const completion = (
    await pool.query<{ users: number; answered: number }>(
      `select count(*)::int as users, (count(*) filter (where role = 'assistant'))::int as answered
         from (select distinct on (ig_user_id) ig_user_id, role from conversation_messages
                where created_at >= $1 and created_at < $2 and role in ('user', 'assistant')
                order by ig_user_id, created_at desc, id desc) last_turns`,
      range,
    )
  ).rows[0] ?? { users: 0, answered: 0 }
  const replies = (
    await pool.query<{ model: string | null; replies: number }>(
      `select model, count(*)::int as replies from conversation_messages
        where role = 'assistant' and created_at >= $1 and created_at < $2 group by model order by replies desc`,
      range,
    )
  ).rows
  const md = [
    '## Production',
    '',
    `${turns.n} customer message(s) from ${turns.users} user(s); conversation completion ${
      completion.users ? `${Math.round((completion.answered / completion.users) * 100)}%` : 'n/a'
    } (${completion.answered}/${completion.users} users' last turn answered).`,
    '',
    '### Replies by model',
    '',
    ...table(
      ['model', 'replies'],
      replies.map((b) => [b.model ?? '(unknown)', b.replies]),
    ),
    '',
  ]
  if (await columnsOf(pool, 'message_signals')) {
    const r = await pool.query<{ model: string; reacts: number; unreacts: number }>(
      `select coalesce(model, '(unknown)') as model, (count(*) filter (where action = 'react'))::int as reacts,
              (count(*) filter (where action = 'unreact'))::int as unreacts
         from message_signals where created_at >= $1 and created_at < $2 group by 1 order by 2 desc`,
      range,
    )
    md.push(
      '### Reactions by model',
      '',
      ...table(
        ['model', 'reactions', 'withdrawn'],
        r.rows.map((x) => [x.model, x.reacts, x.unreacts]),
      ),
      '',
    )
  }
  if (await columnsOf(pool, 'outbox')) {
    const r = await pool.query<{ model: string; status: string; parts: number }>(
      `select coalesce(model, '(unknown)') as model, status, count(*)::int as parts
         from outbox where created_at >= $1 and created_at < $2 group by 1, 2 order by 1, 2`,
      range,
    )
    md.push(
      '### Sends by model and result',
      '',
      ...table(
        ['model', 'status', 'parts'],
        r.rows.map((x) => [x.model, x.status, x.parts]),
      ),
      '',
    )
  }
  return md
}
