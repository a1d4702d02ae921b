import type { GateDecision, ModelSummary } from './scoring.js'

/** The summary table: model, role, score, Δ vs current, and each gate's figure with pass/fail. */
export function formatSummaryTable(args: {
  rows: Array<{ role: string; summary: ModelSummary }>
  current: ModelSummary
  decision: GateDecision
  outcome: string
  holdout?: Array<{ role: string; summary: ModelSummary }>
}): string {
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`
  const mark = (ok: boolean) => (ok ? 'pass' : 'FAIL')
  const header = ['model', 'role', 'score', 'Δ vs current', 'similarity', 'facts', 'length', 'pii', 'judge']
  const lines: string[][] = [header]
  for (const { role, summary: s } of args.rows) {
    const d = s.mean - args.current.mean
    const vs = (ok: boolean) => (role === 'current' ? '' : ` ${mark(ok)}`)
    lines.push([
      s.model,
      role,
      s.mean.toFixed(3),
      role === 'current' ? '—' : `${d >= 0 ? '+' : ''}${d.toFixed(3)}`,
      s.similarity.toFixed(3),
      pct(s.factRecall) + vs(s.factRecall >= args.current.factRecall - 0.02),
      pct(s.lengthOk) + vs(s.lengthOk >= args.current.lengthOk),
      pct(s.piiOk) + vs(s.piiOk >= args.current.piiOk),
      s.judge === null ? '–' : s.judge.toFixed(3),
    ])
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)))
  const render = (l: string[]) =>
    l
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  const out = [
    render(lines[0] as string[]),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...lines.slice(1).map(render),
  ]
  if (args.holdout?.length) {
    out.push(
      `holdout (${args.holdout[0]?.summary.n ?? 0} recent exported exchanges the candidate never trained on): ` +
        args.holdout.map((h) => `${h.role} ${h.summary.mean.toFixed(3)}`).join(', '),
    )
  }
  out.push(`gates: ${args.decision.gates.map((g) => `${g.gate} ${mark(g.pass)}`).join(', ')}`)
  out.push(`decision: ${args.outcome} — ${args.decision.reason}`)
  return out.join('\n')
}
