import { join, resolve } from 'node:path'
import { reserveFineTune } from '@loopdm/models/budget-reservation'
import { BudgetExceededError, TrainingDataRefusedError } from '@loopdm/platform/errors'
import { type TunePayload, TunePayloadSchema } from '@loopdm/queues/contracts'
import { TUNE_DIR } from '@loopdm/training-data/export-layout'
import { pickTrainingData } from '@loopdm/training-data/training-file'
import { trainingWindow } from '@loopdm/training-data/training-window'
import type { FinetuneJobRow } from '../repositories/finetune-jobs.repository.js'
import { isTerminal } from '../repositories/finetune-jobs.repository.js'
import { type BudgetCheck, checkBudget, estimateCostUsd } from '../services/budget.service.js'
import { type DataReport, inspectTrainingData } from '../services/training-data.service.js'
import { createProviderJob, suffixFor } from './create-provider-job.js'
import type { TunerDeps } from './deps.js'
import { ensurePoll } from './schedule-poll.js'
import { configKeyOf, preflightRefusal, trainingPrice } from './tune-preflight.js'

export { suffixFor } from './create-provider-job.js'
export { configKeyOf, isPermanentProviderError, trainingPrice } from './tune-preflight.js'

export interface TuneResult {
  /** `dry-run`: nothing uploaded; `created`: a provider job now runs; `existing`: this data already has one. */
  outcome: 'dry-run' | 'created' | 'existing'
  report: DataReport
  estimateUsd: number
  budget: BudgetCheck | null
  /** Dry runs only: why a real run would be refused. */
  refusal: string | null
  /** Which provider trains, and the training price used for the estimate (USD per 1K tokens). */
  provider: string
  pricePer1k: number
  finetune?: {
    id: number
    status: string
    providerFileId: string | null
    providerJobId: string | null
    fineTunedModel: string | null
    error: string | null
  }
}

const summary = (row: FinetuneJobRow) => ({
  id: row.id,
  status: row.status,
  providerFileId: row.providerFileId,
  providerJobId: row.providerJobId,
  fineTunedModel: row.fineTunedModel,
  error: row.error,
})

/** How long one trigger may hold a file's upload/create step before another may take over. */
export const UPLOAD_LEASE_MS = 15 * 60_000

interface Inspected {
  payload: TunePayload
  report: DataReport
  refusal: string | null
  estimateUsd: number
  pricePer1k: number
  now: Date
}

/** Step 1: pick the data, validate it for this provider's base, count, estimate; log the report. */
async function inspect(input: unknown, deps: TunerDeps): Promise<Inspected> {
  const payload: TunePayload = TunePayloadSchema.parse(input ?? {})
  const { config, logger, finetunes, provider } = deps
  const now = deps.now?.() ?? new Date()
  const last = await finetunes.lastSucceeded()
  const picked = await pickTrainingData({ config, file: payload.file, lastDataThrough: last?.dataThrough })
  const limits = provider.limits(config.models.ftBase)
  // The master keeps growing: train on its newest examples within FT_MAX_EXAMPLES and the file
  // size the provider (and EXPORT_MAX_BYTES) allows, and say what was left out.
  const window =
    picked.source === 'file'
      ? null
      : await trainingWindow(picked.path, {
          maxExamples: config.finetune.maxExamples,
          maxBytes: Math.min(config.export.maxBytes, limits.maxFileBytes ?? Number.POSITIVE_INFINITY),
          outDir: join(resolve(config.export.dir), TUNE_DIR),
        })
  if (window) picked.path = window.path
  const { report, refusal } = await inspectTrainingData({
    config,
    ...picked,
    limits,
    window,
    force: payload.force,
  })
  const pricePer1k = trainingPrice(deps)
  const estimateUsd = estimateCostUsd(report.tokens, config.finetune.nEpochs, pricePer1k)
  logger.info(
    {
      file: report.file,
      source: report.source,
      bytes: report.bytes,
      sha256: report.sha256,
      examples: report.examples,
      sources: report.curation?.sources,
      humanShare: report.curation?.humanShare,
      leftOut: report.curation?.window?.leftOut ?? 0,
      tokens: report.tokens,
      longest: report.longest,
      problems: report.problems,
      problemsByKind: report.problemsByKind,
      provider: provider.name,
      baseModel: config.models.ftBase,
      pricePer1k,
      estimateUsd,
      epochs: config.finetune.nEpochs,
      dryRun: payload.dryRun,
    },
    'training data report',
  )
  return { payload, report, refusal, estimateUsd, pricePer1k, now }
}

/**
 * The `tune` job: pick the data, validate it, refuse what the provider cannot take, estimate and
 * budget it, then (unless a dry run) upload the file and create the provider job, recorded in
 * `finetune_jobs` and the cost ledger, and hand it to the poll state machine. Idempotent per
 * training file: the row is keyed by the file's sha256, and a retry resumes after the last
 * recorded step (upload, job creation) instead of creating a second provider job.
 */
