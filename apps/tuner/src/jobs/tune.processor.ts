import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { TrainingDataRefusedError } from '@loopdm/platform/errors'
import { OpenAI } from '@loopdm/platform/openai'
import { type TunePayload, TunePayloadSchema } from '@loopdm/queues/contracts'
import { writeUploadedMarker } from '@loopdm/training-data/provider-copies'
import { pickTrainingData } from '@loopdm/training-data/training-file'
import { toFile } from 'openai'
import { FineTuneFailedError } from '../errors.js'
import type { FinetuneJobRow } from '../repositories/finetune-jobs.repository.js'
import { isTerminal } from '../repositories/finetune-jobs.repository.js'
import { type BudgetCheck, checkBudget, estimateCostUsd } from '../services/budget.service.js'
import { type DataReport, inspectTrainingData } from '../services/training-data.service.js'
import type { TunerDeps } from './deps.js'
import { ensurePoll } from './schedule-poll.js'

export interface TuneResult {
  /** `dry-run`: nothing uploaded; `created`: a provider job now runs; `existing`: this data already has one. */
  outcome: 'dry-run' | 'created' | 'existing'
  report: DataReport
  estimateUsd: number
  budget: BudgetCheck | null
  /** Dry runs only: why a real run would be refused. */
  refusal: string | null
  finetune?: {
    id: number
    status: string
    providerFileId: string | null
    providerJobId: string | null
    fineTunedModel: string | null
    error: string | null
  }
}

/** The provider's suffix for our models: short, ':'-free, and tied to the data. */
export const suffixFor = (sha256: string) => `loopdm-${sha256.slice(0, 8)}`

const summary = (row: FinetuneJobRow) => ({
  id: row.id,
  status: row.status,
  providerFileId: row.providerFileId,
  providerJobId: row.providerJobId,
  fineTunedModel: row.fineTunedModel,
  error: row.error,
})

/** A 4xx other than 408/409/429 will not get better by retrying. */
export function isPermanentProviderError(err: unknown): boolean {
  return (
    err instanceof OpenAI.APIError &&
    typeof err.status === 'number' &&
    err.status >= 400 &&
    err.status < 500 &&
    ![408, 409, 429].includes(err.status)
  )
}

/** How long one trigger may hold a file's upload/create step before another may take over. */
export const UPLOAD_LEASE_MS = 15 * 60_000

/**
 * The `tune` job: pick the data, validate it, estimate and budget it, then (unless a dry run)
 * upload the file and create the provider job, recorded in `finetune_jobs` and the cost ledger, and
 * hand it to the poll state machine. Idempotent per training file: the row is keyed by the file's
 * sha256, and a retry resumes after the last recorded step (upload, job creation) instead of
 * creating a second provider job.
 */
