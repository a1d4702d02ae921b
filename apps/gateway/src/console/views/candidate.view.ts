import type { EvalItemView, EvalRunView } from '../console.repository.js'
import type { GoldView } from '../gold-reader.js'
import { fmtNum, html, type SafeHtml } from '../html.js'

export type ItemFilter = 'all' | 'worse' | 'better'

interface Summary {
  model?: string
  n?: number
  mean?: number
  similarity?: number
  factRecall?: number
  lengthOk?: number
  piiOk?: number
  judge?: number | null
  errors?: number
}
interface Gate {
  gate: string
  pass: boolean
  candidate: number
  current: number
  detail: string
}

const ROLES = ['candidate', 'current', 'base'] as const
const METRICS: Array<[keyof Summary, string]> = [
  ['mean', 'mean score'],
  ['similarity', 'similarity'],
  ['factRecall', 'fact recall'],
  ['lengthOk', 'length ok'],
  ['piiOk', 'no PII'],
  ['judge', 'judge'],
  ['errors', 'errors'],
]

/** Candidate vs current vs base on the gold set, then each gate with pass/fail. */
export function evaluationTable(run: EvalRunView): SafeHtml {
  const s = (run.summary ?? {}) as Record<string, Summary | Gate[] | null>
  const sum = (role: string) => (s[role] ?? {}) as Summary
  const gates = (Array.isArray(s.gates) ? s.gates : []) as Gate[]
  const hold = (s.holdout ?? null) as { candidate?: Summary; current?: Summary } | null
  return html`<p>run ${run.id} · ${run.status} · <span data-testid="gold-set-info">${run.items} gold items${
    run.goldSource ? ` from ${run.goldSource === 'file' ? run.goldPath : run.goldSource}` : ''
  }${run.goldSha256 ? ` · sha256 ${run.goldSha256.slice(0, 12)}` : ''}</span>${
    run.decision ? html` · decision <strong>${run.decision}</strong>` : ''
  }${run.reason ? html` — ${run.reason}` : ''}</p>
  ${run.promotionBlocked ? html`<p class="warn" data-testid="promotion-blocked">${run.promotionBlocked}</p>` : ''}
  ${run.error ? html`<p class="bad">${run.error}</p>` : ''}
  ${
    hold?.candidate
      ? html`<p data-testid="holdout-score">Holdout (${hold.candidate.n ?? run.holdoutItems} recent human and exported answers, never trained on): candidate ${fmtNum(hold.candidate.mean)} · current ${fmtNum(hold.current?.mean)}</p>`
      : html`<p class="muted">No holdout in this run (EVAL_HOLDOUT_SIZE=0 or the training file was not readable).</p>`
  }
  <div class="table-wrap"><table data-testid="eval-table">
    <caption class="muted">Gold-set means per model</caption>
    <thead><tr><th scope="col">metric</th>${ROLES.map(
      (r) =>
        html`<th scope="col">${r}<br><span class="muted">${sum(r).model ?? (r === 'candidate' ? run.candidateModel : r === 'current' ? run.currentModel : run.baseModel)}</span></th>`,
    )}</tr></thead>
    <tbody>${METRICS.map(
      ([k, label]) =>
        html`<tr><th scope="row">${label}</th>${ROLES.map((r) => {
          const v = sum(r)[k]
          return html`<td>${typeof v === 'number' ? (k === 'errors' ? String(v) : fmtNum(v)) : '—'}</td>`
        })}</tr>`,
    )}</tbody>
  </table></div>
  <h3>Gates</h3>
  ${
    gates.length
      ? html`<div class="table-wrap"><table data-testid="gates-table"><thead><tr><th scope="col">gate</th><th scope="col">result</th><th scope="col">detail</th></tr></thead>
      <tbody>${gates.map(
        (g) =>
          html`<tr data-testid="gate-row"><th scope="row">${g.gate}</th><td class="${g.pass ? 'ok' : 'bad'}">${g.pass ? 'pass' : 'fail'}</td><td>${g.detail}</td></tr>`,
      )}</tbody></table></div>`
      : html`<p class="muted">No gate results stored for this run.</p>`
  }`
}

