import type { FastifyPluginAsync } from 'fastify'
import { safeEqual } from '../../services/signature.js'
import { html } from '../html.js'
import type { ConsoleOptions } from '../options.js'
import { type FormBody, seeOther, sendPage, sessionOf } from '../plugin.js'
import { isHttps, sessionCookie } from '../session.js'
import { alertBox, CONSOLE_CSS, page } from '../views/layout.js'

/** Only a console path may be the target after login (no open redirect). */
const safeNext = (next: string | undefined) =>
  next && /^\/console(\/[A-Za-z0-9/_.%?=&-]*)?$/.test(next) && !next.startsWith('//') ? next : '/console'

function loginPage(next: string, error?: string): string {
  return page({
    title: 'Log in',
    body: html`<div class="login card">
      ${alertBox('error', error, 'login-error')}
      <form method="post" action="/console/login">
        <input type="hidden" name="next" value="${next}">
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
        <p class="note">The gateway's <code>ADMIN_TOKEN</code>. A session cookie keeps you logged in.</p>
        <button type="submit" data-testid="login">Log in</button>
      </form>
    </div>`,
  })
}

export const authRoutes: FastifyPluginAsync<ConsoleOptions> = async (app, opts) => {
  app.get('/assets/console.css', { schema: {} }, async (_req, reply) =>
    reply.header('cache-control', 'public, max-age=3600').type('text/css; charset=utf-8').send(CONSOLE_CSS),
  )

  app.get<{ Querystring: { next?: string } }>(
    '/login',
    {
      schema: {
        querystring: { type: 'object', properties: { next: { type: 'string', maxLength: 500 } } },
      },
    },
    async (req, reply) => {
      if (req.consoleSession) return seeOther(reply, safeNext(req.query.next))
      return sendPage(reply, loginPage(safeNext(req.query.next)))
    },
  )

  app.post<{ Body: FormBody }>(
    '/login',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            token: { type: 'string', maxLength: 1000 },
            next: { type: 'string', maxLength: 500 },
          },
        },
      },
    },
    async (req, reply) => {
      const next = safeNext(req.body?.next)
      const token = req.body?.token ?? ''
      const wait = (await opts.loginLimiter?.blockedFor(req.ip)) ?? 0
      if (wait > 0) {
        req.log.warn('console: login refused (too many failed attempts from this address)')
        reply.header('retry-after', String(wait))
        const minutes = Math.ceil(wait / 60)
        const text = `Too many failed logins from this address: try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`
        return sendPage(reply, loginPage(next, text), 429)
      }
      if (!opts.adminToken) {
        return sendPage(reply, loginPage(next, 'Login is disabled: ADMIN_TOKEN is not configured.'), 401)
      }
      if (!safeEqual(token, opts.adminToken)) {
        req.log.warn('console: login refused (wrong token)')
        await opts.loginLimiter?.fail(req.ip)
        return sendPage(reply, loginPage(next, 'That token is not right.'), 401)
      }
      await opts.loginLimiter?.reset(req.ip)
      const { id } = await opts.sessions.create()
      reply.header(
        'set-cookie',
        sessionCookie(id, { maxAgeSeconds: opts.sessions.ttlSeconds, secure: isHttps(req) }),
      )
      req.log.info('console: login')
      return seeOther(reply, next)
    },
  )

  app.post<{ Body: FormBody }>(
    '/logout',
    { schema: { body: { type: 'object', properties: { csrf: { type: 'string', maxLength: 200 } } } } },
    async (req, reply) => {
      await opts.sessions.destroy(sessionOf(req).id)
      reply.header('set-cookie', sessionCookie('', { maxAgeSeconds: 0, secure: isHttps(req) }))
      return seeOther(reply, '/console/login')
    },
  )
}
