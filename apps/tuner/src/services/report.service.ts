import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import { createQualityService, formatQualityMarkdown } from './quality.service.js'
import { learnerCostSection } from './report-learner.js'
import { costSection, finetuneSection, gatherMonth, modelsSection, thisRunSection } from './report-month.js'
import { evaluationSection, productionSection } from './report-sections.js'
import type { RetirementResult } from './retirement.service.js'

export interface MonthlyReportOptions {
  db: Pool | { pool: Pool }
  config: Config
  logger: Logger
  /** `YYYY-MM`; default the month of `now − 1 day` (run on the 1st, it reports the month just ended). */
  month?: string
  now?: Date
  /** Default `reports`. */
  dir?: string
  /** This run's retirement, appended to the report. */
  retirement?: RetirementResult
}

export interface MonthlyReport {
  month: string
  path: string
  markdown: string
  totals: { usd: number; fineTuneUsd: number; finetunes: number; promotions: number; retired: number }
}

const poolOf = (db: MonthlyReportOptions['db']): Pool => ('pool' in db ? db.pool : db) as Pool
export function monthBounds(month: string): { from: Date; to: Date } {
  const [y, m] = month.split('-').map(Number) as [number, number]
  return { from: new Date(Date.UTC(y, m - 1, 1)), to: new Date(Date.UTC(y, m, 1)) }
}

/**
 * The monthly report (the seed's "Report" step): cost analysis from the ledger (by operation and
 * model, fine-tune budget use), fine-tunes of the month, models promoted and retired, evaluation
 * scores when `eval_runs` exists, and production volume by model. Written atomically to
 * `reports/YYYY-MM.md` (rewritten on a rerun) and logged as one summary line.
 */
export async function writeMonthlyReport(opts: MonthlyReportOptions): Promise<MonthlyReport> {
  const pool = poolOf(opts.db)
  const now = opts.now ?? new Date()
  const month = opts.month ?? new Date(now.getTime() - 24 * 3600_000).toISOString().slice(0, 7)
  const { from, to } = monthBounds(month)
  const d = await gatherMonth(pool, opts.config, from, to)
  const md: string[] = [
    ...costSection(d, { month, now, from, to, budget: opts.config.finetune.budgetUsdMonthly }),
    ...finetuneSection(d),
    ...modelsSection(d),
    ...(await learnerCostSection(pool, opts.config, from, to)),
  ]
  md.push(...(await evaluationSection(pool, from, to)), ...(await productionSection(pool, from, to)))
  // Quality signals from production (apps/evaluator): reactions, completion rate, fallbacks per model.
  const quality = await createQualityService({ db: pool, config: opts.config }).report({ from, to })
  md.push(formatQualityMarkdown(quality), '')
  if (opts.retirement) md.push(...thisRunSection(opts.retirement))

  const markdown = md.join('\n')
  const path = writeAtomically(resolve(opts.dir ?? 'reports'), `${month}.md`, markdown)
  const totals = {
    usd: Math.round(d.totalUsd * 1e6) / 1e6,
    fineTuneUsd: Math.round(d.fineTuneUsd * 1e6) / 1e6,
    finetunes: d.jobs.length,
    promotions: d.promos.length,
    retired: d.retired.length,
  }
  opts.logger.info({ month, path, ...totals }, 'monthly report written')
  return { month, path, markdown, totals }
}

/** Writes `name` in `dir` through a temp file and a rename (a rerun rewrites it). */
function writeAtomically(dir: string, name: string, text: string): string {
  mkdirSync(dir, { recursive: true })
  const path = join(dir, name)
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, text)
  renameSync(tmp, path)
  return path
}
