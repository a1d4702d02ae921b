import { createHash, createHmac } from 'node:crypto'

/**
 * The pseudonymous key export manifests, exemplar sets, audit rows and logs store instead of an
 * Instagram user id: enough to find a user's lines for a GDPR erase, without the id itself
 * appearing next to the training text.
 *
 * With a per-deployment secret (PSEUDONYM_SECRET; `npm start` generates `.data/pseudonym.secret`)
 * the key is HMAC-SHA256(secret, id): someone holding a manifest but not the secret cannot test
 * candidate ids. Without one it is the legacy unsalted hash, which is also what manifests written
 * before the secret existed hold — so an erase looks for both (`userKeyCandidates`).
 */
export function pseudonymousUserKey(igUserId: string, secret: string | undefined): string {
  if (!secret) return legacyUserKey(igUserId)
  return createHmac('sha256', secret).update(`loopdm-user:${igUserId}`).digest('hex').slice(0, 32)
}

/** The key before PSEUDONYM_SECRET: sha256 of the id, unsalted (still read by the erase). */
export function legacyUserKey(igUserId: string): string {
  return createHash('sha256').update(`loopdm-user:${igUserId}`).digest('hex').slice(0, 32)
}

/** Every key a user's data may be stored under: the current one first, then the legacy one. */
export function userKeyCandidates(igUserId: string, secret: string | undefined): string[] {
  const current = pseudonymousUserKey(igUserId, secret)
  const legacy = legacyUserKey(igUserId)
  return current === legacy ? [current] : [current, legacy]
}
