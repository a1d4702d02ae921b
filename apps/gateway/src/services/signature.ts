import { createHmac, timingSafeEqual } from 'node:crypto'

/** `sha256=<hex>` as Meta sends it in `X-Hub-Signature-256`. */
export function signBody(body: string | Buffer, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`
}

/** Constant-time check of `X-Hub-Signature-256` against the HMAC-SHA256 of the raw body. */
export function verifySignature(
  rawBody: Buffer,
  header: string | string[] | undefined,
  appSecret: string | undefined,
): boolean {
  if (!appSecret || typeof header !== 'string' || !header.startsWith('sha256=')) return false
  const given = Buffer.from(header.slice(7), 'hex')
  const expected = createHmac('sha256', appSecret).update(rawBody).digest()
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** Constant-time string comparison (admin token): hashes both sides so lengths never leak. */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHmac('sha256', 'loopdm-compare').update(a).digest()
  const hb = createHmac('sha256', 'loopdm-compare').update(b).digest()
  return timingSafeEqual(ha, hb)
}
