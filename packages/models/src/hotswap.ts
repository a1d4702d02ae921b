import { z } from 'zod'
import { PolicyRefSchema } from './policy.js'

/**
 * The hot-swap message published on `loopdm:model:active` (config.models.channel) after a
 * promotion commits. Gateways swap when `version` is newer than the one they hold.
 */
export const ActiveModelMessageSchema = z.object({
  model: z.string().min(1),
  version: z.number().int().nonnegative(),
  /** ISO-8601 time of the promotion. */
  at: z.string(),
  reason: z.string().default(''),
  /** The promoted policy (issue 14); `model` stays its registry key for older gateways. */
  policy: PolicyRefSchema.optional(),
})
export type ActiveModelMessage = z.infer<typeof ActiveModelMessageSchema>

export function encodeActiveModelMessage(m: ActiveModelMessage): string {
  return JSON.stringify(ActiveModelMessageSchema.parse(m))
}

/** Parses a channel message; returns null (never throws) for anything malformed. */
export function decodeActiveModelMessage(raw: string): ActiveModelMessage | null {
  try {
    const r = ActiveModelMessageSchema.safeParse(JSON.parse(raw))
    return r.success ? r.data : null
  } catch {
    return null
  }
}

/**
 * The canary split, carried on the same channel (issue 19): `split` null ends it. `seq` is the
 * id of the canary event that produced it (monotonic): a gateway ignores an older one, and its
 * periodic registry read restores the same state (a missed message heals within one interval).
 */
export const CanarySplitSchema = z.object({
  runId: z.number().int().positive(),
  /** The candidate's registry key; the control is whatever is active. */
  model: z.string().min(1),
  percent: z.number().gt(0).max(100),
  salt: z.string().min(1),
  policy: PolicyRefSchema,
})
export type CanarySplit = z.infer<typeof CanarySplitSchema>

export const CanaryMessageSchema = z.object({
  type: z.literal('canary'),
  seq: z.number().int().nonnegative(),
  split: CanarySplitSchema.nullable(),
})
export type CanaryMessage = z.infer<typeof CanaryMessageSchema>

export function encodeCanaryMessage(m: Omit<CanaryMessage, 'type'>): string {
  return JSON.stringify(CanaryMessageSchema.parse({ ...m, type: 'canary' }))
}

/** A canary message, or null for anything else (an active-model message, garbage). */
export function decodeCanaryMessage(raw: string): CanaryMessage | null {
  try {
    const r = CanaryMessageSchema.safeParse(JSON.parse(raw))
    return r.success ? r.data : null
  } catch {
    return null
  }
}

/**
 * A hint that the shadow run changed (started or stopped): every gateway re-reads `shadow_runs` at
 * once instead of at its next reconcile. Postgres stays the source of truth; a lost hint only
 * delays a gateway to MODEL_RECONCILE_INTERVAL_MS.
 */
export const SHADOW_MESSAGE = JSON.stringify({ type: 'shadow' })

/** The `type` of a channel message (`canary`, `shadow`; undefined for active-model messages and garbage). */
function typeOf(raw: string): unknown {
  try {
    return (JSON.parse(raw) as { type?: unknown } | null)?.type
  } catch {
    return undefined
  }
}

/** True when `raw` is the shadow hint. */
export const isShadowMessage = (raw: string): boolean => typeOf(raw) === 'shadow'

/** True when `raw` is a canary-typed message (so the active-model holder leaves it alone). */
export const isCanaryMessage = (raw: string): boolean => typeOf(raw) === 'canary'

/** True when `raw` is a canary- or shadow-typed message (the active-model holder leaves both alone): one parse. */
export function isRolloutMessage(raw: string): boolean {
  const type = typeOf(raw)
  return type === 'canary' || type === 'shadow'
}