export async function runTune(
  input: unknown,
  deps: TunerDeps,
  /** `owner`: who runs this (the BullMQ job id; default `inline-<pid>-<random>`). */
  ctx: { owner?: string } = {},
): Promise<TuneResult> {
  const owner = ctx.owner ?? `inline-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  const payload: TunePayload = TunePayloadSchema.parse(input ?? {})
  const { config, logger, finetunes } = deps
  const now = deps.now?.() ?? new Date()
  const last = await finetunes.lastSucceeded()
  const picked = await pickTrainingData({ config, file: payload.file, lastDataThrough: last?.dataThrough })
  const { report, refusal } = await inspectTrainingData({ config, ...picked })
  const estimateUsd = estimateCostUsd(
    report.tokens,
    config.finetune.nEpochs,
    config.finetune.pricePer1kTokens,
  )
  logger.info(
    {
      file: report.file,
      source: report.source,
      bytes: report.bytes,
      sha256: report.sha256,
      examples: report.examples,
      tokens: report.tokens,
      longest: report.longest,
      problems: report.problems,
      problemsByKind: report.problemsByKind,
      estimateUsd,
      epochs: config.finetune.nEpochs,
      dryRun: payload.dryRun,
    },
    'training data report',
  )

  const existing = await finetunes.findBySha(report.sha256)
  if (existing?.providerJobId) {
    // Same data, second trigger: one provider job. Keep its poll alive if it still runs.
    if (!payload.dryRun && !isTerminal(existing.status))
      await ensurePoll(deps.tuneQueue, existing, config.finetune.pollIntervalMs)
    logger.info(
      { finetune: existing.id, providerJobId: existing.providerJobId, status: existing.status },
      'training data already tuned',
    )
    return {
      outcome: 'existing',
      report,
      estimateUsd,
      budget: null,
      refusal: null,
      finetune: summary(existing),
    }
  }

  if (refusal && !payload.dryRun) {
    logger.warn({ reason: refusal, file: report.file }, 'tune refused')
    throw new TrainingDataRefusedError(refusal)
  }
  // A row in `uploading` was counted against nothing yet: the ledger entry comes with the job.
  const budget = await checkBudget({
    config,
    logger,
    ledger: deps.ledger,
    estimateUsd,
    now,
    enforce: !payload.dryRun,
    sendAlerts: !payload.dryRun,
    fetchImpl: deps.fetchImpl,
  })
  if (payload.dryRun) {
    logger.info({ estimateUsd, refusal: refusal ?? budget.refusal }, 'dry run: nothing uploaded')
    return { outcome: 'dry-run', report, estimateUsd, budget, refusal: refusal ?? budget.refusal }
  }

  const deadlineAt = new Date(now.getTime() + config.finetune.deadlineMs)
  // Ended before the provider had a job (e.g. the upload was refused): this trigger tries again.
  if (existing && isTerminal(existing.status)) await finetunes.reopen(existing.id, deadlineAt)
  const { row: claimed, created } = await finetunes.claim({
    fileSha256: report.sha256,
    filePath: report.file,
    trigger: payload.trigger,
    baseModel: config.models.ftBase,
    nEpochs: config.finetune.nEpochs,
    suffix: suffixFor(report.sha256),
    examples: report.examples,
    tokens: report.tokens,
    estimatedCostUsd: estimateUsd,
    dataThrough: report.dataThrough,
    deadlineAt,
    leaseOwner: owner,
    leaseMs: UPLOAD_LEASE_MS,
  })
  if (!created) {
    if (claimed.providerJobId || !(await finetunes.takeLease(claimed.id, owner, UPLOAD_LEASE_MS))) {
      // A concurrent trigger for the same data is creating (or created) the provider job.
      logger.info(
        { finetune: claimed.id, status: claimed.status },
        'training data is being tuned by another trigger',
      )
      const now2 = (await finetunes.findById(claimed.id)) ?? claimed
      return { outcome: 'existing', report, estimateUsd, budget, refusal: null, finetune: summary(now2) }
    }
  }
  const row = await createProviderJob(claimed, { resumed: !created, deps })
  logger.info(
    { finetune: row.id, providerFileId: row.providerFileId, providerJobId: row.providerJobId, estimateUsd },
    'fine-tuning job created',
  )
  return { outcome: 'created', report, estimateUsd, budget, refusal: null, finetune: summary(row) }
}

/**
 * `<file>.uploaded` beside the training file: a GDPR erase (`@loopdm/training-data/export-erase`) then
 * reports that the provider holds a copy of the erased user's lines, so it can be deleted there too.
 */
function markUploaded(filePath: string, fileId: string, sha256: string, deps: TunerDeps): void {
  try {
    writeUploadedMarker(filePath, { fileId, sha256, at: new Date().toISOString() })
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message, fileId }, 'could not write the .uploaded marker')
  }
}

/** Upload (unless recorded) → create the job (unless one exists for the file) → ledger → first poll. */
async function createProviderJob(
  start: FinetuneJobRow,
  opts: { resumed: boolean; deps: TunerDeps },
): Promise<FinetuneJobRow> {
  const { deps } = opts
  const { sdk, finetunes, config } = deps
  let row = start
  try {
    if (!row.providerFileId) {
      const file = await sdk.files.create({
        file: await toFile(readFileSync(row.filePath), basename(row.filePath)),
        purpose: 'fine-tune',
      })
      await finetunes.setUploaded(row.id, file.id)
      markUploaded(row.filePath, file.id, row.fileSha256, deps)
      row = { ...row, providerFileId: file.id }
      deps.logger.info(
        { finetune: row.id, providerFileId: file.id, bytes: file.bytes },
        'training file uploaded',
      )
    }
    let job: OpenAI.FineTuning.FineTuningJob | undefined
    if (opts.resumed) {
      // A crash between creating the job and recording it must not create a second one.
      for await (const j of sdk.fineTuning.jobs.list({ limit: 100 })) {
        if (j.training_file === row.providerFileId) {
          job = j
          break
        }
      }
    }
    job ??= await sdk.fineTuning.jobs.create({
      model: row.baseModel,
      training_file: row.providerFileId as string,
      hyperparameters: { n_epochs: row.nEpochs },
      suffix: row.suffix ?? suffixFor(row.fileSha256),
    })
    await finetunes.setCreated(row.id, job.id, job.status)
    row = { ...row, providerJobId: job.id, status: job.status as FinetuneJobRow['status'] }
  } catch (err) {
    if (isPermanentProviderError(err)) {
      const reason = `provider refused the fine-tune: ${(err as Error).message}`
      await finetunes.fail(row.id, 'failed', reason)
      throw new FineTuneFailedError(reason)
    }
    throw err
  }
  await deps.ledger.recordFineTune({
    model: row.baseModel,
    trainedTokens: row.tokens * row.nEpochs,
    costUsd: row.estimatedCostUsd,
    ref: row.providerJobId as string,
  })
  await ensurePoll(deps.tuneQueue, row, config.finetune.pollIntervalMs)
  return row
}
