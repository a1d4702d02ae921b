import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { safeEqual } from '../services/signature.js'
import type { ConsoleOptions } from './options.js'
import { authRoutes } from './routes/auth.routes.js'
import { candidatesRoutes } from './routes/candidates.routes.js'
import { conversationsRoutes } from './routes/conversations.routes.js'
import { goldRoutes } from './routes/gold.routes.js'
import { overviewRoutes } from './routes/overview.routes.js'
import { recordsRoutes } from './routes/records.routes.js'
import { type ConsoleSession, parseCookies, SESSION_COOKIE } from './session.js'
import { alertBox, page } from './views/layout.js'

declare module 'fastify' {
  interface FastifyRequest {
    consoleSession: (ConsoleSession & { id: string }) | null
  }
}

/** Console URLs reachable without a session. */
const PUBLIC = new Set(['/console/login', '/console/assets/console.css'])

/** Form fields arrive as strings; a repeated field keeps its last value. */
export type FormBody = Record<string, string | undefined>

/**
 * The operator console at /console: server-rendered pages behind a session cookie (login with
 * ADMIN_TOKEN), a CSRF token on every state-changing form. Register with `{ prefix: '/console' }`.
 * Without a session every console URL redirects (303) to the login page; the JSON /admin API is
 * untouched (bearer auth, 401).
 */
export const consolePlugin: FastifyPluginAsync<ConsoleOptions> = async (app, opts) => {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 64 * 1024 },
    (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  )
  app.decorateRequest('consoleSession', null)

  app.addHook('onRequest', async (req, reply) => {
    reply.headers({
      'content-security-policy':
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    })
    const path = req.url.split('?')[0] as string
    const id = parseCookies(req.headers.cookie)[SESSION_COOKIE]
    const session = id ? await opts.sessions.get(id) : null
    if (session && id) req.consoleSession = { ...session, id }
    if (PUBLIC.has(path)) return
    if (!req.consoleSession) {
      const next = req.method === 'GET' ? `?next=${encodeURIComponent(req.url)}` : ''
      return reply.code(303).header('location', `/console/login${next}`).send()
    }
  })

  // CSRF: every state-changing request carries the session's token (checked in constant time).
  // preValidation: after the body is parsed, before its schema — a missing token is 403, not 400.
  app.addHook('preValidation', async (req, reply) => {
    if (req.method === 'GET' || req.method === 'HEAD' || !req.consoleSession) return
    if (PUBLIC.has(req.url.split('?')[0] as string)) return
    const token = (req.body as FormBody | undefined)?.csrf
    if (typeof token === 'string' && safeEqual(token, req.consoleSession.csrf)) return
    req.log.warn({ url: req.url }, 'console: request refused, missing or wrong CSRF token')
    return reply
      .code(403)
      .type('text/html; charset=utf-8')
      .send(errorPage(req, 'Forbidden: the form had no valid CSRF token. Reload the page and try again.'))
  })

  app.setErrorHandler((err, req, reply) => {
    const e = err as Error & { statusCode?: number; validation?: unknown }
    const status = e.validation ? 400 : (e.statusCode ?? 500)
    if (status >= 500) req.log.error({ err: e.message, url: req.url }, 'console request failed')
    const text = status >= 500 ? 'Something went wrong; the details are in the gateway log.' : e.message
    return reply.code(status).type('text/html; charset=utf-8').send(errorPage(req, text))
  })

  // Unknown console URLs: HTML 404 (after the session hook, so without a session they redirect too).
  app.setNotFoundHandler((req, reply) =>
    sendPage(reply, errorPage(req, 'There is no such console page.'), 404),
  )

  // The route plugins get the options without the parent's `prefix` (it would apply twice).
  const { prefix: _prefix, ...routeOpts } = opts as ConsoleOptions & { prefix?: string }
  const all = [authRoutes, overviewRoutes, candidatesRoutes, conversationsRoutes, recordsRoutes, goldRoutes]
  for (const routes of all) {
    await app.register(routes, routeOpts)
  }
}

function errorPage(req: FastifyRequest, text: string): string {
  return page({ title: 'Error', csrf: req.consoleSession?.csrf, body: alertBox('error', text) })
}

/** Sends a rendered page. */
export const sendPage = (reply: FastifyReply, body: string, status = 200) =>
  reply.code(status).type('text/html; charset=utf-8').send(body)

/** 303 See Other: the post/redirect/get step after a form. */
export const seeOther = (reply: FastifyReply, location: string) =>
  reply.code(303).header('location', location).send()

/** The session of an authenticated console request (the onRequest hook guarantees one). */
export function sessionOf(req: FastifyRequest): ConsoleSession & { id: string } {
  if (!req.consoleSession) throw Object.assign(new Error('Unauthorized'), { statusCode: 401 })
  return req.consoleSession
}

/** JSON schema for a form body: the CSRF field plus the given string fields. */
export function formSchema(
  fields: Record<string, { maxLength: number; minLength?: number }>,
  required: string[] = [],
) {
  return {
    type: 'object',
    required: ['csrf', ...required],
    properties: {
      csrf: { type: 'string', maxLength: 200 },
      ...Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, { type: 'string', ...v }])),
    },
  } as const
}
