import { randomBytes } from 'node:crypto'
import { type EmbeddedPostgres, startEmbeddedPostgres } from '@loopdm/db/embedded'
import { runMigrations } from '@loopdm/db/migrate'
import { createPool } from '@loopdm/db/pool'
import { assertRedis } from '@loopdm/redis/client'
import type { TestProject } from 'vitest/node'
import '@loopdm/testing/fixtures'

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
