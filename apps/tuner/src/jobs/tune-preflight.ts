import { createHash } from 'node:crypto'
import { trainingPricePer1k } from '@loopdm/models/prices'
import { FineTuneRefusedError } from '../errors.js'
import type { TunerDeps } from './deps.js'

/** Unknown base at a hosted provider: price it like the old flat default rather than as free. */
export const UNKNOWN_TRAINING_PRICE_PER_1K = 0.008

/** A provider error that retrying will not fix (a 4xx other than 408/409/429, quota, no access). */
export function isPermanentProviderError(err: unknown, deps: Pick<TunerDeps, 'provider'>): boolean {
  return deps.provider.classify(err) !== 'transient'
}

/** USD per 1K trained tokens for this deployment's provider and base (FT_PRICE_PER_1K_TOKENS overrides). */
export function trainingPrice(deps: Pick<TunerDeps, 'config' | 'provider'>): number {
  const { config } = deps
  return (
    trainingPricePer1k(deps.provider.name, config.models.ftBase, config.finetune.pricePer1kTokens) ??
    UNKNOWN_TRAINING_PRICE_PER_1K
  )
}

/**
 * What a refusal is tied to: provider, base and the provider key (hashed). A 403
 * training_not_available is not retried until one of them changes.
 */
export function configKeyOf(deps: Pick<TunerDeps, 'config' | 'provider'>): string {
  const { config } = deps
  const key =
    deps.provider.name === 'together'
      ? config.finetune.together.apiKey
      : deps.provider.name === 'vllm'
        ? config.finetune.vllm.baseURL
        : `${config.openai.apiKey ?? ''}@${config.openai.baseURL ?? ''}`
  const h = createHash('sha256')
    .update(key ?? '')
    .digest('hex')
    .slice(0, 12)
  return `${deps.provider.name}:${config.models.ftBase}:${h}`
}

/** Step 2: refusals that need no upload — data, provider (shutdown/cutoff), an earlier 403. */
export async function preflightRefusal(now: Date, deps: TunerDeps): Promise<FineTuneRefusedError | null> {
  const { config, provider, finetunes } = deps
  const shut = provider.refusal(config.models.ftBase, now)
  if (shut) return new FineTuneRefusedError(shut, 'shutdown')
  const rejected = await finetunes.findRejection(configKeyOf(deps))
  if (rejected)
    return new FineTuneRefusedError(
      `not retried: ${provider.name} refused fine-tuning for this configuration on ${rejected.updatedAt.toISOString().slice(0, 10)} (${rejected.error}); change FT_PROVIDER, FT_BASE_MODEL or the provider key to try again`,
      'rejected_before',
    )
  return null
}
