/**
 * The base models openai-local serves: which see images, which reason (o-series, gpt-5), which can
 * be fine-tuned today, the per-example token limit when fine-tuned, and which OpenAI has shut down.
 */
export interface BaseModel {
  id: string
  kind: 'chat' | 'embedding'
  vision: boolean
  /** Reasoning model: rejects `max_tokens` and any `temperature` other than 1, like OpenAI's. */
  reasoning?: boolean
  /** Fine-tunable today (job creation accepts it as a base). */
  fineTunable?: boolean
  /**
   * Max tokens per training example when fine-tuned. Models with a limit but not `fineTunable`
   * were fine-tunable before; they are again with `retiredModels: false` (the legacy world).
   */
  ftExampleTokenLimit?: number
  created: number
}

const C = 1_700_000_000
const chat = (id: string, extra: Partial<BaseModel> = {}): BaseModel => ({
  id,
  kind: 'chat',
  vision: true,
  created: C,
  ...extra,
})
const FT = 65_536
export const BASE_MODELS: readonly BaseModel[] = [
  chat('gpt-4o-mini', { ftExampleTokenLimit: FT }),
  chat('gpt-4o-mini-2024-07-18', { ftExampleTokenLimit: FT }),
  chat('gpt-4o', { ftExampleTokenLimit: FT }),
  chat('gpt-4o-2024-08-06', { ftExampleTokenLimit: FT }),
  chat('gpt-4.1', { ftExampleTokenLimit: FT }),
  chat('gpt-4.1-2025-04-14', { ftExampleTokenLimit: FT, fineTunable: true }),
  chat('gpt-4.1-mini', { ftExampleTokenLimit: FT }),
  chat('gpt-4.1-mini-2025-04-14', { ftExampleTokenLimit: FT, fineTunable: true }),
  chat('gpt-4.1-nano', { ftExampleTokenLimit: FT }),
  chat('o4-mini', { reasoning: true }),
  chat('o4-mini-2025-04-16', { reasoning: true }),
  chat('o3-mini', { reasoning: true, vision: false }),
  chat('gpt-5', { reasoning: true }),
  chat('gpt-5-mini', { reasoning: true }),
  chat('gpt-5-nano', { reasoning: true }),
  chat('gpt-3.5-turbo', { vision: false, ftExampleTokenLimit: 16_385 }),
  chat('gpt-3.5-turbo-0125', { vision: false, ftExampleTokenLimit: 16_385 }),
  { id: 'text-embedding-3-small', kind: 'embedding', vision: false, created: C },
]

/** OpenAI's known shutdowns: model → ISO date from which it answers 404 `model_not_found`. */
export const SHUTDOWNS: Readonly<Record<string, string>> = {
  'gpt-3.5-turbo-0125': '2026-10-23',
}

const BY_ID = new Map(BASE_MODELS.map((m) => [m.id, m]))

export function baseModel(id: string): BaseModel | undefined {
  return BY_ID.get(id)
}

export interface ModelCapabilities {
  vision: boolean
  reasoning: boolean
  fineTunable: boolean
  /** ISO date of the model's shutdown, when OpenAI announced one. */
  shutdownAt?: string
}

/**
 * What base model `id` can do in today's world (undefined for an unknown id). A fine-tuned id
 * `ft:<base>:…` reports its base's capabilities, except that it is only fine-tunable when its base is.
 */
export function modelCapabilities(id: string): ModelCapabilities | undefined {
  const m = baseModel(parseFineTunedId(id)?.base ?? id)
  if (m?.kind !== 'chat') return undefined
  const shutdownAt = SHUTDOWNS[m.id]
  return {
    vision: m.vision,
    reasoning: m.reasoning === true,
    fineTunable: m.fineTunable === true,
    ...(shutdownAt ? { shutdownAt } : {}),
  }
}

/** Whether `id` (a base model) is shut down at `nowMs`. */
export function isShutDown(id: string, nowMs: number): boolean {
  const at = SHUTDOWNS[id]
  return at !== undefined && nowMs >= Date.parse(`${at}T00:00:00Z`)
}

export const ORG = 'loopdm'

/** `ft:<base>:<org>:<suffix>:<id>` → its parts; undefined when `id` is not a fine-tuned model id. */
export function parseFineTunedId(
  id: string,
): { base: string; org: string; suffix: string; jobId: string } | undefined {
  const m = /^ft:([^:]+):([^:]*):([^:]*):([^:]+)$/.exec(id)
  if (!m) return undefined
  return { base: m[1] as string, org: m[2] as string, suffix: m[3] as string, jobId: m[4] as string }
}

export function fineTunedId(base: string, suffix: string | null | undefined, shortId: string): string {
  return `ft:${base}:${ORG}:${suffix ?? ''}:${shortId}`
}
