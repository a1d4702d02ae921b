import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { createCostLedger, FINE_TUNE_OPERATION } from '@loopdm/models/cost-ledger'
import { createRegistryRepository } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import { createFinetuneJobsRepository } from '../repositories/finetune-jobs.repository.js'
import { createQualityService, formatQualityMarkdown } from './quality.service.js'
import { evaluationSection, productionSection, table } from './report-sections.js'
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
const usd = (n: number) => `$${n.toFixed(4)}`
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
  const ledger = createCostLedger({ db: pool, prices: opts.config.openai.prices })
  const registry = createRegistryRepository(pool)
  const finetunes = createFinetuneJobsRepository(pool)

  const { rows: spend, totalUsd } = await ledger.summary({ from, to })
  const fineTuneUsd = spend
    .filter((r) => r.operation === FINE_TUNE_OPERATION)
    .reduce((s, r) => s + r.costUsd, 0)
  const budget = opts.config.finetune.budgetUsdMonthly
  const jobs = await finetunes.listBetween(from, to)
  const promos = (
    await pool.query<{
      from_model: string | null
      to_model: string
      actor: string
      reason: string
      created_at: Date
    }>(
      `select from_model, to_model, actor, reason, created_at from model_promotions
        where created_at >= $1 and created_at < $2 order by id`,
      [from, to],
    )
  ).rows
  const retired = (
    await pool.query<{ model: string; reason: string | null; retired_at: Date }>(
      `select model, reason, retired_at from models where retired_at >= $1 and retired_at < $2 order by retired_at`,
      [from, to],
    )
  ).rows
  const active = await registry.findActive()
  const previous = await registry.findPrevious()
  const pending = await registry.listByStatus(['candidate', 'approved_pending'])

  const md: string[] = [
    `# Loop DM monthly report — ${month}`,
    '',
    `Generated ${now.toISOString()} for ${from.toISOString().slice(0, 10)} … ${to.toISOString().slice(0, 10)} (UTC).`,
    '',
    '## Cost analysis',
    '',
    `Total spend: **${usd(totalUsd)}**; fine-tuning: **${usd(fineTuneUsd)}**${
      budget !== undefined
        ? ` of the ${usd(budget)} monthly fine-tuning budget (${budget > 0 ? Math.round((fineTuneUsd / budget) * 100) : 0}%)`
        : ' (no FT_BUDGET_USD_MONTHLY set)'
    }.`,
    '',
    ...table(
      ['operation', 'purpose', 'model', 'calls', 'tokens', 'USD'],
      spend.map((r) => [
        r.operation,
        r.purpose ?? '',
        r.model,
        r.calls,
        r.promptTokens + r.completionTokens + r.trainedTokens,
        usd(r.costUsd),
      ]),
    ),
    '',
    '## Fine-tuning',
    '',
    `${jobs.length} fine-tune(s): ${
      Object.entries(
        jobs.reduce<Record<string, number>>((a, j) => {
          a[j.status] = (a[j.status] ?? 0) + 1
          return a
        }, {}),
      )
        .map(([s, n]) => `${n} ${s}`)
        .join(', ') || 'none'
    }.`,
    '',
    ...table(
      ['created', 'provider job', 'status', 'examples', 'tokens', 'estimate', 'billed', 'model', 'error'],
      jobs.map((j) => [
        j.createdAt,
        j.providerJobId,
        j.status,
        j.examples,
        j.tokens,
        usd(j.estimatedCostUsd),
        j.actualCostUsd === null ? '' : usd(j.actualCostUsd),
        j.fineTunedModel,
        j.error,
      ]),
    ),
    '',
    '## Models',
    '',
    `Active: ${active ? `\`${active.model}\` (version ${active.version}, since ${active.since.toISOString()})` : 'none (base model answers)'}; rollback target: ${previous ? `\`${previous}\`` : 'none'}.`,
    `Awaiting evaluation or approval: ${pending.length ? pending.map((p) => `\`${p.model}\` (${p.status})`).join(', ') : 'none'}.`,
    '',
    `### Promotions (${promos.length})`,
    '',
    ...table(
      ['at', 'from', 'to', 'by', 'why'],
      promos.map((p) => [p.created_at, p.from_model, p.to_model, p.actor, p.reason]),
    ),
    '',
    `### Retired (${retired.length})`,
    '',
    ...table(
      ['at', 'model', 'reason'],
      retired.map((r) => [r.retired_at, r.model, r.reason]),
    ),
    '',
  ]

  md.push(...(await evaluationSection(pool, from, to)), ...(await productionSection(pool, from, to)))
  // Quality signals from production (apps/evaluator): reactions, completion rate, fallbacks per model.
  const quality = await createQualityService({ db: pool, config: opts.config }).report({ from, to })
  md.push(formatQualityMarkdown(quality), '')
  if (opts.retirement) {
    const r = opts.retirement
    md.push(
      '## This run',
      '',
      `Deleted at the provider: ${r.deleted.length ? r.deleted.map((m) => `\`${m}\``).join(', ') : 'none'}.`,
      `Marked retired (already gone at the provider): ${r.retired.length ? r.retired.map((m) => `\`${m}\``).join(', ') : 'none'}.`,
      ...(r.wouldDelete
        ? [`Dry run — would delete: ${r.wouldDelete.map((m) => `\`${m}\``).join(', ') || 'none'}.`]
        : []),
      '',
      ...table(
        ['kept', 'why'],
        r.kept.map((k) => [k.model, k.reason]),
      ),
      '',
    )
  }

  const markdown = md.join('\n')
  const dir = resolve(opts.dir ?? 'reports')
  mkdirSync(dir, { recursive: true })
  const path = join(dir, `${month}.md`)
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, markdown)
  renameSync(tmp, path)
  const totals = {
    usd: Math.round(totalUsd * 1e6) / 1e6,
    fineTuneUsd: Math.round(fineTuneUsd * 1e6) / 1e6,
    finetunes: jobs.length,
    promotions: promos.length,
    retired: retired.length,
  }
  opts.logger.info({ month, path, ...totals }, 'monthly report written')
  return { month, path, markdown, totals }
}
