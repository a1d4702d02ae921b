import { fmtUsd, html, type SafeHtml } from '../html.js'

type Row = { month: string; kind: string; model: string; usd: number; calls: number; promptTokens: number }

/**
 * The Costs page's "by learner" table, per month: what the exemplar learner cost (set builds'
 * embeddings, plus its demonstrations' prompt tokens priced at the serving model — already inside
 * the replies' chat cost, split out here) and what fine-tuning cost, each also per reply.
 */
export function learnerTable(
  rows: Row[],
  promptUsd?: (model: string, promptTokens: number) => number,
): SafeHtml {
  const months = [...new Set(rows.map((r) => r.month))]
  const per = (x: number, n: number) => (n > 0 ? fmtUsd(x / n) : '—')
  return html`<h2>By learner</h2>
    <div class="table-wrap"><table data-testid="spend-by-learner"><thead><tr><th scope="col">month</th><th scope="col">replies</th><th scope="col">exemplars: demonstrations</th><th scope="col">exemplars: set builds</th><th scope="col">fine-tune: jobs</th></tr></thead>
    <tbody>${months.map((m) => {
      const ms = rows.filter((r) => r.month === m)
      const sum = (kind: string, f: (r: Row) => number) =>
        ms.filter((r) => r.kind === kind).reduce((a, r) => a + f(r), 0)
      const replies = sum('replies', (r) => r.calls)
      const demos = sum('demonstrations', (r) => promptUsd?.(r.model, r.promptTokens) ?? 0)
      const demoReplies = sum('demonstrations', (r) => r.calls)
      const builds = sum('set-build', (r) => r.usd)
      const ft = sum('fine-tune', (r) => r.usd)
      return html`<tr><th scope="row">${m}</th><td>${replies}</td>
        <td>${fmtUsd(demos)} <span class="muted">(${demoReplies} replies, ${per(demos, demoReplies)} each)</span></td>
        <td>${fmtUsd(builds)} <span class="muted">(${per(builds, replies)} per reply)</span></td>
        <td>${fmtUsd(ft)} <span class="muted">(${per(ft, replies)} per reply)</span></td></tr>`
    })}</tbody></table></div>
    <p class="note">Demonstration tokens are part of each reply's chat cost above; this splits them out.</p>`
}
