import { createHash } from 'node:crypto'

/**
 * The pseudonymous key export manifests store instead of an Instagram user id: enough to find a
 * user's lines for a GDPR erase, without the id itself appearing next to the training text.
 */
export function pseudonymousUserKey(igUserId: string): string {
  return createHash('sha256').update(`loopdm-user:${igUserId}`).digest('hex').slice(0, 32)
}
