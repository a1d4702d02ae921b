import { type MonthlyReport, writeMonthlyReport } from './report.service.js'
import { type RetireModelsOptions, type RetirementResult, retireModels } from './retirement.service.js'

/**
 * What the `retirement` queue's `retire-models` job (jobs/retirement.processor.ts) and
 * `npm run cleanup:models` run: model retirement, then the monthly report with the retirement in it.
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
