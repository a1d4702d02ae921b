import { createHash } from 'node:crypto'
import type { Queryable } from '@loopdm/db/pool'
import { createGoldRepository, type GoldItemRow, goldItemsHash } from '@loopdm/models/gold-items'
import type { Config } from '@loopdm/platform/config'
import { ValidationError } from '@loopdm/platform/errors'
import { type GoldItem, type GoldSet, loadGold } from './gold.js'

/** Where an evaluation's gold set came from (recorded in `eval_runs.gold_source`). */
export type GoldSource = 'file' | 'table' | 'table+file'
export type ResolvedGold = GoldSet & { source: GoldSource }

/** The path recorded for a table-backed gold set (there is no file to read). */
export const GOLD_TABLE_PATH = 'gold_items'

/** A gold_items row as an evaluation item: id `gold-<row id>`, one customer turn. */
export function goldItemOf(r: GoldItemRow): GoldItem {
  return {
    id: `gold-${r.id}`,
    messages: [{ role: 'user', content: r.customerText }],
    ideal: r.idealAnswer,
    facts: r.requiredFacts,
    category: r.messageId ? 'deployment' : 'deployment-typed',
    source: 'gold',
  }
}

/**
 * The evaluator's gold set, by EVAL_GOLD_SOURCE:
 * - `auto` (default): the deployment's own gold_items when it has any, else the file (EVAL_GOLD_PATH,
 *   `evals/gold.jsonl`: the demo shop's) — a deployment's first `gold:add` switches it to its own set;
 * - `table`: gold_items only (an empty table is an error naming the fix);
 * - `file`: the file only; `both`: the table's items plus the file's.
 * The content hash covers exactly the items used, so a changed set changes `eval_runs.gold_sha256`.
 */
export async function resolveGoldSet(args: {
  db: Queryable
  config: Config
  goldPath: string
}): Promise<ResolvedGold> {
  const mode = args.config.eval.goldSource
  const rows = mode === 'file' ? [] : await createGoldRepository(args.db).list()
  const file = () => ({ ...loadGold(args.goldPath), source: 'file' as const })
  if (mode === 'file' || (mode === 'auto' && rows.length === 0)) return file()
  if (rows.length === 0)
    throw new ValidationError(
      `EVAL_GOLD_SOURCE=${mode}: the gold_items table is empty; add items with npm run gold:add or POST /admin/gold`,
    )
  const table: ResolvedGold = {
    path: GOLD_TABLE_PATH,
    sha256: goldItemsHash(rows),
    items: rows.map(goldItemOf),
    source: 'table',
  }
  if (mode !== 'both') return table
  const f = file()
  return {
    path: `${GOLD_TABLE_PATH}+${f.path}`,
    sha256: createHash('sha256').update(`${table.sha256}\n${f.sha256}`).digest('hex'),
    items: [...table.items, ...f.items],
    source: 'table+file',
  }
}
