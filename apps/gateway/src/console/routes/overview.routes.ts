import { startOfUtcMonth } from '@loopdm/models/cost-ledger'
import type { FastifyPluginAsync } from 'fastify'
import type { EvalRunView, ExportRunView, FinetuneJobView } from '../console.repository.js'
import { fmtDate, fmtNum, fmtUsd, html, type SafeHtml } from '../html.js'
import type { ConsoleCanary, ConsoleOptions } from '../options.js'
import { sendPage, sessionOf } from '../plugin.js'
import { lastDays, repliesChart } from '../views/chart.js'
import { page } from '../views/layout.js'

const CHART_DAYS = 14

export const overviewRoutes: FastifyPluginAsync<ConsoleOptions> = async (app, opts) => {
  app.get('/', { schema: {} }, async (req, reply) => {
    const { csrf } = sessionOf(req)
    const now = new Date()
    const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()))
    const days = lastDays(CHART_DAYS, now)
    const held = opts.holder.current()
    const [
      registryActive,
      previous,
      waiting,
      exports,
      tunes,
      evalRun,
      spend,
      answered,
      perDay,
      fallbacks,
      canary,
    ] = await Promise.all([
      opts.registry.findActive(),
      opts.registry.findPrevious(),
      opts.registry.listByStatus(['candidate', 'approved_pending']),
      opts.consoleRepo.exportRuns(1),
      opts.consoleRepo.finetuneJobs(1),
      opts.consoleRepo.latestEvalRun(),
      opts.costs.summary({ since: startOfUtcMonth(now), until: new Date(now.getTime() + 1000) }),
      opts.consoleRepo.answeredSince(today),
      opts.consoleRepo.repliesPerModelPerDay(new Date(`${days[0]}T00:00:00Z`)),
      opts.fallbacks ? opts.fallbacks() : Promise.resolve(null),
      opts.canary ? opts.canary() : Promise.resolve(null),
    ])
    const drift =
      (held?.model ?? null) !== (registryActive?.model ?? null) ||
      Number(held?.version ?? 0) !== Number(registryActive?.version ?? 0)
    const budget = opts.budgetUsdMonthly
    const over = budget !== undefined && spend.totalUsd >= budget
    const body = html`
      <div class="grid">
        <section class="card" data-testid="active-policy" aria-labelledby="h-active">
          <h2 id="h-active">Active policy</h2>
          <p><strong data-testid="active-model">${registryActive?.model ?? `${opts.baseModel} (base, nothing promoted)`}</strong></p>
          <p>learner: fine-tune · version ${registryActive?.version ?? 0} · since ${fmtDate(registryActive?.since)}</p>
          <p>rollback target: ${previous ?? (registryActive ? `${opts.baseModel} (base)` : '—')}</p>
        </section>
        <section class="card" aria-labelledby="h-view">
          <h2 id="h-view">This gateway's view</h2>
          <p>${held ? html`${held.model} · version ${held.version}` : html`nothing loaded (base model answers)`}</p>
          <p data-testid="drift">${
            drift
              ? html`<span class="warn">Drift: the registry says ${registryActive?.model ?? 'none'} v${registryActive?.version ?? 0}</span> (heals on the next message or reconcile)`
              : html`<span class="ok">In sync with the registry</span>`
          }</p>
        </section>
        <section class="card" aria-labelledby="h-cand">
          <h2 id="h-cand">Candidates awaiting review</h2>
          <p><a href="/console/candidates">${waiting.length} waiting</a></p>
        </section>
        <section class="card" aria-labelledby="h-spend">
          <h2 id="h-spend">Spend this month</h2>
          <p data-testid="spend-month"><strong>${fmtUsd(spend.totalUsd)}</strong> of ${budget === undefined ? 'no budget set' : fmtUsd(budget)}</p>
          ${over ? html`<p class="bad">Over budget: new fine-tunes are refused</p>` : ''}
        </section>
        <section class="card" aria-labelledby="h-dms">
          <h2 id="h-dms">Today</h2>
          <p data-testid="answered-today">${answered} DMs answered</p>
          <p>${fallbacks === null ? 'fallbacks: —' : `${fallbacks} fallbacks to the base model (this gateway, since start)`}</p>
          <p class="muted">takeovers: available when human takeover (issue 13) lands</p>
        </section>
        ${canary ? canaryCard(canary) : ''}
      </div>
      <h2>Pipeline</h2>
      <div class="grid">
        ${exportCard(exports[0])}${tuneCard(tunes[0])}${evalCard(evalRun)}
      </div>
      <h2>Replies per model per day (last ${CHART_DAYS} days)</h2>
      ${repliesChart(perDay, days)}`
    return sendPage(reply, page({ title: 'Overview', current: '/console', csrf, body }))
  })
}

