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

/**
 * HMAC-SHA256's two padded keys for `secret` (RFC 2104: the key, hashed when over 64 bytes, zero
 * padded, XOR 0x36 / 0x5c), so SQL can compute the key with plain `sha256()`:
 * `sha256(outer || sha256(inner || message))` — see `userKeySql`.
 */
export function hmacPads(secret: string): { inner: Buffer; outer: Buffer } {
  let key = Buffer.from(secret, 'utf8')
  if (key.length > 64) key = createHash('sha256').update(key).digest()
  const inner = Buffer.alloc(64, 0x36)
  const outer = Buffer.alloc(64, 0x5c)
  for (let i = 0; i < key.length; i++) {
    inner[i] = (inner[i] as number) ^ (key[i] as number)
    outer[i] = (outer[i] as number) ^ (key[i] as number)
  }
  return { inner, outer }
}

/**
 * SQL for the pseudonymous key of the text expression `idSql`, as `pseudonymousUserKey` computes
 * it: with `$inner`/`$outer` (hmacPads) the HMAC, without them the legacy hash. Postgres has
 * `sha256()` since 11; no extension needed.
 */
export function userKeySql(idSql: string, pads?: { inner: string; outer: string }): string {
  const message = `convert_to('loopdm-user:' || ${idSql}, 'UTF8')`
  const digest = pads
    ? `sha256(${pads.outer}::bytea || sha256(${pads.inner}::bytea || ${message}))`
    : `sha256(${message})`
  return `left(encode(${digest}, 'hex'), 32)`
}
