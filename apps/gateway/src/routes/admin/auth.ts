import type { FastifyReply, FastifyRequest } from 'fastify'
import { safeEqual } from '../../services/signature.js'

/**
 * The admin guard: `Authorization: Bearer $ADMIN_TOKEN` (and, where `allowBasic`, HTTP basic auth
 * with the token as password, for Bull Board in a browser), compared in constant time. Runs as an
 * `onRequest` hook, i.e. before the body is parsed: a request without the token gets 401 before
 * any 400. With no ADMIN_TOKEN configured every admin request is refused.
 */
export function adminAuthHook(adminToken: string | undefined, opts: { allowBasic?: boolean } = {}) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    if (adminToken && tokenFrom(req.headers.authorization, opts.allowBasic ?? false, adminToken)) return
    if (opts.allowBasic) reply.header('www-authenticate', 'Basic realm="Loop DM admin", charset="UTF-8"')
    else reply.header('www-authenticate', 'Bearer')
    return reply.code(401).send({ error: 'Unauthorized' })
  }
}

function tokenFrom(header: string | undefined, allowBasic: boolean, expected: string): boolean {
  if (!header) return false
  const [scheme, value] = header.split(' ', 2) as [string, string | undefined]
  if (!value) return false
  if (scheme.toLowerCase() === 'bearer') return safeEqual(value.trim(), expected)
  if (allowBasic && scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value.trim(), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    return colon >= 0 && safeEqual(decoded.slice(colon + 1), expected)
  }
  return false
}
