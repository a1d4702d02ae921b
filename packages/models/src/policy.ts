import { z } from 'zod'

/**
 * A policy is what answers DMs: the learner that produced it, the model actually called
 * (`servingModel`), the OpenAI-compatible endpoint that serves it (null = the process's default
 * OpenAI client) and, for the exemplar learner, the exemplar set whose demonstrations go into the
 * prompt. A policy is a `models` registry row (migration 0010); its `model` column is the policy's
 * registry key (`ft:…` for a fine-tune, `exemplars:<hash12>` for an exemplar set, the model id for
 * a base policy), the name operators promote and roll back with.
 */
export const LEARNERS = ['base', 'exemplars', 'fine-tune'] as const
export type Learner = (typeof LEARNERS)[number]

export const PolicyEndpointSchema = z.object({
  provider: z.enum(['openai', 'together', 'vllm']),
  baseURL: z.string().url().optional(),
})
export type PolicyEndpoint = z.infer<typeof PolicyEndpointSchema>

export const TrainedOnSchema = z.object({
  datasetHash: z.string(),
  files: z.array(z.string()),
})
export type TrainedOn = z.infer<typeof TrainedOnSchema>

export type PolicyStatus = 'candidate' | 'approved_pending' | 'rejected' | 'active' | 'inactive' | 'retired'

export interface Policy {
  /** Registry row id. */
  id: number
  /** The promotion version that made it active (0 when it never was). */
  version: number
  learner: Learner
  servingModel: string
  endpoint: PolicyEndpoint | null
  exemplarSetId?: number | null
  systemPrompt?: string | null
  trainedOn?: TrainedOn | null
  status: PolicyStatus
  /** The registry key (`models.model`): what `promote`/`rollback` and old clients call the model. */
  model: string
}

/** The `policy` object of the hot-swap message (beside the legacy `model`). */
export const PolicyRefSchema = z.object({
  id: z.number().int().nonnegative(),
  version: z.number().int().nonnegative(),
  learner: z.enum(LEARNERS),
  servingModel: z.string().min(1),
  endpoint: PolicyEndpointSchema.nullable(),
  exemplarSetId: z.number().int().positive().nullable().optional(),
  /** The policy's own system prompt; absent/null → the process's SYSTEM_PROMPT. */
  systemPrompt: z.string().nullable().optional(),
})
export type PolicyRef = z.infer<typeof PolicyRefSchema>

export const policyRef = (p: Policy): PolicyRef => ({
  id: p.id,
  version: p.version,
  learner: p.learner,
  servingModel: p.servingModel,
  endpoint: p.endpoint,
  exemplarSetId: p.exemplarSetId ?? null,
  systemPrompt: p.systemPrompt ?? null,
})

/** The registry key of an exemplar policy: stable per set content, so identical data → one policy. */
export const exemplarPolicyKey = (contentHash: string) => `exemplars:${contentHash.slice(0, 12)}`

/** The learner implied by a model id alone (rows from before policies, models named on promote). */
export function learnerOf(model: string): Learner {
  if (model.startsWith('exemplars:')) return 'exemplars'
  if (model.startsWith('ft:')) return 'fine-tune'
  return 'base'
}

/** A stable string per endpoint (cache key for the router's clients); '' = the default client. */
export const endpointKey = (e: PolicyEndpoint | null | undefined) =>
  e ? `${e.provider}|${e.baseURL ?? ''}` : ''

/** The system prompt a reply under `policy` carries: the policy's own when set, else `fallback`. */
export function systemPromptOf(
  policy: { systemPrompt?: string | null | undefined } | null | undefined,
  fallback: string,
): string {
  const own = policy?.systemPrompt
  return own?.trim() ? own : fallback
}
