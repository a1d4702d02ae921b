import { startOfUtcMonth } from '@loopdm/models/cost-ledger'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { fmtDate, fmtUsd, html } from '../html.js'
import type { ConsoleOptions } from '../options.js'
import { type FormBody, formSchema, seeOther, sendPage, sessionOf } from '../plugin.js'
import { curationCell, reportOf, topRepeatedSection } from '../views/curation.view.js'
import { alertBox, csrfField, page } from '../views/layout.js'
import { timeline } from '../views/timeline.view.js'
import { GOLD_DONE, goldSection } from './gold.routes.js'

/** Data (exports, training files), Promotions (timeline of promotions and canary events + rollback) and Costs. */
export const recordsRoutes: FastifyPluginAsync<ConsoleOptions> = async (app, opts) => {
  const actor = opts.actor ?? 'console'

  app.get<{ Querystring: { done?: string } }>(
    '/data',
    { schema: { querystring: { type: 'object', properties: { done: { type: 'string', maxLength: 20 } } } } },
    async (req, reply) => {
      const { csrf } = sessionOf(req)
      const [exports, jobs, gold] = await Promise.all([
        opts.consoleRepo.exportRuns(10),
        opts.consoleRepo.finetuneJobs(20),
        goldSection(opts, csrf),
      ])
      const done = req.query.done ? GOLD_DONE[req.query.done] : undefined
      const body = html`${alertBox('info', done)}<h2>Last exports</h2>${
        exports.length
          ? html`<div class="table-wrap"><table data-testid="exports-table"><thead><tr><th scope="col">run</th><th scope="col">status</th><th scope="col">examples</th><th scope="col">PII replaced</th><th scope="col">curation</th><th scope="col">files</th></tr></thead>
        <tbody>${exports.map(
          (
            r,
          ) => html`<tr><th scope="row">${r.runDate}<br><span class="muted">#${r.id} · ${r.kind} · ${r.trigger}</span></th>
            <td class="${r.status === 'failed' ? 'bad' : ''}">${r.status}${r.error ? html`<br>${r.error}` : ''}<br><span class="muted">${fmtDate(r.committedAt ?? r.startedAt)}</span></td>
            <td>${r.examples} from ${r.rowsRead} rows</td>
            <td>${Object.keys(r.pii ?? {}).length ? Object.entries(r.pii).map(([k, v]) => html`${k} ${v}<br>`) : '—'}</td>
            <td data-testid="curation-report" data-run="${r.id}">${curationCell(reportOf(r))}</td>
            <td>${r.files.length ? r.files.map((f) => html`<code>${f.path}</code> (${f.lines} lines, ${f.bytes} bytes)<br>`) : '—'}</td></tr>`,
        )}</tbody></table></div>`
          : html`<p class="muted">No export has run yet.</p>`
      }
    ${topRepeatedSection(exports)}
    ${gold}
    <h2>Training files uploaded to providers</h2>${
      jobs.length
        ? html`<div class="table-wrap"><table data-testid="training-files-table"><thead><tr><th scope="col">file</th><th scope="col">provider file / job</th><th scope="col">status</th><th scope="col">model</th><th scope="col">cost</th></tr></thead>
        <tbody>${jobs.map(
          (
            j,
          ) => html`<tr><td><code>${j.filePath}</code><br><span class="muted">${j.examples} examples · ${j.tokens} tokens</span></td>
            <td>${j.providerFileId ?? '—'}<br>${j.providerJobId ?? '—'}</td>
            <td class="${j.status === 'failed' ? 'bad' : ''}">${j.status}${j.error ? html`<br>${j.error}` : ''}</td>
            <td>${j.fineTunedModel ?? html`<span class="muted">${j.baseModel}</span>`}</td>
            <td>${fmtUsd(j.actualCostUsd ?? j.estimatedCostUsd)}${j.actualCostUsd === null ? ' est.' : ''}</td></tr>`,
        )}</tbody></table></div>`
        : html`<p class="muted">Nothing uploaded yet.</p>`
    }`
      return sendPage(reply, page({ title: 'Data', current: '/console/data', csrf, body }))
    },
  )

  const promotions = async (req: FastifyRequest, reply: FastifyReply, done?: string, error?: string) => {
    const { csrf } = sessionOf(req)
    const [rows, active, previous] = await Promise.all([
      opts.promotionLog
        ? opts.promotionLog(100)
        : opts.registry.promotions(100).then((ps) => ps.map((p) => ({ ...p, kind: 'promotion' as const }))),
      opts.registry.findActive(),
      opts.registry.findPrevious(),
    ])
    const target = previous ?? (active ? opts.baseModel : null)
    const body = html`${alertBox('error', error, 'action-error')}${alertBox('info', done === 'rolledback' ? 'Rolled back: every gateway swaps on the next message.' : undefined)}
      ${
        target
          ? html`<form method="post" action="/console/promotions/rollback" class="card">${csrfField(csrf)}
          <p>Active: <strong>${active?.model ?? '—'}</strong> · rollback target: <strong>${target}</strong></p>
          <label for="rb-reason">Reason</label><input id="rb-reason" name="reason" type="text" maxlength="500">
          <button type="submit" class="danger" data-testid="rollback">Roll back to ${target}</button></form>`
          : html`<p class="muted">Nothing is active: nothing to roll back.</p>`
      }
      <h2>Timeline</h2>${timeline(rows)}`
    return sendPage(
      reply,
      page({ title: 'Promotions', current: '/console/promotions', csrf, body }),
      error ? 422 : 200,
    )
  }

  app.get<{ Querystring: { done?: string } }>(
    '/promotions',
    { schema: { querystring: { type: 'object', properties: { done: { type: 'string', maxLength: 12 } } } } },
    (req, reply) => promotions(req, reply, req.query.done),
  )

  app.post<{ Body: FormBody }>(
    '/promotions/rollback',
    { schema: { body: formSchema({ reason: { maxLength: 500 } }) } },
    async (req, reply) => {
      try {
        await opts.promotion.rollback({ actor, reason: req.body.reason?.trim() || undefined })
      } catch (err) {
        req.log.warn({ err: (err as Error).message }, 'console: rollback refused')
        return promotions(req, reply, undefined, `Rollback refused: ${(err as Error).message}`)
      }
      return seeOther(reply, '/console/promotions?done=rolledback')
    },
  )

  app.get('/costs', { schema: {} }, async (req, reply) => {
    const { csrf } = sessionOf(req)
    const now = new Date()
    const month = startOfUtcMonth(now)
    const sixAgo = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 5, 1))
    const rows = await opts.consoleRepo.spendByMonth(sixAgo)
    const thisMonth = rows.filter((r) => r.month === month.toISOString().slice(0, 7))
    const total = thisMonth.reduce((a, r) => a + r.costUsd, 0)
    const months = [...new Set(rows.map((r) => r.month))]
    const budget = opts.budgetUsdMonthly
    const alert =
      budget === undefined
        ? html`<p class="muted">No monthly budget set (FT_BUDGET_USD_MONTHLY).</p>`
        : total >= budget
          ? html`<p class="bad" role="alert">Over budget: ${fmtUsd(total)} of ${fmtUsd(budget)}. New fine-tunes are refused.</p>`
          : total >= 0.8 * budget
            ? html`<p class="warn">80% of the budget used: ${fmtUsd(total)} of ${fmtUsd(budget)}.</p>`
            : html`<p class="ok">Within budget: ${fmtUsd(total)} of ${fmtUsd(budget)}.</p>`
    const body = html`<p data-testid="spend-month">This month: <strong>${fmtUsd(total)}</strong></p>${alert}
      <h2>This month by operation and model</h2>${table(thisMonth)}
      <h2>Last six months</h2>
      <div class="table-wrap"><table><thead><tr><th scope="col">month</th><th scope="col">total</th><th scope="col">by operation</th></tr></thead>
      <tbody>${months.map((m) => {
        const ms = rows.filter((r) => r.month === m)
        const byOp = new Map<string, number>()
        for (const r of ms) byOp.set(r.operation, (byOp.get(r.operation) ?? 0) + r.costUsd)
        return html`<tr><th scope="row">${m}</th><td>${fmtUsd(ms.reduce((a, r) => a + r.costUsd, 0))}</td><td>${[...byOp].map(([op, c]) => html`${op} ${fmtUsd(c)}<br>`)}</td></tr>`
      })}</tbody></table></div>
      <p class="note">By learner: available when policies (issue 14) land.</p>`
    return sendPage(reply, page({ title: 'Costs', current: '/console/costs', csrf, body }))
  })
}

function table(rows: Array<{ operation: string; model: string; costUsd: number; calls: number }>) {
  if (!rows.length) return html`<p class="muted">Nothing spent this month.</p>`
  return html`<div class="table-wrap"><table><thead><tr><th scope="col">operation</th><th scope="col">model</th><th scope="col">calls</th><th scope="col">USD</th></tr></thead>
    <tbody>${rows.map((r) => html`<tr><td>${r.operation}</td><td>${r.model}</td><td>${r.calls}</td><td>${fmtUsd(r.costUsd)}</td></tr>`)}</tbody></table></div>`
}
