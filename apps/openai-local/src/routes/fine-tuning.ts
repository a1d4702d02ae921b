import type { FastifyInstance } from 'fastify'
import { invalidRequest, notFound } from '../errors.js'
import type { FineTuneRunner } from '../fine-tune/runner.js'
import { newJobId } from '../fine-tune/runner.js'
import { baseModel, isShutDown, ORG, parseFineTunedId, SHUTDOWNS } from '../model/catalog.js'
import { type JobRecord, TERMINAL } from '../state/store.js'
import { nowSec, type RouteContext } from './context.js'
import { page } from './paging.js'

const MAX_SUFFIX = 64

/** The API's view of a job (events are listed separately). */
const view = ({ events: _events, ...job }: JobRecord) => job

const noSuchJob = (id: string) => notFound(`Could not find fine tune job: ${id}`, 'fine_tune_id')

/** An OpenAI job by id (jobs made through another provider's API are not OpenAI's). */
const openaiJob = (ctx: RouteContext, id: string) => {
  const job = ctx.store.jobs.get(id)
  if (!job || job.provider) throw noSuchJob(id)
  return job
}

/** The base (or parent fine-tuned model) a job may start from, or the 400 OpenAI answers. */
function checkBase(ctx: RouteContext, model: string) {
  const parent = ctx.store.models.get(model)
  const base = parent ? parent.base : (parseFineTunedId(model)?.base ?? model)
  if (ctx.retiredModels && isShutDown(base, ctx.now()))
    throw invalidRequest(
      `The model \`${model}\` was shut down on ${SHUTDOWNS[base]} and is not available for fine-tuning.`,
      'model',
      'model_not_available',
    )
  const m = baseModel(base)
  // Today only the catalog's `fineTunable` snapshots; `retiredModels: false` restores the older list.
  const tunable = ctx.retiredModels ? m?.fineTunable === true : m?.ftExampleTokenLimit !== undefined
  if (!(tunable && (parent || base === model)))
    throw invalidRequest(
      `Model ${model} is not available for fine-tuning or does not exist.`,
      'model',
      'model_not_available',
    )
}

/**
 * `method: {type: "supervised", supervised: {hyperparameters}}` (OpenAI's current shape) or the
 * older top-level `hyperparameters`; `method` wins when both are sent.
 */
function hyperparametersOf(b: Record<string, unknown>): Record<string, unknown> {
  if (b.method !== undefined && b.method !== null) {
    const method = b.method as { type?: unknown; supervised?: { hyperparameters?: unknown } }
    if (typeof method !== 'object' || method.type !== 'supervised')
      throw invalidRequest(
        `Invalid value for 'method.type': ${JSON.stringify(method?.type ?? null)}; openai-local supports only 'supervised'.`,
        'method.type',
        'invalid_value',
      )
    const hp = method.supervised?.hyperparameters
    if (hp !== undefined && hp !== null) return hp as Record<string, unknown>
  }
  return (b.hyperparameters ?? {}) as Record<string, unknown>
}

