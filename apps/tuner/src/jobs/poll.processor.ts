import type { OpenAI } from '@loopdm/platform/openai'
import {
  EVALUATE_JOB,
  EVALUATE_JOB_OPTIONS,
  evaluateJobId,
  type TunePollPayload,
  TunePollPayloadSchema,
} from '@loopdm/queues/contracts'
import { deleteDeferredProviderCopy } from '@loopdm/training-data/provider-copies'
import {
  type FinetuneEvent,
  type FinetuneJobRow,
  type FinetuneStatus,
  isTerminal,
} from '../repositories/finetune-jobs.repository.js'
import { estimateCostUsd } from '../services/budget.service.js'
import type { TunerDeps } from './deps.js'
import { isPermanentProviderError } from './tune.processor.js'

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

function toEvents(page: OpenAI.FineTuning.FineTuningJobEvent[]): FinetuneEvent[] {
  return page.map((e) => ({ id: e.id, createdAt: e.created_at, level: e.level, message: e.message }))
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

/**
 * One step of the fine-tune state machine. Reads the provider job and its events, records them,
 * and either asks to be polled again (`done: false`, the worker re-delays the job) or settles a
 * terminal state: succeeded → ledger settled with the billed tokens, model registered as a
 * **candidate** (never active) and `evaluate` enqueued; failed/cancelled → reason recorded, no
 * candidate. A job still running past its deadline is cancelled. Provider hiccups (429/5xx after
 * the SDK's own retries, timeouts) only delay the next poll: a long outage never loses the job.
 * Safe to run twice: every side effect is an upsert or a deterministic job id.
 */
export async function runPoll(input: unknown, deps: TunerDeps): Promise<PollResult> {
  const payload: TunePollPayload = TunePollPayloadSchema.parse(input)
  const { config, logger, finetunes, sdk } = deps
  const interval = config.finetune.pollIntervalMs
  const row = await finetunes.findByProviderJobId(payload.finetuneJobId)
  if (!row) throw new Error(`no finetune_jobs row for provider job ${payload.finetuneJobId}`)
  if (isTerminal(row.status)) return done(row)
  const id = payload.finetuneJobId
  // Every terminal path: a GDPR erase may have asked for the training file's provider copy to go.
  const finish = async (r: FinetuneJobRow) => {
    await deleteDeferredProviderCopy(sdk, row.filePath, row.providerFileId, logger)
    return done(r)
  }

  let job: OpenAI.FineTuning.FineTuningJob
  let events: FinetuneEvent[]
  try {
    job = await sdk.fineTuning.jobs.retrieve(id)
    const page = await sdk.fineTuning.jobs.listEvents(id, { limit: 100 })
    events = toEvents(page.data)
  } catch (err) {
    if (isPermanentProviderError(err)) {
      const error = `provider lost the job: ${(err as Error).message}`
      await deps.ledger.settleFineTune({ ref: id, model: row.baseModel, trainedTokens: 0, costUsd: 0 })
      await recordFailureInRegistry(row, 'failed', error, deps)
      const r = await finetunes.recordPoll(row.id, { status: 'failed', events: [], error })
      logger.error({ finetune: row.id, providerJobId: id, error }, 'fine-tuning job failed')
      return finish(r)
    }
    await finetunes.recordPollError(row.id)
    const nextDelayMs = Math.min(interval * 2 ** Math.min(row.pollErrors, 5), Math.max(interval, 300_000))
    logger.warn(
      { finetune: row.id, providerJobId: id, err: (err as Error).message, nextDelayMs },
      'poll failed; will retry',
    )
    return { done: false, providerJobId: id, status: row.status, nextDelayMs }
  }

  const status = job.status as FinetuneStatus
  if (status === 'succeeded') {
    const model = job.fine_tuned_model
    if (!model) {
      // Succeeded without a model name has been seen briefly at OpenAI: ask again shortly.
      const r = await finetunes.recordPoll(row.id, { status: 'running', events })
      return { done: false, providerJobId: id, status: r.status, nextDelayMs: interval }
    }
    const trainedTokens = job.trained_tokens ?? row.tokens * row.nEpochs
    const costUsd = estimateCostUsd(trainedTokens, 1, config.finetune.pricePer1kTokens)
    // Side effects first (all idempotent), then the terminal row: a crash in between re-runs them.
    await deps.ledger.settleFineTune({ ref: id, model, trainedTokens, costUsd })
    await deps.registry.upsertModel({
      model,
      kind: 'fine_tuned',
      baseModel: row.baseModel,
      status: 'candidate',
      finetuneJobId: id,
      trainingFile: row.filePath,
      reason: `fine-tuned on ${row.examples} examples (${row.fileSha256.slice(0, 12)})`,
    })
    await deps.evaluateQueue.add(
      EVALUATE_JOB.evaluate,
      { trigger: 'tune', candidate: model },
      { ...EVALUATE_JOB_OPTIONS, jobId: evaluateJobId(model) },
    )
    const r = await finetunes.recordPoll(row.id, {
      status: 'succeeded',
      events,
      trainedTokens,
      fineTunedModel: model,
      actualCostUsd: costUsd,
    })
    logger.info(
      { finetune: row.id, providerJobId: id, model, trainedTokens, costUsd },
      'fine-tune succeeded; candidate registered, evaluate enqueued',
    )
    return finish(r)
  }
  if (status === 'failed' || status === 'cancelled') {
    const error =
      job.error?.message ??
      events.filter((e) => e.level === 'error').at(-1)?.message ??
      (status === 'cancelled' ? 'cancelled at the provider' : 'failed without a reason')
    await deps.ledger.settleFineTune({ ref: id, model: row.baseModel, trainedTokens: 0, costUsd: 0 })
    await recordFailureInRegistry(row, status, error, deps)
    const r = await finetunes.recordPoll(row.id, { status, events, error })
    logger.error({ finetune: row.id, providerJobId: id, status, error }, 'fine-tuning job did not succeed')
    return finish(r)
  }

  const now = deps.now?.() ?? new Date()
  if (now.getTime() > row.deadlineAt.getTime()) {
    const error = `deadline exceeded: still ${status} ${Math.round((now.getTime() - row.createdAt.getTime()) / 1000)} s after creation (FT_DEADLINE_MS=${config.finetune.deadlineMs}); cancelled`
    try {
      await sdk.fineTuning.jobs.cancel(id)
    } catch (err) {
      // Finished in the meantime, or the provider already cancelled it: the next poll tells.
      if (!isPermanentProviderError(err)) throw err
    }
    await deps.ledger.settleFineTune({ ref: id, model: row.baseModel, trainedTokens: 0, costUsd: 0 })
    await recordFailureInRegistry(row, 'cancelled', error, deps)
    const r = await finetunes.recordPoll(row.id, { status: 'cancelled', events, error })
    logger.error({ finetune: row.id, providerJobId: id, error }, 'fine-tuning job cancelled')
    return finish(r)
  }
  const r = await finetunes.recordPoll(row.id, { status, events, trainedTokens: job.trained_tokens })
  logger.debug(
    { finetune: row.id, providerJobId: id, status: r.status, polls: r.pollCount },
    'fine-tune polled',
  )
  return { done: false, providerJobId: id, status, nextDelayMs: interval }
}
