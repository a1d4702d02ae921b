import { pseudonymousUserKey } from '@loopdm/training-data/pseudonym'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { IG_USER_ID_PATTERN } from '../../routes/admin/users.routes.js'
import { fmtDate, html } from '../html.js'
import type { ConsoleOptions } from '../options.js'
import { type FormBody, formSchema, seeOther, sendPage, sessionOf } from '../plugin.js'
import { alertBox, page } from '../views/layout.js'
import { threadView } from '../views/thread.view.js'

const UserParams = {
  type: 'object',
  required: ['igUserId'],
  properties: { igUserId: { type: 'string', pattern: IG_USER_ID_PATTERN } },
} as const
const DONE: Record<string, string> = {
  paused: 'Taken over: the bot holds its replies to this customer.',
  resumed: 'Resumed: the bot answers this customer again.',
  replied: 'Reply sent as a human turn.',
  gold: 'Marked as gold.',
  excluded: 'Excluded from training.',
  erased: 'Erased: every row, export line and kept job of that customer is gone (an audit row remains).',
}

export const conversationsRoutes: FastifyPluginAsync<ConsoleOptions> = async (app, opts) => {
  const actor = opts.actor ?? 'console'

  app.get<{ Querystring: { q?: string; done?: string } }>(
    '/conversations',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { q: { type: 'string', maxLength: 200 }, done: { type: 'string', maxLength: 10 } },
        },
      },
    },
    async (req, reply) => {
      const { csrf } = sessionOf(req)
      const q = req.query.q?.trim() ?? ''
      const search = /^[0-9a-f]{32}$/.test(q) ? { userKey: q } : q ? { igUserId: q } : {}
      const rows = await opts.consoleRepo.recentConversations({
        ...search,
        limit: 50,
        pseudonymSecret: opts.pseudonymSecret,
      })
      const body = html`${alertBox('info', req.query.done ? DONE[req.query.done] : undefined)}
        <form method="get" action="/console/conversations" role="search">
          <label for="q">Pseudonymous key or Instagram user id</label>
          <input id="q" name="q" type="search" value="${q}" maxlength="200" data-testid="conversation-search">
          <button type="submit">Search</button>
          <p class="note">Empty: the most recently active customers. The key is the one export manifests and GDPR audit rows use.</p>
        </form>
        ${
          rows.length
            ? html`<div class="table-wrap"><table><thead><tr><th scope="col">customer</th><th scope="col">pseudonymous key</th><th scope="col">messages</th><th scope="col">last activity</th></tr></thead>
          <tbody>${rows.map(
            (
              r,
            ) => html`<tr data-testid="conversation-row"><td><a href="/console/conversations/${encodeURIComponent(r.igUserId)}">${r.igUserId}</a></td>
              <td><code>${pseudonymousUserKey(r.igUserId, opts.pseudonymSecret)}</code></td><td>${r.messages}</td><td>${fmtDate(r.lastAt)}</td></tr>`,
          )}</tbody></table></div>`
            : html`<p class="muted">No conversations${q ? ' match' : ' yet'}.</p>`
        }`
      return sendPage(reply, page({ title: 'Conversations', current: '/console/conversations', csrf, body }))
    },
  )

  const show = async (
    req: FastifyRequest,
    reply: FastifyReply,
    igUserId: string,
    done?: string,
    error?: { status: number; message: string },
  ) => {
    const { csrf } = sessionOf(req)
    const [messages, takeover] = await Promise.all([
      opts.consoleRepo.thread(igUserId),
      opts.takeover ? opts.takeover.status(igUserId).catch(() => null) : Promise.resolve(null),
    ])
    const body = html`${alertBox('error', error?.message, 'action-error')}${alertBox('info', done ? DONE[done] : undefined)}
      ${threadView({ igUserId, userKey: pseudonymousUserKey(igUserId, opts.pseudonymSecret), messages, takeover, opts, csrf })}`
    return sendPage(
      reply,
      page({ title: `Conversation ${igUserId}`, current: '/console/conversations', csrf, body }),
      error?.status ?? 200,
    )
  }

  app.get<{ Params: { igUserId: string }; Querystring: { done?: string } }>(
    '/conversations/:igUserId',
    {
      schema: {
        params: UserParams,
        querystring: { type: 'object', properties: { done: { type: 'string', maxLength: 10 } } },
      },
    },
    (req, reply) => show(req, reply, req.params.igUserId, req.query.done),
  )

  /** One POST action: runs `fn`, then redirects (303) with `done`, or re-renders the thread with the error. */
  const action = (
    name: string,
    fields: Record<string, { maxLength: number; minLength?: number }>,
    required: string[],
    fn: (igUserId: string, body: FormBody) => Promise<string>,
  ) =>
    app.post<{ Params: { igUserId: string }; Body: FormBody }>(
      `/conversations/:igUserId/${name}`,
      { schema: { params: UserParams, body: formSchema(fields, required) } },
      async (req, reply) => {
        const { igUserId } = req.params
        try {
          const done = await fn(igUserId, req.body)
          return seeOther(
            reply,
            done === 'erased'
              ? '/console/conversations?done=erased'
              : `/console/conversations/${encodeURIComponent(igUserId)}?done=${done}`,
          )
        } catch (err) {
          const e = err as Error & { statusCode?: number }
          const status = e.statusCode && e.statusCode < 500 ? e.statusCode : 422
          req.log.warn({ action: name, err: e.message }, 'console: conversation action refused')
          return show(req, reply, igUserId, undefined, { status, message: e.message })
        }
      },
    )
  const missing = (what: string) =>
    Object.assign(new Error(`${what} is not available on this gateway yet`), { statusCode: 409 })
  const messageId = (b: FormBody) => {
    const id = Number(b.messageId)
    if (!Number.isSafeInteger(id) || id <= 0)
      throw Object.assign(new Error('bad message id'), { statusCode: 400 })
    return id
  }

  action('takeover', {}, [], async (igUserId) => {
    if (!opts.takeover) throw missing('Takeover')
    await opts.takeover.pause(igUserId, { actor })
    return 'paused'
  })
  action('resume', {}, [], async (igUserId) => {
    if (!opts.takeover) throw missing('Takeover')
    await opts.takeover.resume(igUserId, { actor })
    return 'resumed'
  })
  action('reply', { text: { minLength: 1, maxLength: 2000 } }, ['text'], async (igUserId, b) => {
    if (!opts.reply) throw missing('Replying from the console')
    await opts.reply({ igUserId, text: b.text ?? '', actor })
    return 'replied'
  })
  action(
    'gold',
    { messageId: { maxLength: 20 }, ideal: { minLength: 1, maxLength: 4000 } },
    ['messageId', 'ideal'],
    async (igUserId, b) => {
      if (!opts.gold) throw missing('The gold set')
      await opts.gold.mark({ igUserId, messageId: messageId(b), ideal: b.ideal ?? '', actor })
      return 'gold'
    },
  )
  action('exclude', { messageId: { maxLength: 20 } }, ['messageId'], async (igUserId, b) => {
    if (!opts.exclude) throw missing('Excluding from training')
    await opts.exclude({ igUserId, messageId: messageId(b), actor })
    return 'excluded'
  })
  action('erase', { confirm: { maxLength: 200 } }, [], async (igUserId, b) => {
    if (!opts.erase) throw missing('GDPR erase')
    if ((b.confirm ?? '').trim() !== igUserId) {
      throw Object.assign(new Error('Not erased: type the customer id exactly to confirm.'), {
        statusCode: 400,
      })
    }
    await opts.erase({ igUserId, actor })
    return 'erased'
  })
}
