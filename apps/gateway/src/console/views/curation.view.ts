import {
  type CurationReportView,
  humanShare,
  readCurationReport,
} from '@loopdm/training-data/curation-report'
import type { ExportRunView } from '../console.repository.js'
import { html, type SafeHtml } from '../html.js'

/** The curation report of a run: the one beside its first file that has one (the day's file). */
export function reportOf(run: Pick<ExportRunView, 'files'>): CurationReportView | undefined {
  for (const f of run.files) {
    const r = f.path ? readCurationReport(f.path) : undefined
    if (r) return r
  }
  return undefined
}

const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(x * 100).toFixed(1)}%`)

/** Sources, the human share and exclusions by reason, for the exports table. */
export function curationCell(r: CurationReportView | undefined): SafeHtml | string {
  if (!r) return '—'
  const sources = ['human', 'import', 'bot'].map((s) => `${s} ${r.included[s] ?? 0}`).join(', ')
  const excluded = Object.entries(r.excluded).filter(([, n]) => n > 0)
  return html`${sources}<br><strong>human share ${pct(humanShare(r))}</strong>${
    r.preferred ? html`<br>preferred ${r.preferred}` : ''
  }<br><span class="muted">excluded: ${excluded.length ? excluded.map(([k, n]) => `${k} ${n}`).join(', ') : 'none'}</span>`
}

/** The newest report's most repeated answers (the generic lines curation keeps out). */
export function topRepeatedSection(runs: Array<Pick<ExportRunView, 'files' | 'runDate'>>): SafeHtml | string {
  for (const run of runs) {
    const r = reportOf(run)
    if (!r) continue
    return html`<h2>Most repeated answers (${run.runDate})</h2>${
      r.topRepeated.length
        ? html`<ol data-testid="top-repeated">${r.topRepeated.slice(0, 10).map((t) => html`<li>${t.text} <span class="muted">× ${t.n}</span></li>`)}</ol>`
        : html`<p class="muted">No answer was repeated.</p>`
    }`
  }
  return html`<p class="muted">No curation report yet (the exporter writes one beside each day's file).</p>`
}