interface Row {
  itemId: string
  source: string
  category: string | null
  byRole: Partial<Record<(typeof ROLES)[number], EvalItemView>>
}

/** Groups a run's items by gold item; the candidate's score minus the current model's decides the filter. */
export function groupItems(items: EvalItemView[]): Row[] {
  const rows = new Map<string, Row>()
  for (const it of items) {
    const key = `${it.source}:${it.itemId}`
    const row = rows.get(key) ?? { itemId: it.itemId, source: it.source, category: it.category, byRole: {} }
    if ((ROLES as readonly string[]).includes(it.role)) row.byRole[it.role as (typeof ROLES)[number]] = it
    rows.set(key, row)
  }
  return [...rows.values()]
}

const delta = (r: Row) => (r.byRole.candidate?.score ?? 0) - (r.byRole.current?.score ?? 0)

export function comparisonTable(args: {
  run: EvalRunView
  items: EvalItemView[]
  gold: Map<string, GoldView> | null
  filter: ItemFilter
  basePath: string
}): SafeHtml {
  const all = groupItems(args.items)
  const rows = all.filter((r) =>
    args.filter === 'worse' ? delta(r) < -1e-9 : args.filter === 'better' ? delta(r) > 1e-9 : true,
  )
  const count = (f: ItemFilter) =>
    f === 'all' ? all.length : all.filter((r) => (f === 'worse' ? delta(r) < -1e-9 : delta(r) > 1e-9)).length
  const link = (f: ItemFilter, label: string) =>
    html`<a href="${args.basePath}${f === 'all' ? '' : `?filter=${f}`}"${args.filter === f ? html` aria-current="true"` : ''} data-testid="filter-${f}">${label} (${count(f)})</a>`
  const reply = (it: EvalItemView | undefined) =>
    it
      ? html`<td class="text">${it.error ? html`<span class="bad">error: ${it.error}</span>` : it.reply}<br><span class="muted">score ${fmtNum(it.score)} · sim ${fmtNum(it.similarity)} · facts ${fmtNum(it.factRecall)}${it.factsMissing.length ? html` (missing ${it.factsMissing.join(', ')})` : ''}${it.lengthOk ? '' : ' · too long'}${it.piiOk ? '' : ' · PII'}</span></td>`
      : html`<td class="muted">—</td>`
  // Runs since migration 0015 store each item's prompt and ideal; older runs need the gold file.
  const stored = (r: Row) => r.byRole.candidate ?? r.byRole.current ?? r.byRole.base
  const missing = all.some((r) => !stored(r)?.customerText) && !args.gold
  return html`<p class="filters">${link('all', 'All')}${link('worse', 'Got worse')}${link('better', 'Got better')}</p>
  ${missing ? html`<p class="note">The gold file (${args.run.goldPath ?? 'unknown'}) is not readable from this gateway and this run predates stored prompts: some customer texts and ideal answers are not shown.</p>` : ''}
  <div class="table-wrap"><table data-testid="items-table">
    <thead><tr><th scope="col">item</th><th scope="col">customer</th><th scope="col">ideal answer</th><th scope="col">candidate</th><th scope="col">current</th><th scope="col">Δ</th></tr></thead>
    <tbody>${rows.map((r) => {
      const file = r.source === 'gold' ? args.gold?.get(r.itemId) : undefined
      const s = stored(r)
      const g = { customer: s?.customerText ?? file?.customer, ideal: s?.ideal ?? file?.ideal }
      const d = delta(r)
      return html`<tr data-testid="item-row" data-delta="${d.toFixed(4)}">
        <th scope="row" class="item">${r.itemId}<br><span class="muted">${r.source}${r.category ? ` · ${r.category}` : ''}</span></th>
        <td class="text" data-testid="item-customer">${g.customer ?? '—'}</td><td class="text" data-testid="item-ideal">${g.ideal ?? '—'}</td>
        ${reply(r.byRole.candidate)}${reply(r.byRole.current)}
        <td class="num ${d < -1e-9 ? 'bad' : d > 1e-9 ? 'ok' : ''}">${d >= 0 ? '+' : ''}${d.toFixed(3)}</td></tr>`
    })}</tbody>
  </table></div>`
}
