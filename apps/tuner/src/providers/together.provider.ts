import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import Together from 'together-ai'
import type { FileResponse } from 'together-ai/resources/files'
import type { FinetuneResponse } from 'together-ai/resources/fine-tuning'
import type { FinetuneEvent, FinetuneStatus } from '../repositories/finetune-jobs.repository.js'
import { classifyHttpError, type FineTuneProvider, type ProviderJob } from './provider.js'

/** Together's per-example context for SFT on the bases we offer (its model limits). */
export const TOGETHER_TOKEN_LIMIT = 32_768

const STATUS: Record<string, FinetuneStatus> = {
  pending: 'validating_files',
  queued: 'queued',
  running: 'running',
  compressing: 'running',
  uploading: 'running',
  cancel_requested: 'running',
  completed: 'succeeded',
  error: 'failed',
  cancelled: 'cancelled',
}

type TogetherJob = Pick<FinetuneResponse, 'id' | 'status' | 'model_output_name' | 'token_count'> & {
  training_file?: string
  events?: Array<{ message?: string; level?: string | null; type?: string }>
}

function toJob(j: TogetherJob): ProviderJob {
  const status = STATUS[j.status] ?? 'running'
  const lastError = j.events?.filter((e) => e.level === 'error').at(-1)?.message ?? null
  return {
    id: j.id,
    status,
    fineTunedModel: j.model_output_name ?? null,
    trainedTokens: j.token_count ?? null,
    error: status === 'failed' ? (lastError ?? 'Together reported an error') : null,
  }
}

export interface TogetherProviderOptions {
  apiKey: string | undefined
  /** `https://api.together.xyz/v1`, or openai-local's `/together/v1`. */
  baseURL: string
  trainingType: 'lora' | 'full'
  maxRetries?: number
  timeoutMs?: number
  /** Pre-built client (tests). */
  client?: Together
}

/**
 * Together AI's hosted fine-tuning through the official `together-ai` SDK: LoRA by default, the
 * output model (named at creation) served by Together's OpenAI-compatible chat API at the same
 * base URL. Conversational JSONL (`messages`) is Together's format too, so the export is reused.
 */
export function createTogetherProvider(opts: TogetherProviderOptions): FineTuneProvider {
  const client =
    opts.client ??
    new Together({
      apiKey: opts.apiKey ?? 'openai-local',
      baseURL: opts.baseURL,
      maxRetries: opts.maxRetries ?? 3,
      timeout: opts.timeoutMs ?? 60_000,
    })
  return {
    name: 'together',
    refusal: () => null,
    limits: () => ({ tokenLimit: TOGETHER_TOKEN_LIMIT, minExamples: 1 }),
    async upload(filePath) {
      // together-ai 0.52's own `files.upload` cannot work in Node (it PUTs a stream without
      // `duplex: 'half'`, reads TOGETHER_API_BASE_URL instead of the client's baseURL, and its ESM
      // build reaches `fs` through `require`; together-typescript PR #249). Together's documented
      // one-step `POST /files/upload` (multipart), sent by the SDK's own client, works.
      const name = basename(filePath)
      const form = new FormData()
      form.set('purpose', 'fine-tune')
      form.set('file_name', name)
      form.set('file_type', 'jsonl')
      form.set('file', new Blob([readFileSync(filePath)]), name)
      const file = await client.post<FileResponse>('/files/upload', { body: form })
      return { fileId: file.id, bytes: file.bytes ?? null }
    },
    async deleteFile(fileId) {
      try {
        await client.files.delete(fileId)
      } catch (err) {
        if ((err as { status?: number }).status !== 404) throw err
      }
    },
    async findJobForFile(fileId) {
      const page = await client.fineTuning.list()
      const j = (page.data ?? []).find((x) => (x as TogetherJob).training_file === fileId)
      return j ? toJob(j as TogetherJob) : null
    },
    async createJob(input) {
      const job = await client.fineTuning.create({
        model: input.baseModel,
        training_file: input.fileId,
        n_epochs: input.nEpochs,
        suffix: input.suffix,
        training_type:
          opts.trainingType === 'full' ? { type: 'Full' } : { type: 'Lora', lora_r: 8, lora_alpha: 8 },
      })
      return toJob(job as TogetherJob)
    },
    getJob: async (id) => toJob((await client.fineTuning.retrieve(id)) as TogetherJob),
    async events(id) {
      const page = await client.fineTuning.listEvents(id)
      return (page.data ?? []).map(
        (e, i): FinetuneEvent => ({
          // Together's events carry no id: position + time identify one.
          id: `${id}-${i}-${e.created_at}`,
          createdAt: Math.floor(Date.parse(e.created_at) / 1000),
          level: e.level ?? 'info',
          message: e.message ?? e.type,
        }),
      )
    },
    async cancel(id) {
      await client.fineTuning.cancel(id)
    },
    async publish() {},
    async listModels() {
      const page = await client.fineTuning.list()
      return (page.data ?? [])
        .filter(
          (j) => j.status === 'completed' && j.model_output_name && /-loopdm-/.test(j.model_output_name),
        )
        .map((j) => ({ id: j.model_output_name as string, createdMs: Date.parse(j.created_at) }))
    },
    async deleteModel(model) {
      // Together deletes a trained model by deleting its fine-tune job.
      const page = await client.fineTuning.list()
      const j = (page.data ?? []).find((x) => x.model_output_name === model)
      if (!j) return
      try {
        await client.fineTuning.delete(j.id)
      } catch (err) {
        if ((err as { status?: number }).status !== 404) throw err
      }
    },
    serving: (model) => ({ endpoint: { provider: 'together', baseURL: opts.baseURL }, servingModel: model }),
    classify: classifyHttpError,
  }
}
