import { randomBytes } from 'node:crypto'
import { inject } from 'vitest'
import { createPool, type Pool, refreshVectorType } from '../src/pool.js'

/**
 * The db package's own two fixtures (`@loopdm/testing` depends on this package, so these tests
 * cannot use it without a package cycle): a pool on the run's database, and a unique id.
 */
export async function testPool(max = 5): Promise<Pool> {
  const pool = createPool({ connectionString: inject('databaseUrl'), max })
  await refreshVectorType(pool)
  return pool
}

export function uniqueId(prefix = 't'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string
  }
}
