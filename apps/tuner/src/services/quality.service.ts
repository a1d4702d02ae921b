import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import { createQualityRepository, type ModelQualityRow } from '../repositories/quality.repository.js'

/**
 * Quality signals from production for the monthly report (`writeMonthlyReport` in report.service.ts):
 * reactions per model, conversation completion rate, fallbacks per model.
 */
export interface QualityReport {
  from: Date
  to: Date
  models: Array<ModelQualityRow & { completionRate: number | null; fallbackRate: number | null }>
  overall: { replies: number; conversations: number; completed: number; completionRate: number | null }
}

export function createQualityService(deps: { db: Pool; config: Config }) {
  const repo = createQualityRepository(deps.db)
  return {
    async report(period: { from: Date; to: Date }): Promise<QualityReport> {
      const rows = await repo.perModel({
        ...period,
        baseModel: deps.config.models.base,
        visionModel: deps.config.models.vision,
      })
      const ratio = (a: number, b: number) => (b === 0 ? null : a / b)
      const conversations = rows.reduce((s, r) => s + r.conversations, 0)
      const completed = rows.reduce((s, r) => s + r.completed, 0)
      return {
        ...period,
        models: rows.map((r) => ({
          ...r,
          completionRate: ratio(r.completed, r.conversations),
          fallbackRate: ratio(r.fallbacks, r.replies),
        })),
        overall: {
          replies: rows.reduce((s, r) => s + r.replies, 0),
          conversations,
          completed,
          completionRate: ratio(completed, conversations),
        },
      }
    },
  }
}

/** A Markdown section for `reports/YYYY-MM.md`. */
export function formatQualityMarkdown(r: QualityReport): string {
  const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)}%`)
  const lines = [
    '## Quality signals from production',
    '',
    `Period ${r.from.toISOString().slice(0, 10)} – ${r.to.toISOString().slice(0, 10)}: ${r.overall.replies} replies, ` +
      `${r.overall.conversations} conversations, completion rate ${pct(r.overall.completionRate)} (user's last turn answered).`,
    '',
    '| model | replies | reactions | unreactions | fallbacks | conversations | completion |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...r.models.map(
      (m) =>
        `| ${m.model} | ${m.replies} | ${m.reactions} | ${m.unreactions} | ${m.fallbacks} (${pct(m.fallbackRate)}) | ${m.conversations} | ${pct(m.completionRate)} |`,
    ),
  ]
  return lines.join('\n')
}
