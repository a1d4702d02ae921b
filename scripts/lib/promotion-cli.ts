import { openDatabase } from '@loopdm/db/open-database'
import type { PromotionDeps, PromotionResult } from '@loopdm/models/promotion'
import type { Config } from '@loopdm/platform/config'
import { loadConfigOrExit } from '@loopdm/platform/config'
import { createOpenAISdk } from '@loopdm/platform/openai'
import { assertRedis, createRedis } from '@loopdm/redis/client'
import { cliLogger, say } from './cli.js'

/**
 * Shared setup of `npm run promote` / `npm run rollback`: the database (the running stack's, or
 * the embedded one started here), a publishing Redis connection and the provider SDK.
 */
export async function withPromotionDeps(
  fn: (deps: PromotionDeps, config: Config) => Promise<void>,
): Promise<void> {
  const config = loadConfigOrExit()
  const logger = cliLogger(config, 'promote')
  try {
    await assertRedis(config.redis.url)
  } catch (err) {
    say(`✗ ${(err as Error).message}`)
    process.exit(1)
  }
  const db = await openDatabase(config, { logger, migrate: true, max: 2 })
  const redis = createRedis({ url: config.redis.url, role: 'producer', logger })
  try {
    await fn({ db: db.pool, redis, sdk: createOpenAISdk({ config, logger }), config, logger }, config)
  } catch (err) {
    say(`✗ ${(err as Error).message}`)
    process.exitCode = 1
  } finally {
    redis.disconnect()
    await db.close()
  }
}

export function describePromotion(r: PromotionResult): string {
  const policy = r.policy
    ? ` — policy ${r.policy.id}, learner ${r.policy.learner}, serving ${r.policy.servingModel}`
    : ''
  if (!r.changed)
    return `• ${r.model} is already the active model (version ${r.version}${policy}); nothing changed`
  return [
    `✓ ${r.model} is now active (version ${r.version}, was ${r.from ?? 'none'}${policy})`,
    r.published
      ? '  published on the hot-swap channel: every gateway switches without a restart'
      : '  publish failed: gateways converge on their reconcile interval (MODEL_RECONCILE_INTERVAL_MS)',
  ].join('\n')
}
