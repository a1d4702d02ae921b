import type { FineTuneProviderName } from '@loopdm/models/prices'
import type { FinetuneEvent, FinetuneStatus } from '../repositories/finetune-jobs.repository.js'

/**
 * One fine-tuning provider behind the provider-neutral state machine (tune.processor.ts,
 * poll.processor.ts). `FT_PROVIDER` picks the implementation: `openai` | `together` | `vllm`.
 * Every call may throw; `classify` says what the state machine does with the error.
 */
export interface ProviderJob {
  id: string
  /** Mapped onto our states: validating_files | queued | running | succeeded | failed | cancelled. */
  status: FinetuneStatus
  /** The trained model's name once known (Together names it at creation; we keep it only on success). */
  fineTunedModel: string | null
  trainedTokens: number | null
  error: string | null
}

/** How a trained model is served: the policy's `endpoint` (null = the default OpenAI client) + model. */
export interface Serving {
  endpoint: { provider: FineTuneProviderName; baseURL?: string } | null
  servingModel: string
}

export interface TrainedModel {
  id: string
  /** Creation time at the provider (ms since epoch). */
  createdMs: number
}

/** What the data must satisfy for this provider and base model (checked before any upload). */
export interface DataLimits {
  /** Tokens per example. */
  tokenLimit: number
  /** The provider's own minimum; the tuner also applies FT_MIN_EXAMPLES. */
  minExamples: number
  /** Largest training file it accepts (bytes); the tuner also applies EXPORT_MAX_BYTES. */
  maxFileBytes?: number
}

/**
 * `transient`: retry later (429 rate limit, 5xx, timeouts, network); `permanent`: a 4xx that will
 * not get better; `quota`: out of credit (`insufficient_quota`) — fail fast, say so;
 * `not_available`: this account may not fine-tune (`training_not_available`) — clean up, alert,
 * and do not retry until the configuration changes.
 */
export type ProviderErrorKind = 'transient' | 'permanent' | 'quota' | 'not_available'

export interface CreateJobInput {
  baseModel: string
  fileId: string
  nEpochs: number
  /** `loopdm-<sha8>`: short, ':'-free, tied to the data. */
  suffix: string
}

export interface FineTuneProvider {
  readonly name: FineTuneProviderName
  /** Why this base cannot be fine-tuned here at `now` (shutdown, cutoff), or null. Before any upload. */
  refusal(baseModel: string, now: Date): string | null
  limits(baseModel: string): DataLimits
  /** Upload (or stage) the training file; returns the provider's file id. */
  upload(filePath: string): Promise<{ fileId: string; bytes: number | null }>
  /** Remove an uploaded/staged file (missing is fine). */
  deleteFile(fileId: string): Promise<void>
  /** A job already created for `fileId` (a crash between creating and recording it), or null. */
  findJobForFile(fileId: string): Promise<ProviderJob | null>
  createJob(input: CreateJobInput): Promise<ProviderJob>
  getJob(jobId: string): Promise<ProviderJob>
  /** The job's events so far (deduplicated by id in the row). */
  events(jobId: string): Promise<FinetuneEvent[]>
  cancel(jobId: string): Promise<void>
  /** After success, before the candidate is registered: make the model callable (vLLM loads it). */
  publish(job: ProviderJob): Promise<void>
  /** Trained models this deployment made, for retirement. */
  listModels(): Promise<TrainedModel[]>
  /** Delete (OpenAI/Together) or unload (vLLM) a trained model; missing is fine. */
  deleteModel(model: string): Promise<void>
  serving(model: string): Serving
  classify(err: unknown): ProviderErrorKind
  /** Frees what the provider holds in this process (child processes keep running; see vLLM). */
  close?(): Promise<void>
}

/** HTTP status of an SDK error (openai, together-ai) or of our own {@link ProviderHttpError}. */
export function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown } | null)?.status
  return typeof s === 'number' ? s : undefined
}

/** The `error.code` of an OpenAI-shaped error body. */
export function codeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; error?: { code?: unknown } } | null
  const c = e?.code ?? e?.error?.code
  return typeof c === 'string' ? c : undefined
}

/** The classification every HTTP provider shares: codes first, then the status. */
export function classifyHttpError(err: unknown): ProviderErrorKind {
  const code = codeOf(err)
  if (code === 'insufficient_quota') return 'quota'
  if (code === 'training_not_available') return 'not_available'
  const status = statusOf(err)
  if (status === undefined) return 'transient'
  if (status >= 400 && status < 500 && ![408, 409, 429].includes(status)) return 'permanent'
  return 'transient'
}

/** A non-2xx answer from a provider we call over plain HTTP (vLLM). */
export class ProviderHttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
  ) {
    super(message)
    this.name = 'ProviderHttpError'
  }
}
