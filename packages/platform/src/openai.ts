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
  /** An SDK client to wrap (e.g. `endpointClientFor(policy.endpoint)`); default one over config. */
  sdk?: OpenAI
}

/**
 * `fetch` that marks OpenAI's out-of-credit 429 (`insufficient_quota`) as not retryable
 * (`x-should-retry: false`, which the SDK honours): waiting does not add credit, so callers fail
 * fast with that error instead of after OPENAI_MAX_RETRIES backoffs. Rate-limit 429s are untouched.
 */
export const quotaAwareFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init)
  if (res.status !== 429) return res
  const text = await res.clone().text()
  if (!/"insufficient_quota"/.test(text)) return res
  const headers = new Headers(res.headers)
  headers.set('x-should-retry', 'false')
  return new Response(text, { status: res.status, statusText: res.statusText, headers })
}

/**
 * The OpenAI SDK configured for this deployment: OpenAI itself when OPENAI_API_KEY is set, else
 * apps/openai-local. Retries (429/5xx/timeouts, honouring retry-after, never other 4xx nor
 * `insufficient_quota`) are the SDK's own, bounded by OPENAI_MAX_RETRIES.
 */
export function createOpenAISdk(opts: AiClientOptions): OpenAI {
  return new OpenAI({
    apiKey: opts.config.openai.apiKey ?? 'openai-local',
    baseURL: opts.baseURL ?? opts.config.openai.baseURL,
    maxRetries: opts.maxRetries ?? opts.config.openai.maxRetries,
    timeout: opts.timeoutMs ?? opts.config.openai.timeoutMs,
    fetch: quotaAwareFetch,
  })
}

export interface EndpointClientOptions {
  /** The endpoint's OpenAI-compatible base, e.g. TOGETHER_BASE_URL or `${VLLM_BASE_URL}/v1`. */
  baseURL: string
  /** Its key (TOGETHER_API_KEY, VLLM_API_KEY); default a placeholder (openai-local, open vLLM). */
  apiKey?: string | undefined
  maxRetries?: number
  timeoutMs?: number
}

/**
 * The same `openai` SDK client pointed at another OpenAI-compatible endpoint: Together's chat API
 * or a vLLM server. The router resolves a policy's `endpoint` to one of these.
 */
export function createEndpointClient(opts: EndpointClientOptions): OpenAI {
  return new OpenAI({
    apiKey: opts.apiKey ?? 'no-key',
    baseURL: opts.baseURL,
    maxRetries: opts.maxRetries ?? 3,
    timeout: opts.timeoutMs ?? 60_000,
    fetch: quotaAwareFetch,
  })
}

/**
 * The client a policy's endpoint needs: null → the deployment's OpenAI client; `together` → its
 * chat API (TOGETHER_BASE_URL + TOGETHER_API_KEY unless the endpoint names another base);
 * `vllm` → `${VLLM_BASE_URL}/v1` (or the endpoint's base) with VLLM_API_KEY.
 */
export function endpointClientFor(
  endpoint: { provider: 'openai' | 'together' | 'vllm'; baseURL?: string | undefined } | null,
  opts: { config: Config },
): OpenAI {
  const { config } = opts
  const common = { maxRetries: config.openai.maxRetries, timeoutMs: config.openai.timeoutMs }
  if (!endpoint || endpoint.provider === 'openai')
    return endpoint?.baseURL
      ? createEndpointClient({ baseURL: endpoint.baseURL, apiKey: config.openai.apiKey, ...common })
      : createOpenAISdk({ config })
  if (endpoint.provider === 'together')
    return createEndpointClient({
      baseURL: endpoint.baseURL ?? config.finetune.together.baseURL,
      apiKey: config.finetune.together.apiKey,
      ...common,
    })
  return createEndpointClient({
    baseURL: endpoint.baseURL ?? `${config.finetune.vllm.baseURL}/v1`,
    apiKey: config.finetune.vllm.apiKey,
    ...common,
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
  const sdk = opts.sdk ?? createOpenAISdk(opts)
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
