import { type MonthlyReport, writeMonthlyReport } from './report.service.js'
import { type RetireModelsOptions, type RetirementResult, retireModels } from './retirement.service.js'

/**
 * What the `cleanup` queue's `retire-models` job runs (bound in the exporter's composition root,
 * which owns that Worker): model retirement, then the monthly report with the retirement in it.
 *
 *   retireModels: (o) => runModelCleanup({ db: db.pool, sdk, config, logger, ...o })
 */
export async function runModelCleanup(
  opts: RetireModelsOptions & {
    /** Default `reports`. */
    reportsDir?: string
    month?: string
  },
): Promise<{ retirement: RetirementResult; report: Pick<MonthlyReport, 'month' | 'path' | 'totals'> }> {
  const now = opts.now ?? new Date()
  const retirement = await retireModels({ ...opts, now })
  const r = await writeMonthlyReport({
    db: opts.db,
    config: opts.config,
    logger: opts.logger,
    now,
    month: opts.month,
    dir: opts.reportsDir,
    retirement,
  })
  return { retirement, report: { month: r.month, path: r.path, totals: r.totals } }
}
