import type { CanaryLogEntry, PromotionLogEntry } from '@loopdm/models/promotion-log'
import { fmtDate, fmtNum, html, type SafeHtml } from '../html.js'

/**
 * The Promotions page's timeline (issue 19): promotions and canary starts, checks and decisions
 * interleaved by time, newest first, each canary event with its numbers (replies and bad rate per
 * arm, the test statistic).
 */
export function timeline(entries: PromotionLogEntry[]): SafeHtml {
  if (!entries.length) return html`<p class="muted">Nothing promoted yet.</p>`
  return html`<ol class="timeline">${entries.map((e) => (e.kind === 'promotion' ? promotionItem(e) : canaryItem(e)))}</ol>`
}

function promotionItem(p: Extract<PromotionLogEntry, { kind: 'promotion' }>): SafeHtml {
  return html`<li data-testid="promotion-row"><strong>${p.toModel}</strong> (v${p.id})${p.fromModel ? html` from ${p.fromModel}` : ''}
    <br><span class="muted">${fmtDate(p.createdAt)} · by ${p.actor}</span><br>${p.reason}
    ${p.metrics ? html`<br><span class="muted">${metricsLine(p.metrics)}</span>` : ''}</li>`
}

function canaryItem(e: CanaryLogEntry): SafeHtml {
  const arm = (a: 'control' | 'canary') => {
    const s = e.arms?.[a]
    return s ? html`${a} ${s.replies} replies, bad ${fmtNum(s.badRate * 100, 1)}%` : ''
  }
  const t = e.statistic
  const numbers = e.arms
    ? html`<br><span class="muted" data-testid="canary-numbers">${arm('control')} · ${arm('canary')}${
        t
          ? html` · difference ${fmtNum(t.difference * 100, 1)} pts [${fmtNum(t.lower * 100, 1)}, ${fmtNum(t.upper * 100, 1)}] · z ${fmtNum(t.z, 2)} · logLR ${fmtNum(t.logLR, 2)}`
          : html` · no statistic before minReplies`
      }</span>`
    : ''
  return html`<li data-testid="canary-event" data-kind="${e.kind}"><strong>${e.kind}</strong> ${e.model} (canary ${e.runId}) vs ${e.controlModel ?? 'the base model'}
    <br><span class="muted">${fmtDate(e.createdAt)} · by ${e.actor}</span><br>${e.reason}${numbers}</li>`
}

function metricsLine(m: Record<string, unknown>): string {
  return Object.entries(m)
    .filter(([, v]) => typeof v === 'number' || typeof v === 'string')
    .map(([k, v]) => `${k} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : v}`)
    .join(' · ')
}