function canaryCard(c: ConsoleCanary): SafeHtml {
  const arm = (a: 'control' | 'canary') => {
    const s = c.decision?.arms?.[a]
    return s ? html`${a}: ${s.replies} replies, bad ${fmtNum(s.badRate * 100)}%` : html`${a}: —`
  }
  return html`<section class="card" data-testid="canary" aria-labelledby="h-canary"><h2 id="h-canary">Canary</h2>
    <p><strong>${c.model}</strong> on ${c.percent}% of customers · ${c.status} since ${fmtDate(c.startedAt)}</p>
    <p>${arm('control')}</p><p>${arm('canary')}</p>
    <p>${c.decision?.reason ?? 'not checked yet'}</p>
    <p class="muted">details: GET /admin/canary</p></section>`
}

function exportCard(r: ExportRunView | undefined): SafeHtml {
  return html`<section class="card" aria-labelledby="h-exp"><h2 id="h-exp">Last export</h2>${
    r
      ? html`<p>${r.runDate} · ${r.kind} · <span class="${r.status === 'failed' ? 'bad' : ''}">${r.status}</span></p>
        <p>${r.examples} examples from ${r.rowsRead} rows · ${r.bytes} bytes</p>
        ${r.error ? html`<p class="bad">${r.error}</p>` : ''}<p><a href="/console/data">details</a></p>`
      : html`<p class="muted">no export yet</p>`
  }</section>`
}

function tuneCard(j: FinetuneJobView | undefined): SafeHtml {
  return html`<section class="card" aria-labelledby="h-tune"><h2 id="h-tune">Last fine-tune</h2>${
    j
      ? html`<p>${j.status} · ${j.examples} examples · ${j.tokens} tokens</p>
        <p>${j.fineTunedModel ?? j.baseModel}</p>
        <p>cost ${fmtUsd(j.actualCostUsd ?? j.estimatedCostUsd)}${j.actualCostUsd === null ? ' (estimate)' : ''}</p>
        ${j.error ? html`<p class="bad">${j.error}</p>` : ''}`
      : html`<p class="muted">no fine-tune yet</p>`
  }</section>`
}

function evalCard(r: EvalRunView | null): SafeHtml {
  const mean = (role: string) => (r?.summary?.[role] as { mean?: number } | undefined)?.mean
  return html`<section class="card" aria-labelledby="h-eval"><h2 id="h-eval">Last evaluation</h2>${
    r
      ? html`<p>${r.candidateModel}</p>
        <p>${r.status}${r.decision ? html` · <strong>${r.decision}</strong>` : ''}</p>
        <p>candidate ${fmtNum(mean('candidate'))} · current ${fmtNum(mean('current'))} · base ${fmtNum(mean('base'))}</p>
        <p class="muted">${r.items} gold items${r.goldSource ? ` (${r.goldSource})` : ''}${r.holdoutItems ? ` · ${r.holdoutItems} holdout` : ''}</p>
        ${r.reason ? html`<p class="muted">${r.reason}</p>` : ''}`
      : html`<p class="muted">no evaluation yet</p>`
  }</section>`
}
