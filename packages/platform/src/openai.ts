import OpenAI from 'openai'
import type { Config } from './config.js'
import type { Logger } from './logger.js'

export { OpenAI }

/** One usage record: what a call cost. Written by the cost ledger (see cost-ledger.ts). */
export interface UsageRecord {
  /** `chat`, `embeddings`, `fine_tune` … */
  operation: string
  model: string
  promptTokens: number
  completionTokens: number
  /** Free-form purpose: `reply`, `memory`, `evaluate` … */
  purpose?: string | undefined
}

export interface UsageSink {
  record(u: UsageRecord): Promise<void> | void
}

export interface AiClientOptions {
  config: Config
  logger?: Logger
  /** Where successful calls' usage goes; default: nowhere. */
  usage?: UsageSink
  /** Override for tests. */
  baseURL?: string
  maxRetries?: number
  timeoutMs?: number
}

/**
 * The OpenAI SDK configured for this deployment: OpenAI itself when OPENAI_API_KEY is set, else
 * apps/openai-local. Retries (429/5xx/timeouts, honouring retry-after, never other 4xx) are the
 * SDK's own, bounded by OPENAI_MAX_RETRIES.
 */
export function createOpenAISdk(opts: AiClientOptions): OpenAI {
  return new OpenAI({
    apiKey: opts.config.openai.apiKey ?? 'openai-local',
    baseURL: opts.baseURL ?? opts.config.openai.baseURL,
    maxRetries: opts.maxRetries ?? opts.config.openai.maxRetries,
    timeout: opts.timeoutMs ?? opts.config.openai.timeoutMs,
  })
}

export interface AiClient {
  readonly sdk: OpenAI
  chat(
    params: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming,
    meta?: { purpose?: string; timeoutMs?: number; maxRetries?: number },
  ): Promise<OpenAI.Chat.ChatCompletion>
  /** Embeds one or more texts with config.openai.embeddingModel; one vector per input, in order. */
  embed(
    input: string[],
    meta?: { purpose?: string; timeoutMs?: number; maxRetries?: number },
  ): Promise<number[][]>
}

function requestOptions(meta: { timeoutMs?: number | undefined; maxRetries?: number | undefined }) {
  const o: { timeout?: number; maxRetries?: number } = {}
  if (meta.timeoutMs !== undefined) o.timeout = meta.timeoutMs
  if (meta.maxRetries !== undefined) o.maxRetries = meta.maxRetries
  return o
}

export function createAiClient(opts: AiClientOptions): AiClient {
  const sdk = createOpenAISdk(opts)
  const record = async (u: UsageRecord) => {
    try {
      await opts.usage?.record(u)
    } catch (err) {
      opts.logger?.warn({ err: (err as Error).message }, 'usage ledger write failed')
    }
  }
  return {
    sdk,
    async chat(params, meta = {}) {
      // The SDK rejects `timeout: undefined` ("timeout must be an integer"): pass only what is set.
      const res = await sdk.chat.completions.create(params, requestOptions(meta))
      await record({
        operation: 'chat',
        model: res.model ?? params.model,
        promptTokens: res.usage?.prompt_tokens ?? 0,
        completionTokens: res.usage?.completion_tokens ?? 0,
        purpose: meta.purpose,
      })
      return res
    },
    async embed(input, meta = {}) {
      if (input.length === 0) return []
      const res = await sdk.embeddings.create(
        { model: opts.config.openai.embeddingModel, input },
        requestOptions(meta),
      )
      await record({
        operation: 'embeddings',
        model: opts.config.openai.embeddingModel,
        promptTokens: res.usage?.prompt_tokens ?? 0,
        completionTokens: 0,
        purpose: meta.purpose,
      })
      return [...res.data].sort((a, b) => a.index - b.index).map((d) => d.embedding)
    },
  }
}
