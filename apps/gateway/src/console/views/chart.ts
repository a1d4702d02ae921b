import { html, type SafeHtml } from '../html.js'

/** Colours with ≥ 3:1 contrast against white, cycled per model. */
const COLOURS = ['#0b57d0', '#b3261e', '#146c2e', '#7d5260', '#8a5300', '#006a6a', '#5b3fb5', '#444746']

/**
 * Replies per model per day as stacked bars in an inline SVG (no chart library), with a legend
 * and the same numbers as a table for screen readers.
 */
export function repliesChart(
  rows: Array<{ day: string; model: string; n: number }>,
  days: string[],
): SafeHtml {
  const models = [...new Set(rows.map((r) => r.model))].sort()
  const colour = (m: string) => COLOURS[models.indexOf(m) % COLOURS.length] as string
  const byDay = new Map(days.map((d) => [d, new Map<string, number>()]))
  for (const r of rows) byDay.get(r.day)?.set(r.model, r.n)
  const totals = days.map((d) => [...(byDay.get(d)?.values() ?? [])].reduce((a, b) => a + b, 0))
  const max = Math.max(1, ...totals)
  const W = 700
  const H = 180
  const pad = 24
  const bw = (W - pad) / days.length
  const bars = days.map((d, i) => {
    let y = H - pad
    const segs = models.map((m) => {
      const n = byDay.get(d)?.get(m) ?? 0
      if (!n) return ''
      const h = ((H - 2 * pad) * n) / max
      y -= h
      return html`<rect x="${(pad + i * bw + 2).toFixed(1)}" y="${y.toFixed(1)}" width="${(bw - 4).toFixed(1)}" height="${h.toFixed(1)}" fill="${colour(m)}"><title>${d} ${m}: ${n}</title></rect>`
    })
    const label =
      i % 2 === 0
        ? html`<text x="${(pad + i * bw + bw / 2).toFixed(1)}" y="${H - 6}" font-size="10" text-anchor="middle" fill="#333">${d.slice(5)}</text>`
        : ''
    return html`${segs}${label}`
  })
  const sum = totals.reduce((a, b) => a + b, 0)
  return html`<figure class="chart">
    <svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Replies per model per day, last ${days.length} days: ${sum} in total">
      <line x1="${pad}" y1="${H - pad}" x2="${W}" y2="${H - pad}" stroke="#555"/>
      <text x="2" y="${pad}" font-size="10" fill="#333">${max}</text>
      ${bars}
    </svg>
    <figcaption><ul class="legend">${
      models.length
        ? models.map(
            (m) =>
              html`<li><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" fill="${colour(m)}"/></svg>${m}</li>`,
          )
        : html`<li class="muted">no replies in this period</li>`
    }</ul></figcaption>
    <details><summary>Numbers</summary><div class="table-wrap"><table>
      <thead><tr><th scope="col">day</th>${models.map((m) => html`<th scope="col">${m}</th>`)}</tr></thead>
      <tbody>${days.map((d) => html`<tr><th scope="row">${d}</th>${models.map((m) => html`<td>${byDay.get(d)?.get(m) ?? 0}</td>`)}</tr>`)}</tbody>
    </table></div></details>
  </figure>`
}

/** The last `n` UTC days as YYYY-MM-DD, oldest first, ending today. */
export function lastDays(n: number, now = new Date()): string[] {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())
  return Array.from({ length: n }, (_, i) =>
    new Date(today - (n - 1 - i) * 86_400_000).toISOString().slice(0, 10),
  )
}
