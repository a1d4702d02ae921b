import { deleteEndedJobCopy } from '@loopdm/models/provider-copies'
import {
  EVALUATE_JOB,
  EVALUATE_JOB_OPTIONS,
  evaluateJobId,
  type TunePollPayload,
  TunePollPayloadSchema,
} from '@loopdm/queues/contracts'
import { deleteDeferredProviderCopy } from '@loopdm/training-data/provider-copies'
import type { ProviderJob } from '../providers/provider.js'
import {
  type FinetuneEvent,
  type FinetuneJobRow,
  isTerminal,
} from '../repositories/finetune-jobs.repository.js'
import { estimateCostUsd } from '../services/budget.service.js'
import type { TunerDeps } from './deps.js'
import { trainingPrice } from './tune.processor.js'

export type PollResult =
  | { done: false; providerJobId: string; status: string; nextDelayMs: number }
  | {
      done: true
      providerJobId: string
      status: 'succeeded' | 'failed' | 'cancelled'
      fineTunedModel: string | null
      error: string | null
      trainedTokens: number | null
    }

const done = (row: FinetuneJobRow): PollResult => ({
  done: true,
  providerJobId: row.providerJobId as string,
  status: row.status as 'succeeded' | 'failed' | 'cancelled',
  fineTunedModel: row.fineTunedModel,
  error: row.error,
  trainedTokens: row.trainedTokens,
})

/**
 * A failed or cancelled fine-tune has no model, but operators look for it where they look for
 * models: `GET /admin/models` lists every registry row. It is registered under its provider job id
 * as `rejected` with the reason — never a candidate, so no router or evaluator ever picks it.
 */
async function recordFailureInRegistry(
  row: FinetuneJobRow,
  status: 'failed' | 'cancelled',
  error: string,
  deps: TunerDeps,
): Promise<void> {
  await deps.registry.upsertModel({
    model: row.providerJobId as string,
    kind: 'fine_tuned',
    baseModel: row.baseModel,
    status: 'rejected',
    finetuneJobId: row.providerJobId,
    trainingFile: row.filePath,
    reason: `fine-tune ${status}: ${error}`,
  })
}

interface Step {
  row: FinetuneJobRow
  id: string
  deps: TunerDeps
  /** Every terminal path: a GDPR erase may have asked for the training file's provider copy to go. */
  finish(r: FinetuneJobRow): Promise<PollResult>
}

/**
 * Terminal without a model: the ledger settled at what the provider billed — the tokens it
 * reports as trained before the job failed or was cancelled (a cancelled job is billed for its
 * progress), not $0; a job the provider lost (`billed` undefined) keeps its reserved estimate.
 * The reason goes to the registry and the row.
 */
async function endWithout(
  s: Step,
  status: 'failed' | 'cancelled',
  error: string,
  events: FinetuneEvent[],
  billedTokens?: number | null,
) {
  const { row, id, deps } = s
  const trained = billedTokens === undefined ? undefined : (billedTokens ?? row.trainedTokens ?? 0)
  if (trained !== undefined) {
    const costUsd = estimateCostUsd(trained, 1, trainingPrice(deps))
    await deps.ledger.settleFineTune({ ref: id, model: row.baseModel, trainedTokens: trained, costUsd })
  }
  await recordFailureInRegistry(row, status, error, deps)
  const r = await deps.finetunes.recordPoll(row.id, { status, events, error })
  deps.logger.error({ finetune: row.id, providerJobId: id, status, error }, 'fine-tuning job did not succeed')
  return s.finish(r)
}

/** Provider unreachable or refusing: permanent → failed; transient → poll again with backoff. */
async function onPollError(s: Step, err: unknown): Promise<PollResult> {
  const { row, id, deps } = s
  if (deps.provider.classify(err) !== 'transient')
    return endWithout(s, 'failed', `provider lost the job: ${(err as Error).message}`, [], undefined)
  await deps.finetunes.recordPollError(row.id)
  const interval = deps.config.finetune.pollIntervalMs
  const nextDelayMs = Math.min(interval * 2 ** Math.min(row.pollErrors, 5), Math.max(interval, 300_000))
  deps.logger.warn(
    { finetune: row.id, providerJobId: id, err: (err as Error).message, nextDelayMs },
    'poll failed; will retry',
  )
  return { done: false, providerJobId: id, status: row.status, nextDelayMs }
}

