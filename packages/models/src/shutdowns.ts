import type { Config } from '@loopdm/platform/config'
import { fineTunedBase } from './prices.js'

/**
 * What OpenAI has announced will stop working, so the tuner can refuse before it uploads customer
 * data and `npm start` / `GET /admin/models` can warn a month ahead.
 *
 * Sources: OpenAI's deprecations page (platform.openai.com/docs/deprecations) — the shutdown dates
 * of models Loop DM has trained on, and the end of self-serve fine-tuning (no new jobs from
 * 2027-01-06; already closed to new and inactive organisations).
 */
export const OPENAI_FINE_TUNING_CUTOFF = '2027-01-06'

/** Model (exact id, or a prefix of snapshot ids) → its shutdown date (YYYY-MM-DD, UTC). */
export const KNOWN_SHUTDOWNS: Readonly<Record<string, string>> = Object.freeze({
  'gpt-3.5-turbo-0613': '2024-09-13',
  'gpt-3.5-turbo-16k-0613': '2024-09-13',
  'gpt-3.5-turbo-0125': '2026-10-23',
})

/** Days ahead of a shutdown that warnings start. */
export const SHUTDOWN_WARNING_DAYS = 30
const DAY_MS = 24 * 3600_000
/** The other ways to keep learning, named in every refusal and warning. */
export const OTHER_PROVIDERS_HINT =
  'set FT_PROVIDER=together (hosted LoRA) or FT_PROVIDER=vllm (self-hosted), or LEARNING_BACKEND=exemplars'

const atUtc = (day: string) => new Date(`${day}T00:00:00Z`)

/** The shutdown date of `model` (or of an `ft:` model's base), or undefined when none is known. */
export function shutdownDateOf(model: string): string | undefined {
  const id = fineTunedBase(model) ?? model
  return KNOWN_SHUTDOWNS[id]
}

/**
 * Why OpenAI cannot fine-tune `baseModel` at `now`, or null: a base past its shutdown date, or any
 * base on or after the self-serve cutoff. The tuner calls it before uploading anything.
 */
export function openAiFineTuneRefusal(baseModel: string, now: Date): string | null {
  const shutdown = shutdownDateOf(baseModel)
  if (shutdown && now.getTime() >= atUtc(shutdown).getTime())
    return `OpenAI shut down ${baseModel} on ${shutdown}: it can no longer be fine-tuned (FT_BASE_MODEL); ${OTHER_PROVIDERS_HINT}`
  if (now.getTime() >= atUtc(OPENAI_FINE_TUNING_CUTOFF).getTime())
    return `OpenAI accepts no new fine-tuning jobs since ${OPENAI_FINE_TUNING_CUTOFF}; ${OTHER_PROVIDERS_HINT}`
  return null
}

export interface ShutdownWarning {
  /** `cutoff`: new OpenAI jobs end; `base`: FT_BASE_MODEL shuts down; `active`: the live model's base does. */
  kind: 'cutoff' | 'base' | 'active'
  /** YYYY-MM-DD. */
  date: string
  /** Whole days from `now` to `date` (≤ 0 once it passed). */
  daysLeft: number
  message: string
}

const daysUntil = (day: string, now: Date) => Math.ceil((atUtc(day).getTime() - now.getTime()) / DAY_MS)

/**
 * Warnings for `npm start` and `GET /admin/models`, from 30 days ahead: the OpenAI fine-tuning
 * cutoff (when FT_PROVIDER=openai), FT_BASE_MODEL's shutdown, and the shutdown of the base of the
 * active fine-tuned model (its policy stops answering that day; the router falls back to
 * BASE_MODEL). `activeModel` is the served model id (null when nothing is promoted).
 */
export function shutdownWarnings(
  config: Pick<Config, 'models'> & { finetune: Pick<Config['finetune'], 'provider'> },
  activeModel: string | null | undefined,
  now: Date = new Date(),
): ShutdownWarning[] {
  const out: ShutdownWarning[] = []
  const soon = (day: string) => daysUntil(day, now) <= SHUTDOWN_WARNING_DAYS
  if (config.finetune.provider === 'openai') {
    const cutoff = OPENAI_FINE_TUNING_CUTOFF
    if (soon(cutoff)) {
      const d = daysUntil(cutoff, now)
      out.push({
        kind: 'cutoff',
        date: cutoff,
        daysLeft: d,
        message: `${d > 0 ? `in ${d} day(s)` : 'since'} ${cutoff} OpenAI accepts no new fine-tuning jobs (FT_PROVIDER=openai); ${OTHER_PROVIDERS_HINT}`,
      })
    }
    const base = config.models.ftBase
    const baseDay = shutdownDateOf(base)
    if (baseDay && soon(baseDay))
      out.push({
        kind: 'base',
        date: baseDay,
        daysLeft: daysUntil(baseDay, now),
        message: `FT_BASE_MODEL ${base} shuts down at OpenAI on ${baseDay}: choose gpt-4.1-mini-2025-04-14 or gpt-4.1-2025-04-14, or ${OTHER_PROVIDERS_HINT}`,
      })
  }
  const activeDay = activeModel ? shutdownDateOf(activeModel) : undefined
  if (activeModel && activeDay && soon(activeDay))
    out.push({
      kind: 'active',
      date: activeDay,
      daysLeft: daysUntil(activeDay, now),
      message: `the active model ${activeModel} is built on ${fineTunedBase(activeModel) ?? activeModel}, which OpenAI shuts down on ${activeDay}: its policy stops answering then (replies fall back to BASE_MODEL); train a replacement now`,
    })
  return out
}
