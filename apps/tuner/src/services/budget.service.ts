import { type CostLedger, FINE_TUNE_OPERATION } from '@loopdm/models/cost-ledger'
import type { Config } from '@loopdm/platform/config'
import { BudgetExceededError } from '@loopdm/platform/errors'
import type { Logger } from '@loopdm/platform/logger'

/** USD for training `tokens` for `epochs` at `pricePer1k` USD per 1K trained tokens. */
export function estimateCostUsd(tokens: number, epochs: number, pricePer1k: number): number {
  return Math.round(((tokens * epochs * pricePer1k) / 1000) * 1e6) / 1e6
}

export interface BudgetCheck {
  /** Unset FT_BUDGET_USD_MONTHLY → null (unlimited). */
  budgetUsd: number | null
  monthToDateUsd: number
  estimateUsd: number
  projectedUsd: number
  /** projected / budget, or null when unlimited. */
  fraction: number | null
  /** The alert thresholds reached (80, 100). */
  alerts: Array<80 | 100>
  /** Why the job is refused, or null. */
  refusal: string | null
}

export interface BudgetAlert {
  level: 80 | 100
  budgetUsd: number
  monthToDateUsd: number
  estimateUsd: number
  projectedUsd: number
  refused: boolean
  message: string
}

/** Counts of alerts raised by this process, by level: the tuner's metric (logged with each alert). */
export const budgetAlertCounts: Record<'80' | '100', number> = { '80': 0, '100': 0 }

/**
 * Where a budget alert goes: a `budget alert` log line (with the running count, the tuner's metric),
 * and a JSON POST to BUDGET_ALERT_WEBHOOK_URL when set. A webhook failure is logged, never thrown:
 * an alert must not break the job that raised it.
 */
export async function sendBudgetAlert(
  alert: BudgetAlert,
  deps: { config: Config; logger: Logger; fetchImpl?: typeof fetch },
): Promise<void> {
  budgetAlertCounts[String(alert.level) as '80' | '100']++
  // `level` is pino's own key: the threshold is logged as `thresholdPct`.
  const { level, ...rest } = alert
  const fields = {
    thresholdPct: level,
    ...rest,
    metric: 'loopdm_budget_alerts_total',
    count: budgetAlertCounts,
  }
  if (alert.level === 100) deps.logger.error(fields, 'budget alert')
  else deps.logger.warn(fields, 'budget alert')
  await postAlert({ ...alert }, deps)
}

/**
 * A tuner alert that is not about the budget (e.g. `training_not_available`): an error log line and
 * the same webhook (BUDGET_ALERT_WEBHOOK_URL) with `kind` set, so one channel reaches the shop.
 */
export async function sendProviderAlert(
  alert: { kind: string; provider: string; message: string },
  deps: { config: Config; logger: Logger; fetchImpl?: typeof fetch },
): Promise<void> {
  deps.logger.error({ ...alert, metric: 'loopdm_provider_alerts_total' }, 'provider alert')
  await postAlert(alert, deps)
}

async function postAlert(
  body: Record<string, unknown>,
  deps: { config: Config; logger: Logger; fetchImpl?: typeof fetch },
): Promise<void> {
  const url = deps.config.finetune.budgetAlertWebhookUrl
  if (!url) return
  try {
    const res = await (deps.fetchImpl ?? fetch)(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ source: 'loopdm-tuner', ...body }),
      signal: AbortSignal.timeout(5000),
    })
    if (!res.ok) deps.logger.warn({ status: res.status }, 'budget alert webhook answered non-2xx')
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message }, 'budget alert webhook failed')
  }
}

/**
 * Checks a fine-tune's estimate against this month's fine-tuning spend in the ledger. Raises the
 * 80 % / 100 % alerts, and with `enforce` throws BudgetExceededError when the job would take the
 * month over FT_BUDGET_USD_MONTHLY. Dry runs pass `enforce: false` and print the refusal instead.
 */
export async function checkBudget(opts: {
  config: Config
  logger: Logger
  ledger: Pick<CostLedger, 'monthToDateUsd'>
  estimateUsd: number
  now?: Date
  enforce: boolean
  /** Dry runs report alerts without sending them. */
  sendAlerts?: boolean
  fetchImpl?: typeof fetch
}): Promise<BudgetCheck> {
  const budgetUsd = opts.config.finetune.budgetUsdMonthly ?? null
  const monthToDateUsd = await opts.ledger.monthToDateUsd(FINE_TUNE_OPERATION, opts.now)
  const projectedUsd = Math.round((monthToDateUsd + opts.estimateUsd) * 1e6) / 1e6
  const check: BudgetCheck = {
    budgetUsd,
    monthToDateUsd,
    estimateUsd: opts.estimateUsd,
    projectedUsd,
    fraction: null,
    alerts: [],
    refusal: null,
  }
  if (budgetUsd === null) return check
  check.fraction =
    budgetUsd === 0 ? (projectedUsd > 0 ? Number.POSITIVE_INFINITY : 0) : projectedUsd / budgetUsd
  if (check.fraction >= 0.8) check.alerts.push(80)
  if (check.fraction >= 1) check.alerts.push(100)
  if (projectedUsd > budgetUsd)
    check.refusal = `fine-tune estimated at $${opts.estimateUsd.toFixed(4)} would take this month's fine-tuning spend to $${projectedUsd.toFixed(4)}, over FT_BUDGET_USD_MONTHLY ($${budgetUsd.toFixed(4)}; spent $${monthToDateUsd.toFixed(4)} so far)`
  const top = check.alerts.at(-1)
  if (top && opts.sendAlerts !== false) {
    await sendBudgetAlert(
      {
        level: top,
        budgetUsd,
        monthToDateUsd,
        estimateUsd: opts.estimateUsd,
        projectedUsd,
        refused: check.refusal !== null,
        message:
          check.refusal ??
          `fine-tuning spend this month would reach ${Math.round((check.fraction ?? 0) * 100)}% of the $${budgetUsd.toFixed(4)} budget`,
      },
      opts,
    )
  }
  if (check.refusal && opts.enforce) throw new BudgetExceededError(check.refusal)
  return check
}
