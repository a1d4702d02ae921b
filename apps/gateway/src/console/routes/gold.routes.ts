import type { FastifyPluginAsync } from 'fastify'
import { fmtDate, html, type SafeHtml } from '../html.js'
import type { ConsoleOptions } from '../options.js'
import { type FormBody, formSchema, seeOther, sendPage, sessionOf } from '../plugin.js'
import { alertBox, csrfField, page, unavailable } from '../views/layout.js'

export const GOLD_DONE: Record<string, string> = {
  'gold-added': 'Added to the gold set.',
  'gold-removed': 'Removed from the gold set.',
}

/** The Data page's gold-set section: every item with Remove, and a form to add one by hand. */
export async function goldSection(opts: ConsoleOptions, csrf: string): Promise<SafeHtml> {
  if (!opts.gold)
    return html`<h2 id="gold">Gold set</h2>${unavailable('Add a gold item', 'gold-add', 'the gold set is passed to the console')}`
  const items = await opts.gold.list()
  return html`<h2 id="gold">Gold set</h2>
  <p class="note">${
    items.length
      ? `${items.length} item${items.length === 1 ? '' : 's'} of this shop: the evaluator grades candidates on them (EVAL_GOLD_SOURCE=auto) and they never enter training data or exemplar sets.`
      : 'Empty: the evaluator uses the demo file (EVAL_GOLD_PATH). Mark exchanges as gold in a conversation, or add one here.'
  }</p>
  ${
    items.length
      ? html`<div class="table-wrap"><table data-testid="gold-table"><thead><tr><th scope="col">item</th><th scope="col">customer</th><th scope="col">ideal answer</th><th scope="col">required facts</th><th scope="col"></th></tr></thead>
    <tbody>${items.map(
      (
        g,
      ) => html`<tr data-testid="gold-row"><th scope="row">gold-${g.id}<br><span class="muted">${g.messageId ? `message ${g.messageId}` : 'typed in'} · ${g.createdBy} · ${fmtDate(g.createdAt)}</span></th>
      <td class="text">${g.customerText}</td><td class="text">${g.idealAnswer}</td><td>${g.requiredFacts.join(', ') || '—'}</td>
      <td><form method="post" action="/console/data/gold/${g.id}/remove">${csrfField(csrf)}<button type="submit" class="secondary" data-testid="gold-remove" aria-label="Remove gold item ${g.id}">Remove</button></form></td></tr>`,
    )}</tbody></table></div>`
      : ''
  }
  <form method="post" action="/console/data/gold" class="card">${csrfField(csrf)}
    <label for="gold-customer">Customer message</label>
    <textarea id="gold-customer" name="customerText" maxlength="4000" required data-testid="gold-customer"></textarea>
    <label for="gold-ideal">Ideal answer</label>
    <textarea id="gold-ideal" name="idealAnswer" maxlength="4000" required data-testid="gold-ideal"></textarea>
    <label for="gold-facts">Required facts (comma-separated)</label>
    <input id="gold-facts" name="requiredFacts" type="text" maxlength="2000" data-testid="gold-facts">
    <button type="submit" data-testid="gold-add">Add to the gold set</button>
  </form>`
}

/** `POST /console/data/gold` (add) and `POST /console/data/gold/:id/remove`. */
export const goldRoutes: FastifyPluginAsync<ConsoleOptions> = async (app, opts) => {
  const actor = opts.actor ?? 'console'
  const refused = (req: Parameters<typeof sessionOf>[0], err: unknown) => {
    const e = err as Error & { statusCode?: number }
    const status = e.statusCode && e.statusCode < 500 ? e.statusCode : 422
    req.log.warn({ err: e.message }, 'console: gold set change refused')
    const body = html`${alertBox('error', `Not changed: ${e.message}`, 'action-error')}<p><a href="/console/data#gold">Back to the gold set</a></p>`
    return {
      status,
      body: page({ title: 'Gold set', current: '/console/data', csrf: sessionOf(req).csrf, body }),
    }
  }

  app.post<{ Body: FormBody }>(
    '/data/gold',
    {
      schema: {
        body: formSchema(
          {
            customerText: { maxLength: 4000 },
            idealAnswer: { maxLength: 4000 },
            requiredFacts: { maxLength: 2000 },
          },
          ['customerText', 'idealAnswer'],
        ),
      },
    },
    async (req, reply) => {
      try {
        if (!opts.gold) throw Object.assign(new Error('the gold set is not available'), { statusCode: 409 })
        await opts.gold.add({
          customerText: req.body.customerText ?? '',
          idealAnswer: req.body.idealAnswer ?? '',
          requiredFacts: (req.body.requiredFacts ?? '')
            .split(',')
            .map((f) => f.trim())
            .filter(Boolean),
          actor,
        })
      } catch (err) {
        const r = refused(req, err)
        return sendPage(reply, r.body, r.status)
      }
      return seeOther(reply, '/console/data?done=gold-added#gold')
    },
  )

  app.post<{ Params: { id: string }; Body: FormBody }>(
    '/data/gold/:id/remove',
    {
      schema: {
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', pattern: '^[0-9]{1,18}$' } },
        },
        body: formSchema({}),
      },
    },
    async (req, reply) => {
      try {
        if (!opts.gold) throw Object.assign(new Error('the gold set is not available'), { statusCode: 409 })
        await opts.gold.remove(Number(req.params.id))
      } catch (err) {
        const r = refused(req, err)
        return sendPage(reply, r.body, r.status)
      }
      return seeOther(reply, '/console/data?done=gold-removed#gold')
    },
  )
}
