import { randomBytes } from 'node:crypto'
import { createPool, type Pool, refreshVectorType } from '@loopdm/db/pool'
import { type Config, loadConfig } from '@loopdm/platform/config'
import { inject } from 'vitest'

/**
 * Test fixtures over the real services the global setup started. Every call gets a fresh queue
 * prefix and hot-swap channel, so suites never see each other's jobs or messages.
 */
export function testDatabaseUrl(): string {
  return inject('databaseUrl')
}

export function uniqueId(prefix = 't'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`
}

/** The PSEUDONYM_SECRET every testConfig gets (tests run the HMAC key, as production does). */
export const TEST_PSEUDONYM_SECRET = 'test-pseudonym-secret-0123456789'

export function testConfig(overrides: Record<string, string | undefined> = {}): Config {
  const run = inject('testRun')
  const id = randomBytes(3).toString('hex')
  return loadConfig({
    NODE_ENV: 'test',
    // A vision model distinct from BASE_MODEL (both default to gpt-4.1-mini), so tests can tell the routes apart.
    VISION_MODEL: 'gpt-4.1',
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: `test-${run}-${id}`,
    MODEL_CHANNEL: `test-${run}-${id}:model:active`,
    LOG_LEVEL: 'silent',
    PSEUDONYM_SECRET: TEST_PSEUDONYM_SECRET,
    ...overrides,
  })
}

export async function testPool(max = 5): Promise<Pool> {
  const pool = createPool({ connectionString: testDatabaseUrl(), max })
  await refreshVectorType(pool)
  return pool
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string
    testRun: string
  }
}