/** Succeeded: make it callable, settle the ledger, register the candidate + how it is served, evaluate. */
async function onSucceeded(s: Step, job: ProviderJob, events: FinetuneEvent[]): Promise<PollResult> {
  const { row, id, deps } = s
  const model = job.fineTunedModel
  if (!model) {
    // Succeeded without a model name has been seen briefly at OpenAI: ask again shortly.
    const r = await deps.finetunes.recordPoll(row.id, { status: 'running', events })
    return {
      done: false,
      providerJobId: id,
      status: r.status,
      nextDelayMs: deps.config.finetune.pollIntervalMs,
    }
  }
  try {
    await deps.provider.publish(job)
  } catch (err) {
    return onPollError(s, err)
  }
  const trainedTokens = job.trainedTokens ?? row.tokens * row.nEpochs
  const costUsd = estimateCostUsd(trainedTokens, 1, trainingPrice(deps))
  // Side effects first (all idempotent), then the terminal row: a crash in between re-runs them.
  await deps.ledger.settleFineTune({ ref: id, model, trainedTokens, costUsd })
  const served = deps.provider.serving(model)
  await deps.registry.registerCandidatePolicy({
    learner: 'fine-tune',
    key: model,
    servingModel: served.servingModel,
    endpoint: served.endpoint,
    baseModel: row.baseModel,
    finetuneJobId: id,
    trainingFile: row.filePath,
    trainedOn: { datasetHash: row.fileSha256, files: [row.filePath] },
    reason: `fine-tuned at ${deps.provider.name} on ${row.examples} examples (${row.fileSha256.slice(0, 12)})`,
  })
  await deps.evaluateQueue.add(
    EVALUATE_JOB.evaluate,
    { trigger: 'tune', candidate: model },
    { ...EVALUATE_JOB_OPTIONS, jobId: evaluateJobId(model) },
  )
  const r = await deps.finetunes.recordPoll(row.id, {
    status: 'succeeded',
    events,
    trainedTokens,
    fineTunedModel: model,
    actualCostUsd: costUsd,
  })
  deps.logger.info(
    { finetune: row.id, provider: deps.provider.name, providerJobId: id, model, trainedTokens, costUsd },
    'fine-tune succeeded; candidate registered, evaluate enqueued',
  )
  return s.finish(r)
}

/** Still running past FT_DEADLINE_MS: cancel at the provider (vLLM: kill the trainer's group). */
async function onDeadline(
  s: Step,
  job: Pick<ProviderJob, 'status' | 'trainedTokens'>,
  events: FinetuneEvent[],
  now: Date,
): Promise<PollResult> {
  const { status } = job
  const { row, id, deps } = s
  const error = `deadline exceeded: still ${status} ${Math.round((now.getTime() - row.createdAt.getTime()) / 1000)} s after creation (FT_DEADLINE_MS=${deps.config.finetune.deadlineMs}); cancelled`
  try {
    await deps.provider.cancel(id)
  } catch (err) {
    // Finished in the meantime, or the provider already cancelled it: the next poll tells.
    if (deps.provider.classify(err) === 'transient') throw err
  }
  // Billed for the progress it made before the cancel.
  return endWithout(s, 'cancelled', error, events, job.trainedTokens ?? null)
}

/**
 * One step of the fine-tune state machine, provider-neutral. Reads the provider job and its events,
 * records them, and either asks to be polled again (`done: false`, the worker re-delays the job) or
 * settles a terminal state: succeeded → ledger settled with the billed tokens, model registered as
 * a **candidate** (never active) with how it is served, and `evaluate` enqueued; failed/cancelled →
 * reason recorded, no candidate. A job still running past its deadline is cancelled. Provider
 * hiccups (429/5xx after the SDK's own retries, timeouts) only delay the next poll: a long outage
 * never loses the job. Safe to run twice: every side effect is an upsert or a deterministic job id.
 */
export async function runPoll(input: unknown, deps: TunerDeps): Promise<PollResult> {
  const payload: TunePollPayload = TunePollPayloadSchema.parse(input)
  const { finetunes, provider } = deps
  const row = await finetunes.findByProviderJobId(payload.finetuneJobId)
  if (!row) throw new Error(`no finetune_jobs row for provider job ${payload.finetuneJobId}`)
  if (isTerminal(row.status)) return done(row)
  const id = payload.finetuneJobId
  const s: Step = {
    row,
    id,
    deps,
    finish: async (r) => {
      // The job no longer reads its training file: delete the provider's copy
      // (FT_DELETE_TRAINING_FILES, default on; or a GDPR erase asked for it), so no copy lingers.
      await deleteEndedJobCopy({
        db: deps.pool,
        finetuneJobId: row.id,
        fileId: row.providerFileId,
        always: deps.config.finetune.deleteTrainingFiles,
        deleter: (fileId) => provider.deleteFile(fileId),
        logger: deps.logger,
      })
      // A marker written by an erase before the tuner recorded every upload (OpenAI files only).
      if (provider.name === 'openai')
        await deleteDeferredProviderCopy(deps.sdk, row.filePath, row.providerFileId, deps.logger)
      return done(r)
    },
  }
  let job: ProviderJob
  let events: FinetuneEvent[]
  try {
    job = await provider.getJob(id)
    events = await provider.events(id)
  } catch (err) {
    return onPollError(s, err)
  }
  if (job.status === 'succeeded') return onSucceeded(s, job, events)
  if (job.status === 'failed' || job.status === 'cancelled') {
    const error =
      job.error ??
      events.filter((e) => e.level === 'error').at(-1)?.message ??
      (job.status === 'cancelled' ? 'cancelled at the provider' : 'failed without a reason')
    return endWithout(s, job.status, error, events, job.trainedTokens ?? null)
  }
  const now = deps.now?.() ?? new Date()
  if (now.getTime() > row.deadlineAt.getTime()) return onDeadline(s, job, events, now)
  const r = await finetunes.recordPoll(row.id, {
    status: job.status,
    events,
    trainedTokens: job.trainedTokens,
  })
  deps.logger.debug(
    { finetune: row.id, providerJobId: id, status: r.status, polls: r.pollCount },
    'fine-tune polled',
  )
  return {
    done: false,
    providerJobId: id,
    status: job.status,
    nextDelayMs: deps.config.finetune.pollIntervalMs,
  }
}
