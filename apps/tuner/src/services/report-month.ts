import type { Pool } from '@loopdm/db/pool'
import { createCostLedger, FINE_TUNE_OPERATION } from '@loopdm/models/cost-ledger'
import { createRegistryRepository } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import { createFinetuneJobsRepository } from '../repositories/finetune-jobs.repository.js'
import { table } from './report-sections.js'
import type { RetirementResult } from './retirement.service.js'

const usd = (n: number) => `$${n.toFixed(4)}`

/** The month's data: spend from the ledger, fine-tunes, promotions, retirements and the registry now. */
export async function gatherMonth(pool: Pool, config: Config, from: Date, to: Date) {
  const ledger = createCostLedger({ db: pool, prices: config.openai.prices })
  const registry = createRegistryRepository(pool)
  const finetunes = createFinetuneJobsRepository(pool)

  const { rows: spend, totalUsd } = await ledger.summary({ from, to })
  const fineTuneUsd = spend
    .filter((r) => r.operation === FINE_TUNE_OPERATION)
    .reduce((s, r) => s + r.costUsd, 0)
  const jobs = await finetunes.listBetween(from, to)
  const promos = (
    await pool.query<{
      from_model: string | null
      to_model: string
      actor: string
      reason: string
      created_at: Date
    }>(
      `select from_model, to_model, actor, reason, created_at from model_promotions
        where created_at >= $1 and created_at < $2 order by id`,
      [from, to],
    )
  ).rows
  const retired = (
    await pool.query<{ model: string; reason: string | null; retired_at: Date }>(
      `select model, reason, retired_at from models where retired_at >= $1 and retired_at < $2 order by retired_at`,
      [from, to],
    )
  ).rows
  const active = await registry.findActive()
  const previous = await registry.findPrevious()
  const pending = await registry.listByStatus(['candidate', 'approved_pending'])
  return { spend, totalUsd, fineTuneUsd, jobs, promos, retired, active, previous, pending }
}

export type MonthData = Awaited<ReturnType<typeof gatherMonth>>

/** The report's head and cost analysis (by operation and model, fine-tune budget use). */
export function costSection(
  d: MonthData,
  q: { month: string; now: Date; from: Date; to: Date; budget: number | undefined },
): string[] {
  const { spend, totalUsd, fineTuneUsd } = d
  const { month, now, from, to, budget } = q
  return [
    `# Loop DM monthly report — ${month}`,
    '',
    `Generated ${now.toISOString()} for ${from.toISOString().slice(0, 10)} … ${to.toISOString().slice(0, 10)} (UTC).`,
    '',
    '## Cost analysis',
    '',
    `Total spend: **${usd(totalUsd)}**; fine-tuning: **${usd(fineTuneUsd)}**${
      budget !== undefined
        ? ` of the ${usd(budget)} monthly fine-tuning budget (${budget > 0 ? Math.round((fineTuneUsd / budget) * 100) : 0}%)`
        : ' (no FT_BUDGET_USD_MONTHLY set)'
    }.`,
    '',
    ...table(
      ['operation', 'purpose', 'model', 'calls', 'tokens', 'USD'],
      spend.map((r) => [
        r.operation,
        r.purpose ?? '',
        r.model,
        r.calls,
        r.promptTokens + r.completionTokens + r.trainedTokens,
        usd(r.costUsd),
      ]),
    ),
    '',
  ]
}

/** The month's fine-tunes, counted by status. */
export function finetuneSection(d: MonthData): string[] {
  const { jobs } = d
  return [
    '## Fine-tuning',
    '',
    `${jobs.length} fine-tune(s): ${
      Object.entries(
        jobs.reduce<Record<string, number>>((a, j) => {
          a[j.status] = (a[j.status] ?? 0) + 1
          return a
        }, {}),
      )
        .map(([s, n]) => `${n} ${s}`)
        .join(', ') || 'none'
    }.`,
    '',
    ...table(
      ['created', 'provider job', 'status', 'examples', 'tokens', 'estimate', 'billed', 'model', 'error'],
      jobs.map((j) => [
        j.createdAt,
        j.providerJobId,
        j.status,
        j.examples,
        j.tokens,
        usd(j.estimatedCostUsd),
        j.actualCostUsd === null ? '' : usd(j.actualCostUsd),
        j.fineTunedModel,
        j.error,
      ]),
    ),
    '',
  ]
}

/** The active model, the rollback target, pending candidates, promotions and retirements. */
export function modelsSection(d: MonthData): string[] {
  const { active, previous, pending, promos, retired } = d
  return [
    '## Models',
    '',
    `Active: ${active ? `\`${active.model}\` (version ${active.version}, since ${active.since.toISOString()})` : 'none (base model answers)'}; rollback target: ${previous ? `\`${previous}\`` : 'none'}.`,
    `Awaiting evaluation or approval: ${pending.length ? pending.map((p) => `\`${p.model}\` (${p.status})`).join(', ') : 'none'}.`,
    '',
    `### Promotions (${promos.length})`,
    '',
    ...table(
      ['at', 'from', 'to', 'by', 'why'],
      promos.map((p) => [p.created_at, p.from_model, p.to_model, p.actor, p.reason]),
    ),
    '',
    `### Retired (${retired.length})`,
    '',
    ...table(
      ['at', 'model', 'reason'],
      retired.map((r) => [r.retired_at, r.model, r.reason]),
    ),
    '',
  ]
}

/** This run's retirement: what was deleted, marked retired or kept. */
export function thisRunSection(r: RetirementResult): string[] {
  return [
    '## This run',
    '',
    `Deleted at the provider: ${r.deleted.length ? r.deleted.map((m) => `\`${m}\``).join(', ') : 'none'}.`,
    `Marked retired (already gone at the provider): ${r.retired.length ? r.retired.map((m) => `\`${m}\``).join(', ') : 'none'}.`,
    ...(r.wouldDelete
      ? [`Dry run — would delete: ${r.wouldDelete.map((m) => `\`${m}\``).join(', ') || 'none'}.`]
      : []),
    '',
    ...table(
      ['kept', 'why'],
      r.kept.map((k) => [k.model, k.reason]),
    ),
    '',
  ]
}
