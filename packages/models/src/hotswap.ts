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
