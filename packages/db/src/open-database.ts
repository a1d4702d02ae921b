import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import {
  type EmbeddedPostgres,
  embeddedOwner,
  embeddedUrl,
  portAnswers,
  readEmbeddedPassword,
  startEmbeddedPostgres,
} from './embedded.js'
import { runMigrations } from './migrate.js'
import { createPool, type Pool, refreshVectorType } from './pool.js'

export interface Database {
  pool: Pool
  url: string
  /** Set when this process started the embedded server and must stop it. */
  embedded: EmbeddedPostgres | undefined
  close(): Promise<void>
}

/**
 * Where this process's Postgres is: `DATABASE_URL`; else the embedded server another process of
 * this stack already runs (owner file or port); else an embedded server this process starts.
 */
export async function resolveDatabaseUrl(
  config: Config,
  logger?: Logger,
): Promise<{ url: string; embedded: EmbeddedPostgres | undefined }> {
  if (config.db.url) return { url: config.db.url, embedded: undefined }
  const owner = embeddedOwner(config.db.embedded.dataDir)
  if (owner) return { url: owner.url, embedded: undefined }
  if (config.db.embedded.port !== 0 && (await portAnswers(config.db.embedded.port))) {
    const password = readEmbeddedPassword(config.db.embedded.dataDir)
    return { url: embeddedUrl(config.db.embedded.port, undefined, password), embedded: undefined }
  }
  logger?.info({ dataDir: config.db.embedded.dataDir }, 'starting embedded Postgres (PGlite + pgvector)')
  const embedded = await startEmbeddedPostgres({
    dataDir: config.db.embedded.dataDir,
    port: config.db.embedded.port,
    sharedBuffersBytes: config.db.embedded.sharedBuffersBytes,
  })
  logger?.info({ url: embedded.url }, 'embedded Postgres listening')
  return { url: embedded.url, embedded }
}

/** Resolves the database, optionally migrates it, and opens a pool. */
export async function openDatabase(
  config: Config,
  opts: { logger?: Logger; migrate?: boolean; max?: number; applicationName?: string } = {},
): Promise<Database> {
  const { url, embedded } = await resolveDatabaseUrl(config, opts.logger)
  const pool = createPool({
    connectionString: url,
    max: opts.max ?? 10,
    applicationName: opts.applicationName,
  })
  try {
    if (opts.migrate) await runMigrations(pool, { logger: opts.logger })
    await refreshVectorType(pool)
  } catch (err) {
    await pool.end().catch(() => {})
    await embedded?.close()
    throw err
  }
  let closing: Promise<void> | undefined
  return {
    pool,
    url,
    embedded,
    close() {
      closing ??= (async () => {
        await pool.end().catch(() => {})
        await embedded?.close().catch(() => {})
      })()
      return closing
    },
  }
}