function parseCreate(ctx: RouteContext, body: unknown) {
  const b = (body ?? {}) as Record<string, unknown>
  if (typeof b.model !== 'string' || b.model === '')
    throw invalidRequest("Missing required parameter: 'model'.", 'model')
  checkBase(ctx, b.model)
  const checkFile = (param: 'training_file' | 'validation_file', id: unknown) => {
    if (typeof id !== 'string' || id === '')
      throw invalidRequest(`Missing required parameter: '${param}'.`, param)
    const f = ctx.store.files.get(id)
    if (!f) throw invalidRequest(`invalid ${param}: ${id}`, param)
    if (f.purpose !== 'fine-tune')
      throw invalidRequest(
        `File ${id} has purpose '${f.purpose}'; fine-tuning needs purpose 'fine-tune'.`,
        param,
      )
    return id
  }
  const training = checkFile('training_file', b.training_file)
  const validation =
    b.validation_file === undefined || b.validation_file === null
      ? null
      : checkFile('validation_file', b.validation_file)
  let suffix: string | null = null
  if (b.suffix !== undefined && b.suffix !== null) {
    if (typeof b.suffix !== 'string' || b.suffix.length > MAX_SUFFIX || /[:\s]/.test(b.suffix))
      throw invalidRequest(
        `suffix must be a string of at most ${MAX_SUFFIX} characters without ':' or spaces.`,
        'suffix',
      )
    suffix = b.suffix === '' ? null : b.suffix
  }
  const hp = hyperparametersOf(b)
  const epochs = hp.n_epochs ?? 'auto'
  if (epochs !== 'auto' && (!Number.isInteger(epochs) || (epochs as number) < 1 || (epochs as number) > 50))
    throw invalidRequest(
      "Invalid 'n_epochs': expected 'auto' or an integer in 1..50.",
      'hyperparameters.n_epochs',
    )
  const metadata = (b.metadata ?? null) as Record<string, string> | null
  return {
    model: b.model,
    training,
    validation,
    suffix,
    epochs: epochs as number | 'auto',
    batch: (hp.batch_size as number | 'auto' | undefined) ?? 'auto',
    lr: (hp.learning_rate_multiplier as number | 'auto' | undefined) ?? 'auto',
    seed: Number.isInteger(b.seed) ? (b.seed as number) : 42,
    metadata,
  }
}

/** Fine-tuning jobs: create, list, retrieve, events, cancel. */
export function fineTuningRoutes(app: FastifyInstance, ctx: RouteContext, runner: FineTuneRunner) {
  app.post('/v1/fine_tuning/jobs', async (req) => {
    const p = parseCreate(ctx, req.body)
    const hyperparameters = { n_epochs: p.epochs, batch_size: p.batch, learning_rate_multiplier: p.lr }
    const job: JobRecord = {
      object: 'fine_tuning.job',
      id: newJobId(),
      model: p.model,
      created_at: nowSec(ctx),
      finished_at: null,
      fine_tuned_model: null,
      organization_id: `org-${ORG}`,
      result_files: [],
      status: 'validating_files',
      validation_file: p.validation,
      training_file: p.training,
      hyperparameters,
      trained_tokens: null,
      error: null,
      user_provided_suffix: p.suffix,
      seed: p.seed,
      estimated_finish: null,
      integrations: [],
      metadata: p.metadata,
      method: { type: 'supervised', supervised: { hyperparameters: { ...hyperparameters } } },
      events: [],
    }
    runner.start(job)
    ctx.logger?.info(
      { job: job.id, model: job.model, trainingFile: job.training_file },
      'fine-tuning job created',
    )
    return view(job)
  })

  app.get<{ Querystring: { after?: string; limit?: string } }>('/v1/fine_tuning/jobs', async (req) => {
    const jobs = [...ctx.store.jobs.values()].filter((j) => !j.provider)
    const res = page(jobs, { after: req.query.after, limit: req.query.limit })
    return { ...res, data: res.data.map(view) }
  })

  app.get<{ Params: { id: string } }>('/v1/fine_tuning/jobs/:id', async (req) => {
    const job = openaiJob(ctx, req.params.id)
    return view(job)
  })

  app.get<{ Params: { id: string }; Querystring: { after?: string; limit?: string } }>(
    '/v1/fine_tuning/jobs/:id/events',
    async (req) => {
      const job = openaiJob(ctx, req.params.id)
      return page(job.events, { after: req.query.after, limit: req.query.limit })
    },
  )

  app.post<{ Params: { id: string } }>('/v1/fine_tuning/jobs/:id/cancel', async (req) => {
    const job = openaiJob(ctx, req.params.id)
    if (TERMINAL.has(job.status))
      throw invalidRequest(
        `Job ${job.id} has already finished (status ${job.status}) and cannot be cancelled.`,
        'fine_tune_id',
      )
    return view(runner.cancel(job))
  })
}
