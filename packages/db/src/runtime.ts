import { type Config, loadConfigOrExit } from '@loopdm/platform/config'
import { createLogger, type Logger } from '@loopdm/platform/logger'
import { assertRedis } from '@loopdm/redis/client'
import { type Database, openDatabase } from './open-database.js'

export interface Runtime {
  config: Config
  logger: Logger
  db: Database
}

/**
 * The common first steps of every composition root: config → logger → Redis check → database
 * (migrated; idempotent). Any failure is printed as one clear line and exits 1.
 */
export async function startRuntime(
  name: string,
  opts: {
    env?: Record<string, string | undefined>
    migrate?: boolean
    dbMax?: number
    needsRedis?: boolean
  } = {},
): Promise<Runtime> {
  const config = loadConfigOrExit(opts.env)
  const logger = createLogger({
    level: config.log.level,
    file: config.log.file,
    rotate: config.log.rotate,
    name,
  })
  if (!config.privacy.pseudonymSecret)
    logger.warn(
      'PSEUDONYM_SECRET is unset (and no .data/pseudonym.secret): pseudonymous user keys are the legacy unsalted hash; set it (npm start generates one)',
    )
  try {
    if (opts.needsRedis !== false) await assertRedis(config.redis.url)
    const db = await openDatabase(config, {
      logger,
      migrate: opts.migrate ?? true,
      max: opts.dbMax,
      applicationName: `loopdm-${name}`,
    })
    return { config, logger, db }
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, `${name} could not start`)
    process.stderr.write(`${name}: ${(err as Error).message}\n`)
    logger.flush?.()
    process.exit(1)
  }
}
