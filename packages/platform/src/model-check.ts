import type { Config } from './config.js'
import { ConfigError } from './errors.js'
import type { Logger } from './logger.js'
import type { OpenAI } from './openai.js'

/**
 * The start-up check of every configured model against the provider's `models.list`: a model the
 * provider does not offer (retired, misspelt, not on this account) is named with its variable,
 * before the first DM finds out with a 404. Missing models are warnings — the process still
 * starts and the router falls back where it can — except LEARNING_BACKEND=fine-tune's
 * FT_BASE_MODEL, which makes the tuner refuse to start (every job it would create would fail).
 * A provider that cannot list models (network, permissions) is a warning, never a start failure.
 */
export interface ModelCheckResult {
  /** False when models.list itself failed (nothing was checked). */
  listed: boolean
  checked: Array<{ variable: string; model: string; present: boolean }>
  missing: Array<{ variable: string; model: string }>
}

/** The variables to check per app role: `fineTuneBaseRequired` for the tuner. */
export function configuredModels(config: Config): Array<{ variable: string; model: string }> {
  const out = [
    { variable: 'BASE_MODEL', model: config.models.base },
    { variable: 'VISION_MODEL', model: config.models.vision },
    { variable: 'EMBEDDING_MODEL', model: config.openai.embeddingModel },
  ]
  // Only OpenAI's bases are in OpenAI's models.list: Together and vLLM bases are checked by their
  // provider (a Together job on an unknown base answers 400; vLLM serves its own base).
  if (config.learning.backend === 'fine-tune' && config.finetune.provider === 'openai')
    out.push({ variable: 'FT_BASE_MODEL', model: config.models.ftBase })
  if (config.eval.judgeModel) out.push({ variable: 'EVAL_JUDGE_MODEL', model: config.eval.judgeModel })
  return out
}

export async function checkConfiguredModels(opts: {
  sdk: Pick<OpenAI, 'models'>
  config: Config
  logger: Logger
  /** Throw a ConfigError when LEARNING_BACKEND=fine-tune's FT_BASE_MODEL is missing (the tuner). */
  requireFineTuneBase?: boolean
}): Promise<ModelCheckResult> {
  const wanted = configuredModels(opts.config)
  const ids = new Set<string>()
  try {
    for await (const m of opts.sdk.models.list()) ids.add(m.id)
  } catch (err) {
    opts.logger.warn(
      { err: (err as Error).message },
      'could not list the provider’s models (models.list); configured models were not checked',
    )
    return { listed: false, checked: [], missing: [] }
  }
  const checked = wanted.map((w) => ({ ...w, present: ids.has(w.model) }))
  const missing = checked.filter((c) => !c.present).map(({ variable, model }) => ({ variable, model }))
  for (const m of missing)
    opts.logger.warn(
      { variable: m.variable, model: m.model },
      `${m.variable}=${m.model} is not offered by the provider (models.list): calls to it will fail — set ${m.variable} to a listed model (e.g. gpt-4.1-mini)`,
    )
  const ftBase = missing.find((m) => m.variable === 'FT_BASE_MODEL')
  if (ftBase && opts.requireFineTuneBase)
    throw new ConfigError([
      `FT_BASE_MODEL: ${ftBase.model} is not offered by the provider (models.list), so LEARNING_BACKEND=fine-tune cannot create jobs; set FT_BASE_MODEL to a fine-tunable model (e.g. gpt-4.1-mini-2025-04-14) or use LEARNING_BACKEND=exemplars`,
    ])
  return { listed: true, checked, missing }
}
