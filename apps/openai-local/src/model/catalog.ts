/**
 * The base models openai-local serves, which of them see images, which can be fine-tuned, and the
 * per-example token limit OpenAI enforces when fine-tuning each.
 */
export interface BaseModel {
  id: string
  kind: 'chat' | 'embedding'
  vision: boolean
  /** Max tokens per training example when this model is fine-tuned; undefined → not fine-tunable. */
  ftExampleTokenLimit?: number
  created: number
}

const C = 1_700_000_000
export const BASE_MODELS: readonly BaseModel[] = [
  { id: 'gpt-4o-mini', kind: 'chat', vision: true, ftExampleTokenLimit: 65_536, created: C },
  { id: 'gpt-4o-mini-2024-07-18', kind: 'chat', vision: true, ftExampleTokenLimit: 65_536, created: C },
  { id: 'gpt-4o', kind: 'chat', vision: true, ftExampleTokenLimit: 65_536, created: C },
  { id: 'gpt-4o-2024-08-06', kind: 'chat', vision: true, ftExampleTokenLimit: 65_536, created: C },
  { id: 'gpt-4.1', kind: 'chat', vision: true, ftExampleTokenLimit: 65_536, created: C },
  { id: 'gpt-4.1-mini', kind: 'chat', vision: true, ftExampleTokenLimit: 65_536, created: C },
  { id: 'gpt-4.1-nano', kind: 'chat', vision: true, ftExampleTokenLimit: 65_536, created: C },
  { id: 'gpt-3.5-turbo', kind: 'chat', vision: false, ftExampleTokenLimit: 16_385, created: C },
  { id: 'gpt-3.5-turbo-0125', kind: 'chat', vision: false, ftExampleTokenLimit: 16_385, created: C },
  { id: 'text-embedding-3-small', kind: 'embedding', vision: false, created: C },
]

const BY_ID = new Map(BASE_MODELS.map((m) => [m.id, m]))

export function baseModel(id: string): BaseModel | undefined {
  return BY_ID.get(id)
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
