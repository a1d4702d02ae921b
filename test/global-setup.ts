import { randomBytes } from 'node:crypto'
import { createPool } from '@loopdm/shared/db'
import { type EmbeddedPostgres, startEmbeddedPostgres } from '@loopdm/shared/embedded-db'
import { runMigrations } from '@loopdm/shared/migrate'
import { assertRedis } from '@loopdm/shared/redis'
import type { TestProject } from 'vitest/node'
import '@loopdm/shared/testing'

/**
 * Real services for the whole run: DATABASE_URL when set (a pgvector Postgres), else an in-memory
 * embedded PGlite on a free port; the Redis at REDIS_URL (default 127.0.0.1:6379). Every run gets
 * its own queue prefix and hot-swap channel so concurrent runs on one Redis never meet.
 */
let embedded: EmbeddedPostgres | undefined

export async function setup(project: TestProject) {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  await assertRedis(redisUrl)
  let url = process.env.DATABASE_URL
  if (!url) {
    embedded = await startEmbeddedPostgres({ port: 0 })
    url = embedded.url
  }
  const pool = createPool({ connectionString: url, max: 2 })
  await runMigrations(pool)
  await pool.end()
  const run = randomBytes(4).toString('hex')
  process.env.DATABASE_URL = url
  process.env.REDIS_URL = redisUrl
  process.env.LOOPDM_TEST_RUN = run
  project.provide('databaseUrl', url)
  project.provide('testRun', run)
}

export async function teardown() {
  await embedded?.close()
}
