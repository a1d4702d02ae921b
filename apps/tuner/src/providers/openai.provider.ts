import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { openAiFineTuneRefusal } from '@loopdm/models/shutdowns'
import { OpenAI } from '@loopdm/platform/openai'
import { tokenLimitFor } from '@loopdm/training-data/ft-format'
import { toFile } from 'openai'
import type { FinetuneEvent, FinetuneStatus } from '../repositories/finetune-jobs.repository.js'
import { classifyHttpError, type FineTuneProvider, type ProviderJob } from './provider.js'

/** OpenAI's minimum number of training examples (its docs: "at least 10"). */
export const OPENAI_MIN_EXAMPLES = 10

function toJob(j: OpenAI.FineTuning.FineTuningJob): ProviderJob {
  return {
    id: j.id,
    status: j.status as FinetuneStatus,
    fineTunedModel: j.fine_tuned_model ?? null,
    trainedTokens: j.trained_tokens ?? null,
    error: j.error?.message ?? null,
  }
}

/**
 * OpenAI fine-tuning (the default while it lasts): files + `fine_tuning.jobs` through the `openai`
 * SDK, `method: {type: "supervised"}` (not the deprecated top-level `hyperparameters`), models
 * served by the default client. Refuses retired bases and any job after the self-serve cutoff.
 */
export function createOpenAIProvider(opts: { sdk: OpenAI }): FineTuneProvider {
  const { sdk } = opts
  return {
    name: 'openai',
    refusal: (baseModel, now) => openAiFineTuneRefusal(baseModel, now),
    limits: (baseModel) => ({
      tokenLimit: tokenLimitFor(baseModel),
      minExamples: OPENAI_MIN_EXAMPLES,
      // OpenAI's per-file upload limit for fine-tuning files.
      maxFileBytes: 512 * 1024 * 1024,
    }),
    async upload(filePath) {
      const file = await sdk.files.create({
        file: await toFile(readFileSync(filePath), basename(filePath)),
        purpose: 'fine-tune',
      })
      return { fileId: file.id, bytes: file.bytes ?? null }
    },
    async deleteFile(fileId) {
      try {
        await sdk.files.delete(fileId)
      } catch (err) {
        if (!(err instanceof OpenAI.APIError && err.status === 404)) throw err
      }
    },
    async findJobForFile(fileId) {
      for await (const j of sdk.fineTuning.jobs.list({ limit: 100 }))
        if (j.training_file === fileId) return toJob(j)
      return null
    },
    async createJob(input) {
      const job = await sdk.fineTuning.jobs.create({
        model: input.baseModel,
        training_file: input.fileId,
        method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: input.nEpochs } } },
        suffix: input.suffix,
      })
      return toJob(job)
    },
    getJob: async (id) => toJob(await sdk.fineTuning.jobs.retrieve(id)),
    async events(id) {
      const page = await sdk.fineTuning.jobs.listEvents(id, { limit: 100 })
      return page.data.map(
        (e): FinetuneEvent => ({ id: e.id, createdAt: e.created_at, level: e.level, message: e.message }),
      )
    },
    async cancel(id) {
      await sdk.fineTuning.jobs.cancel(id)
    },
    async publish() {},
    async listModels() {
      const out: Array<{ id: string; createdMs: number }> = []
      for await (const m of sdk.models.list())
        if (m.id.startsWith('ft:')) out.push({ id: m.id, createdMs: m.created * 1000 })
      return out
    },
    async deleteModel(model) {
      try {
        await sdk.models.delete(model)
      } catch (err) {
        // Already gone (another replica, an operator): the goal is reached.
        if (!(err instanceof OpenAI.APIError && err.status === 404)) throw err
      }
    },
    serving: (model) => ({ endpoint: null, servingModel: model }),
    classify: classifyHttpError,
  }
}
