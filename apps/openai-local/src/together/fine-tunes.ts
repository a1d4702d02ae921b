import { randomBytes, randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { invalidRequest, notFound } from '../errors.js'
import type { FineTuneRunner } from '../fine-tune/runner.js'
import { ORG } from '../model/catalog.js'
import { nowSec, type RouteContext } from '../routes/context.js'
import { type JobEvent, type JobRecord, type JobStatus, TERMINAL } from '../state/store.js'
import { noSuchTogetherFile } from './files.js'

/**
 * Together's fine-tuning API under `/together/v1/fine-tunes`: create (LoRA by default), retrieve,
 * list, events, cancel. Jobs run on the same runner, validation and nearest-neighbour models as
 * OpenAI's; only the names and shapes differ. The output model is named up front,
 * `loopdm/<base name>-<suffix>-<8 hex>`, and answers at `/v1/chat/completions` once completed.
 */
export const TOGETHER_BASE_MODELS: readonly string[] = [
  'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference',
  'meta-llama/Meta-Llama-3.1-70B-Instruct-Reference',
  'meta-llama/Llama-3.2-3B-Instruct',
  'Qwen/Qwen2.5-7B-Instruct',
  'Qwen/Qwen3-8B',
]

const STATUS: Record<JobStatus, string> = {
  validating_files: 'pending',
  queued: 'queued',
  running: 'running',
  succeeded: 'completed',
  failed: 'error',
  cancelled: 'cancelled',
}

const iso = (sec: number) => new Date(sec * 1000).toISOString()

/** Together's event type for one of the runner's events. */
function eventType(e: JobEvent): string {
  if (e.level === 'error') return 'job_error'
  if (e.type === 'metrics') return 'epoch_complete'
  if (/^Created/.test(e.message)) return 'job_pending'
  if (/started/.test(e.message)) return 'training_start'
  if (/^New fine-tuned model/.test(e.message)) return 'model_upload_complete'
  if (/successfully completed/.test(e.message)) return 'job_complete'
  if (/cancelled/.test(e.message)) return 'job_stopped'
  return 'training_data_download_complete'
}

const eventView = (e: JobEvent) => ({
  object: 'fine-tune-event' as const,
  created_at: iso(e.created_at),
  message: e.message,
  type: eventType(e),
  level: e.level === 'warn' ? 'warning' : e.level,
  ...(typeof e.data.step === 'number' ? { step: e.data.step, total_steps: e.data.total_steps } : {}),
})

export function togetherJobView(job: JobRecord) {
  const epochs = Number(job.hyperparameters.n_epochs) || 1
  return {
    id: job.id,
    job_id: job.id,
    status: STATUS[job.status],
    user_id: `user-${ORG}`,
    owner_address: `0x${ORG}`,
    created_at: iso(job.created_at),
    updated_at: iso(job.events.at(-1)?.created_at ?? job.created_at),
    model: job.model,
    model_output_name: job.outputModel,
    suffix: job.user_provided_suffix ?? undefined,
    training_file: job.training_file,
    validation_file: job.validation_file ?? undefined,
    n_epochs: epochs,
    epochs_completed: job.status === 'succeeded' ? epochs : 0,
    batch_size: job.hyperparameters.batch_size === 'auto' ? 'max' : job.hyperparameters.batch_size,
    learning_rate: 0.00001,
    token_count: job.trained_tokens ?? 0,
    training_method: { method: 'sft', train_on_inputs: 'auto' },
    training_type: job.providerFields?.training_type,
    events: job.events.map(eventView),
  }
}

function trainingType(raw: unknown) {
  if (raw === undefined || raw === null) return { type: 'Lora', lora_r: 8, lora_alpha: 8, lora_dropout: 0 }
  const t = raw as { type?: unknown }
  if (t.type === 'Full') return { type: 'Full' }
  if (t.type === 'Lora')
    return { lora_r: 8, lora_alpha: 8, lora_dropout: 0, ...(raw as object), type: 'Lora' }
  throw invalidRequest("training_type.type must be 'Lora' or 'Full'.", 'training_type')
}

function parseCreate(ctx: RouteContext, body: unknown) {
  const b = (body ?? {}) as Record<string, unknown>
  if (typeof b.model !== 'string' || !TOGETHER_BASE_MODELS.includes(b.model))
    throw invalidRequest(
      `Model ${JSON.stringify(b.model ?? null)} is not supported for fine-tuning. Supported: ${TOGETHER_BASE_MODELS.join(', ')}.`,
      'model',
    )
  if (typeof b.training_file !== 'string') throw invalidRequest('training_file is required.', 'training_file')
  const f = ctx.store.files.get(b.training_file)
  if (f?.provider !== 'together') throw noSuchTogetherFile(b.training_file)
  if (f.validation && !f.validation.valid)
    throw invalidRequest(`File ${f.id} failed validation: ${f.validation.error}`, 'training_file')
  const epochs = b.n_epochs ?? 1
  if (!Number.isInteger(epochs) || (epochs as number) < 1 || (epochs as number) > 20)
    throw invalidRequest('n_epochs must be an integer in 1..20.', 'n_epochs')
  if (b.suffix !== undefined && (typeof b.suffix !== 'string' || !/^[A-Za-z0-9_-]{1,40}$/.test(b.suffix)))
    throw invalidRequest('suffix must be 1–40 letters, digits, "-" or "_".', 'suffix')
  const suffix = (b.suffix as string | undefined) ?? null
  const name = (b.model.split('/').pop() as string).replace(/[^A-Za-z0-9._-]/g, '-')
  const outputModel = `${ORG}/${name}${suffix ? `-${suffix}` : ''}-${randomBytes(4).toString('hex')}`
  return {
    model: b.model,
    training: f.id,
    epochs: epochs as number,
    suffix,
    outputModel,
    type: trainingType(b.training_type),
  }
}

export function togetherFineTuneRoutes(app: FastifyInstance, ctx: RouteContext, runner: FineTuneRunner) {
  const job = (id: string) => {
    const j = ctx.store.jobs.get(id)
    if (j?.provider !== 'together' || j.providerFields?.deleted)
      throw notFound(`Fine-tune job ${id} not found`, 'id')
    return j
  }
  app.post('/together/v1/fine-tunes', async (req) => {
    const p = parseCreate(ctx, req.body)
    const hyperparameters = {
      n_epochs: p.epochs,
      batch_size: 'auto' as const,
      learning_rate_multiplier: 'auto' as const,
    }
    const rec: JobRecord = {
      object: 'fine_tuning.job',
      id: `ft-${randomUUID()}`,
      model: p.model,
      created_at: nowSec(ctx),
      finished_at: null,
      fine_tuned_model: null,
      organization_id: `org-${ORG}`,
      result_files: [],
      status: 'validating_files',
      validation_file: null,
      training_file: p.training,
      hyperparameters,
      trained_tokens: null,
      error: null,
      user_provided_suffix: p.suffix,
      seed: 42,
      estimated_finish: null,
      integrations: [],
      metadata: null,
      method: { type: 'supervised', supervised: { hyperparameters: { ...hyperparameters } } },
      events: [],
      provider: 'together',
      outputModel: p.outputModel,
      providerFields: { training_type: p.type },
    }
    runner.start(rec)
    ctx.logger?.info({ job: rec.id, model: rec.model, output: p.outputModel }, 'together fine-tune created')
    return togetherJobView(rec)
  })
  app.get('/together/v1/fine-tunes', async () => ({
    data: [...ctx.store.jobs.values()]
      .filter((j) => j.provider === 'together' && !j.providerFields?.deleted)
      .map(togetherJobView),
  }))
  app.get<{ Params: { id: string } }>('/together/v1/fine-tunes/:id', async (req) =>
    togetherJobView(job(req.params.id)),
  )
  app.get<{ Params: { id: string } }>('/together/v1/fine-tunes/:id/events', async (req) => ({
    data: job(req.params.id).events.map(eventView),
  }))
  // Together deletes a job with its checkpoints and output model; a running job must be cancelled first.
  app.delete<{ Params: { id: string } }>('/together/v1/fine-tunes/:id', async (req) => {
    const j = job(req.params.id)
    if (!TERMINAL.has(j.status))
      throw invalidRequest(`Fine-tune job ${j.id} is ${STATUS[j.status]}; cancel it before deleting.`, 'id')
    if (j.outputModel) ctx.store.deleteModel(j.outputModel)
    ctx.store.putJob({ ...j, providerFields: { ...j.providerFields, deleted: true } })
    ctx.logger?.info({ job: j.id }, 'together fine-tune deleted')
    return { message: `Fine-tune job ${j.id} deleted` }
  })
  app.post<{ Params: { id: string } }>('/together/v1/fine-tunes/:id/cancel', async (req) => {
    const j = job(req.params.id)
    if (TERMINAL.has(j.status))
      throw invalidRequest(
        `Fine-tune job ${j.id} is already ${STATUS[j.status]} and cannot be cancelled.`,
        'id',
      )
    return togetherJobView(runner.cancel(j))
  })
}
