/**
 * Per-model prices in USD per 1K tokens (OpenAI's list prices, standard tier), used to estimate
 * what each call cost. `config.openai.prices` (OPENAI_PRICES, JSON) overrides or extends entries.
 *
 * Lookup: the exact id, else the longest key that prefixes it (`gpt-4o-mini-2024-07-18` →
 * `gpt-4o-mini`). A fine-tuned model `ft:<base>:…` is priced by `ft:<base family>` (fine-tuned
 * inference costs more than the base), else by its base family. Unknown models cost 0.
 */
export interface ModelPrice {
  /** USD per 1K prompt (input) tokens. */
  input: number
  /** USD per 1K completion (output) tokens. */
  output: number
}

export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = Object.freeze({
  'gpt-4o-mini': { input: 0.00015, output: 0.0006 },
  'gpt-4o': { input: 0.0025, output: 0.01 },
  'gpt-4.1': { input: 0.002, output: 0.008 },
  'gpt-4.1-mini': { input: 0.0004, output: 0.0016 },
  'gpt-4.1-nano': { input: 0.0001, output: 0.0004 },
  'gpt-3.5-turbo': { input: 0.0005, output: 0.0015 },
  'gpt-3.5-turbo-0125': { input: 0.0005, output: 0.0015 },
  'text-embedding-3-small': { input: 0.00002, output: 0 },
  'text-embedding-3-large': { input: 0.00013, output: 0 },
  'text-embedding-ada-002': { input: 0.0001, output: 0 },
  // Inference on fine-tuned models, by base family.
  'ft:gpt-4o-mini': { input: 0.0003, output: 0.0012 },
  'ft:gpt-4o': { input: 0.00375, output: 0.015 },
  'ft:gpt-4.1': { input: 0.003, output: 0.012 },
  'ft:gpt-4.1-mini': { input: 0.0008, output: 0.0032 },
  'ft:gpt-4.1-nano': { input: 0.0002, output: 0.0008 },
  'ft:gpt-3.5-turbo': { input: 0.003, output: 0.006 },
})

/** Training price per 1K trained tokens, by base family (FT_PRICE_PER_1K_TOKENS is the fallback). */
export const DEFAULT_TRAINING_PRICES: Readonly<Record<string, number>> = Object.freeze({
  'gpt-4o-mini': 0.003,
  'gpt-4o': 0.025,
  'gpt-4.1': 0.025,
  'gpt-4.1-mini': 0.005,
  'gpt-4.1-nano': 0.0015,
  'gpt-3.5-turbo': 0.008,
})

export type FineTuneProviderName = 'openai' | 'together' | 'vllm'

/**
 * Training USD per 1K trained tokens, per provider and base model (longest-prefix match on the
 * base). OpenAI: its fine-tuning list prices (gpt-4.1 $25/1M, gpt-4.1-mini $5/1M). Together: LoRA
 * SFT list prices by model size (≤ 16B $0.48/1M, 17–69B $1.50/1M, 70–100B $2.90/1M; no minimum
 * charge; a dedicated endpoint, if a base needs one, bills per minute on top). vLLM: your own GPU —
 * 0 per token. FT_PRICE_PER_1K_TOKENS overrides every entry.
 */
export const TRAINING_PRICES: Readonly<Record<FineTuneProviderName, Readonly<Record<string, number>>>> =
  Object.freeze({
    openai: DEFAULT_TRAINING_PRICES,
    together: Object.freeze({
      'meta-llama/Meta-Llama-3.1-8B-Instruct': 0.00048,
      'meta-llama/Llama-3.2-3B-Instruct': 0.00048,
      'meta-llama/Meta-Llama-3.1-70B-Instruct': 0.0029,
      'meta-llama/Llama-3.3-70B-Instruct': 0.0029,
      'Qwen/Qwen2.5-7B-Instruct': 0.00048,
      'Qwen/Qwen2.5-14B-Instruct': 0.00048,
      'Qwen/Qwen2.5-32B-Instruct': 0.0015,
      'Qwen/Qwen2.5-72B-Instruct': 0.0029,
      'Qwen/Qwen3-8B': 0.00048,
      'Qwen/Qwen3-14B': 0.00048,
      'Qwen/Qwen3-32B': 0.0015,
    }),
    vllm: Object.freeze({ '': 0 }),
  })

/**
 * USD per 1K trained tokens for fine-tuning `baseModel` at `provider`: the override
 * (FT_PRICE_PER_1K_TOKENS) when set, else the table; undefined when the table has no entry.
 */
export function trainingPricePer1k(
  provider: FineTuneProviderName,
  baseModel: string,
  override?: number,
): number | undefined {
  if (override !== undefined) return override
  return longestPrefix(
    TRAINING_PRICES[provider] as Record<string, number>,
    fineTunedBase(baseModel) ?? baseModel,
  )
}

export interface PriceTable {
  /** The price that applies to `model`, or undefined when nothing matches. */
  priceFor(model: string): ModelPrice | undefined
  /** Estimated USD for one call. */
  costUsd(u: { model: string; promptTokens: number; completionTokens: number }): number
  /** USD per 1K trained tokens for fine-tuning `model` (a base or an ft: id); undefined when unknown. */
  trainingPer1k(model: string): number | undefined
}

function longestPrefix<T>(table: Record<string, T>, id: string): T | undefined {
  if (table[id] !== undefined) return table[id]
  let best: string | undefined
  for (const k of Object.keys(table))
    if (id.startsWith(k) && (best === undefined || k.length > best.length)) best = k
  return best === undefined ? undefined : table[best]
}

/** The base model of `ft:<base>:<org>:<suffix>:<id>`, or undefined for other ids. */
export function fineTunedBase(model: string): string | undefined {
  return model.startsWith('ft:') ? model.split(':')[1] || undefined : undefined
}

/** USD rounded to the ledger's 6 decimals. */
export const roundUsd = (usd: number) => Math.round(usd * 1e6) / 1e6

export function createPriceTable(overrides: Record<string, ModelPrice> = {}): PriceTable {
  const table: Record<string, ModelPrice> = { ...DEFAULT_PRICES, ...overrides }
  const priceFor = (model: string): ModelPrice | undefined => {
    if (table[model]) return table[model]
    const base = fineTunedBase(model)
    if (base) return longestPrefix(table, `ft:${base}`) ?? longestPrefix(table, base)
    return longestPrefix(table, model)
  }
  return {
    priceFor,
    costUsd(u) {
      const p = priceFor(u.model)
      if (!p) return 0
      return roundUsd((u.promptTokens / 1000) * p.input + (u.completionTokens / 1000) * p.output)
    },
    trainingPer1k(model) {
      return longestPrefix(DEFAULT_TRAINING_PRICES as Record<string, number>, fineTunedBase(model) ?? model)
    },
  }
}
