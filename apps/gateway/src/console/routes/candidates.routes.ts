import type { ModelRow } from '@loopdm/models/registry'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { createFileGoldReader } from '../gold-reader.js'
import { fmtDate, html } from '../html.js'
import type { ConsoleOptions } from '../options.js'
import { type FormBody, formSchema, seeOther, sendPage, sessionOf } from '../plugin.js'
import { comparisonTable, evaluationTable, type ItemFilter } from '../views/candidate.view.js'
import { alertBox, csrfField, page } from '../views/layout.js'

const IdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[0-9]{1,18}$' } },
} as const
const FILTERS: ItemFilter[] = ['all', 'worse', 'better']
const DONE: Record<string, string> = {
  approved: 'Approved: the candidate is now the active model on every gateway.',
  rejected: 'Rejected: the candidate stays in the registry with your reason.',
}
const AWAITING = new Set(['candidate', 'approved_pending'])

interface ShowArgs {
  id: string
  filter?: string | undefined
  done?: string | undefined
  error?: { status: number; message: string }
}

export const candidatesRoutes: FastifyPluginAsync<ConsoleOptions> = async (app, opts) => {
  const actor = opts.actor ?? 'console'
  const goldReader = opts.goldReader ?? createFileGoldReader()

  app.get('/candidates', { schema: {} }, async (req, reply) => {
    const { csrf } = sessionOf(req)
    const rows = await opts.registry.listByStatus(['candidate', 'approved_pending', 'rejected'])
    rows.sort((a, b) => Number(AWAITING.has(b.status)) - Number(AWAITING.has(a.status)) || b.id - a.id)
    const body = rows.length
      ? html`<div class="table-wrap"><table>
          <thead><tr><th scope="col">model</th><th scope="col">status</th><th scope="col">score (candidate / current)</th><th scope="col">registered</th></tr></thead>
          <tbody>${rows.map((m) => {
            const metrics = m.metrics as { score?: number; currentScore?: number } | null
            return html`<tr data-testid="candidate-row">
              <td><a href="/console/candidates/${m.id}">${m.model}</a></td>
              <td>${AWAITING.has(m.status) ? html`<strong>${m.status}</strong>` : m.status}</td>
              <td>${metrics?.score?.toFixed(3) ?? '—'} / ${metrics?.currentScore?.toFixed(3) ?? '—'}</td>
              <td>${fmtDate(m.createdAt)}</td></tr>`
          })}</tbody></table></div>`
      : html`<p class="muted">No candidates: the loop registers one after each fine-tune.</p>`
    return sendPage(reply, page({ title: 'Candidates', current: '/console/candidates', csrf, body }))
  })

  const show = async (req: FastifyRequest, reply: FastifyReply, args: ShowArgs) => {
    const { csrf } = sessionOf(req)
    const { error } = args
    const model = await opts.registry.findByIdOrModel(args.id)
    if (!model)
      return sendPage(
        reply,
        page({ title: 'Not found', csrf, body: alertBox('error', 'No such candidate.') }),
        404,
      )
    const filter = (FILTERS as string[]).includes(args.filter ?? '') ? (args.filter as ItemFilter) : 'all'
    const run = await opts.consoleRepo.latestEvalRun(model.model)
    const items = run ? await opts.consoleRepo.evalItems(run.id) : []
    const gold = run?.goldPath ? await goldReader(run.goldPath) : null
    const body = html`
      ${alertBox('error', error?.message, 'action-error')}
      ${alertBox('info', args.done ? DONE[args.done] : undefined)}
      <p>status <strong data-testid="candidate-status">${model.status}</strong> · base ${model.baseModel ?? '—'} · registered ${fmtDate(model.createdAt)}</p>
      ${model.reason ? html`<p class="muted">${model.reason}</p>` : ''}
      ${decisionForms(model, csrf)}
      <h2>Evaluation</h2>
      ${run ? evaluationTable(run) : html`<p class="muted">Not evaluated yet.</p>`}
      <h2>Gold items side by side</h2>
      ${run ? comparisonTable({ run, items, gold, filter, basePath: `/console/candidates/${model.id}` }) : ''}`
    return sendPage(
      reply,
      page({ title: `Candidate ${model.model}`, current: '/console/candidates', csrf, body }),
      error?.status ?? 200,
    )
  }

  app.get<{ Params: { id: string }; Querystring: { filter?: string; done?: string } }>(
    '/candidates/:id',
    {
      schema: {
        params: IdParams,
        querystring: {
          type: 'object',
          properties: { filter: { type: 'string', maxLength: 10 }, done: { type: 'string', maxLength: 10 } },
        },
      },
    },
    (req, reply) => show(req, reply, { id: req.params.id, ...req.query }),
  )

  for (const action of ['approve', 'reject'] as const) {
    app.post<{ Params: { id: string }; Body: FormBody }>(
      `/candidates/:id/${action}`,
      { schema: { params: IdParams, body: formSchema({ reason: { maxLength: 500 } }) } },
      async (req, reply) => {
        const reason = req.body.reason?.trim() || undefined
        try {
          if (action === 'approve') await opts.promotion.approve(req.params.id, { actor, reason })
          else await opts.promotion.reject(req.params.id, { actor, reason })
        } catch (err) {
          const e = err as Error & { statusCode?: number }
          req.log.warn({ id: req.params.id, err: e.message }, `console: ${action} refused`)
          const status = e.statusCode && e.statusCode < 500 ? e.statusCode : 422
          const message = `${action === 'approve' ? 'Approval' : 'Rejection'} refused: ${e.message}`
          return show(req, reply, { id: req.params.id, error: { status, message } })
        }
        return seeOther(reply, `/console/candidates/${req.params.id}?done=${action}d`)
      },
    )
  }
}

function decisionForms(model: ModelRow, csrf: string) {
  if (!AWAITING.has(model.status))
    return html`<p class="muted">This model is ${model.status}: nothing to decide.</p>`
  return html`<div class="actions">
    <form method="post" action="/console/candidates/${model.id}/approve">
      ${csrfField(csrf)}
      <label for="approve-reason">Reason for approving</label>
      <input id="approve-reason" name="reason" type="text" maxlength="500" placeholder="e.g. better on prices">
      <p class="note">Probes the model first; a model that does not answer is not promoted.</p>
      <button type="submit" data-testid="approve">Approve and promote</button>
    </form>
    <form method="post" action="/console/candidates/${model.id}/reject">
      ${csrfField(csrf)}
      <label for="reject-reason">Reason for rejecting</label>
      <input id="reject-reason" name="reason" type="text" maxlength="500" placeholder="e.g. worse on shipping">
      <button type="submit" class="danger" data-testid="reject">Reject</button>
    </form>
  </div>`
}
