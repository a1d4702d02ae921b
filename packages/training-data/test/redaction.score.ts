import { type PiiType, redactPII } from '@loopdm/training-data/redaction'
import type { RedactionCase } from './redaction.corpus.js'

export interface RedactionScore {
  cases: number
  tp: number
  fp: number
  fn: number
  recall: number
  precision: number
  failures: Array<{ text: string; got: string }>
}

/**
 * Entity-level score. Per case and type, min(expected, replaced) are true positives; replacements
 * beyond the label are false positives, and so is every `keep` string that did not survive; a
 * labelled value still present in the output counts as missed even if the counts agree.
 */
export function scoreRedaction(corpus: RedactionCase[], redact = redactPII): RedactionScore {
  let tp = 0
  let fp = 0
  let fn = 0
  const failures: RedactionScore['failures'] = []
  for (const c of corpus) {
    const r = redact(c.text)
    const expected: Partial<Record<PiiType, number>> = {}
    for (const [t] of c.pii) expected[t] = (expected[t] ?? 0) + 1
    let bad = false
    const types = new Set([...Object.keys(expected), ...Object.keys(r.counts)]) as Set<PiiType>
    for (const t of types) {
      const e = expected[t] ?? 0
      const a = r.counts[t] ?? 0
      let hit = Math.min(e, a)
      const leaked = c.pii.filter(([pt, v]) => pt === t && r.text.includes(v)).length
      hit = Math.max(0, Math.min(hit, e - leaked))
      tp += hit
      fn += e - hit
      fp += Math.max(0, a - e)
      if (hit !== e || a !== e) bad = true
    }
    for (const k of c.keep ?? []) {
      if (!r.text.includes(k)) {
        fp++
        bad = true
      }
    }
    if (bad) failures.push({ text: c.text, got: r.text })
  }
  return {
    cases: corpus.length,
    tp,
    fp,
    fn,
    recall: tp / Math.max(1, tp + fn),
    precision: tp / Math.max(1, tp + fp),
    failures,
  }
}