export async function runTune(
  input: unknown,
  deps: TunerDeps,
  /** `owner`: who runs this (the BullMQ job id; default `inline-<pid>-<random>`). */
  ctx: { owner?: string } = {},
): Promise<TuneResult> {
  const owner = ctx.owner ?? `inline-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  const x = await inspect(input, deps)
  const { payload, report, estimateUsd } = x
  const base = { report, estimateUsd, provider: deps.provider.name, pricePer1k: x.pricePer1k }
  const existing = await deps.finetunes.findBySha(report.sha256)
  if (existing?.providerJobId) return keepExisting(existing, x, deps)

  const providerRefusal = await preflightRefusal(x.now, deps)
  const refusal = x.refusal ?? providerRefusal?.message ?? null
  if (!payload.dryRun) {
    if (x.refusal) {
      deps.logger.warn({ reason: x.refusal, file: report.file }, 'tune refused')
      throw new TrainingDataRefusedError(x.refusal)
    }
    if (providerRefusal) {
      deps.logger.error({ reason: providerRefusal.message, provider: deps.provider.name }, 'tune refused')
      throw providerRefusal
    }
  }
  // Alerts and the dry run's answer; the refusal itself is the reservation's (below), which reads
  // the spend under a lock so two tunes at once cannot both pass.
  const budget = await checkBudget({
    config: deps.config,
    logger: deps.logger,
    ledger: deps.ledger,
    estimateUsd,
    now: x.now,
    enforce: false,
    sendAlerts: !payload.dryRun,
    fetchImpl: deps.fetchImpl,
  })
  if (payload.dryRun) {
    deps.logger.info({ estimateUsd, refusal: refusal ?? budget.refusal }, 'dry run: nothing uploaded')
    return { outcome: 'dry-run', ...base, budget, refusal: refusal ?? budget.refusal }
  }
  await reserveOrRefuse(x, deps)
  const claimed = await claimRow(x, deps, owner, existing)
  if (!claimed) {
    const now2 = await deps.finetunes.findBySha(report.sha256)
    return {
      outcome: 'existing',
      ...base,
      budget,
      refusal: null,
      ...(now2 ? { finetune: summary(now2) } : {}),
    }
  }
  const row = await createProviderJob(claimed.row, { resumed: claimed.resumed, deps })
  deps.logger.info(
    {
      finetune: row.id,
      provider: deps.provider.name,
      providerFileId: row.providerFileId,
      providerJobId: row.providerJobId,
      estimateUsd,
    },
    'fine-tuning job created',
  )
  return { outcome: 'created', ...base, budget, refusal: null, finetune: summary(row) }
}

/**
 * Reserves the estimate in the cost ledger before anything is uploaded (reserveFineTune); a tune
 * the budget cannot hold next to this month's spend and reservations is refused, naming both.
 */
async function reserveOrRefuse(x: Inspected, deps: TunerDeps): Promise<void> {
  const r = await reserveFineTune(deps.pool, {
    fileSha256: x.report.sha256,
    model: deps.config.models.ftBase,
    trainedTokens: x.report.tokens * deps.config.finetune.nEpochs,
    costUsd: x.estimateUsd,
    budgetUsd: deps.config.finetune.budgetUsdMonthly ?? null,
    now: x.now,
  })
  if (r.reserved) return
  const budgetUsd = r.budgetUsd ?? 0
  const reason = `fine-tune estimated at $${x.estimateUsd.toFixed(4)} refused: this month's fine-tuning spend and reservations are $${r.monthToDateUsd.toFixed(4)} (other tunes included, running ones reserved at their estimate), so it would reach $${(r.monthToDateUsd + x.estimateUsd).toFixed(4)}, over FT_BUDGET_USD_MONTHLY ($${budgetUsd.toFixed(4)})`
  deps.logger.warn({ estimateUsd: x.estimateUsd, monthToDateUsd: r.monthToDateUsd, budgetUsd }, reason)
  throw new BudgetExceededError(reason)
}

/** Same data, second trigger: one provider job. Keep its poll alive if it still runs. */
async function keepExisting(existing: FinetuneJobRow, x: Inspected, deps: TunerDeps): Promise<TuneResult> {
  if (!x.payload.dryRun && !isTerminal(existing.status))
    await ensurePoll(deps.tuneQueue, existing, deps.config.finetune.pollIntervalMs)
  deps.logger.info(
    { finetune: existing.id, providerJobId: existing.providerJobId, status: existing.status },
    'training data already tuned',
  )
  return {
    outcome: 'existing',
    report: x.report,
    estimateUsd: x.estimateUsd,
    provider: deps.provider.name,
    pricePer1k: x.pricePer1k,
    budget: null,
    refusal: null,
    finetune: summary(existing),
  }
}

/** Step 3: the row for this file, with the upload lease; null → another trigger is creating it. */
async function claimRow(
  x: Inspected,
  deps: TunerDeps,
  owner: string,
  existing: FinetuneJobRow | null,
): Promise<{ row: FinetuneJobRow; resumed: boolean } | null> {
  const { config, finetunes } = deps
  const deadlineAt = new Date(x.now.getTime() + config.finetune.deadlineMs)
  const configKey = configKeyOf(deps)
  // Ended before the provider had a job (e.g. the upload was refused): this trigger tries again.
  if (existing && isTerminal(existing.status))
    await finetunes.reopen(existing.id, deadlineAt, {
      provider: deps.provider.name,
      baseModel: config.models.ftBase,
      configKey,
    })
  const { row, created } = await finetunes.claim({
    fileSha256: x.report.sha256,
    filePath: x.report.file,
    trigger: x.payload.trigger,
    baseModel: config.models.ftBase,
    nEpochs: config.finetune.nEpochs,
    suffix: suffixFor(x.report.sha256),
    examples: x.report.examples,
    tokens: x.report.tokens,
    estimatedCostUsd: x.estimateUsd,
    dataThrough: x.report.dataThrough,
    deadlineAt,
    provider: deps.provider.name,
    configKey,
    leaseOwner: owner,
    leaseMs: UPLOAD_LEASE_MS,
  })
  if (created) return { row, resumed: false }
  if (row.providerJobId || !(await finetunes.takeLease(row.id, owner, UPLOAD_LEASE_MS))) {
    deps.logger.info(
      { finetune: row.id, status: row.status },
      'training data is being tuned by another trigger',
    )
    return null
  }
  return { row, resumed: true }
}
