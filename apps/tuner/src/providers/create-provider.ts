import type { Config } from '@loopdm/platform/config'
import type { OpenAI } from '@loopdm/platform/openai'
import { createOpenAIProvider } from './openai.provider.js'
import type { FineTuneProvider } from './provider.js'
import { createTogetherProvider } from './together.provider.js'
import { createVllmProvider } from './vllm.provider.js'

/** The provider FT_PROVIDER names, built from the config (the OpenAI SDK is the tuner's own). */
export function createFineTuneProvider(opts: {
  config: Config
  sdk: OpenAI
  fetchImpl?: typeof fetch
}): FineTuneProvider {
  const { config } = opts
  const ft = config.finetune
  if (ft.provider === 'together')
    return createTogetherProvider({
      apiKey: ft.together.apiKey,
      baseURL: ft.together.baseURL,
      trainingType: ft.together.trainingType,
      maxRetries: config.openai.maxRetries,
      timeoutMs: config.openai.timeoutMs,
    })
  if (ft.provider === 'vllm')
    return createVllmProvider({
      baseURL: ft.vllm.baseURL,
      apiKey: ft.vllm.apiKey,
      adapterDir: ft.vllm.adapterDir,
      trainerCommand: ft.vllm.trainerCommand,
      timeoutMs: config.openai.timeoutMs,
      ...(opts.fetchImpl ? { fetchImpl: opts.fetchImpl } : {}),
    })
  return createOpenAIProvider({ sdk: opts.sdk })
}
