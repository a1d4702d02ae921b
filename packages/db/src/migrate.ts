import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MigrationChecksumError } from '@loopdm/platform/errors'
import type { Logger } from '@loopdm/platform/logger'
import type { Pool } from './pool.js'

/** The repository's migrations/ folder. */
export const MIGRATIONS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../migrations')

export interface MigrationResult {
  applied: string[]
  skipped: string[]
}

export function checksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex')
}

/**
 * Applies `dir/*.sql` in name order, once each, recording name and sha256 in `schema_migrations`.
 * Each file runs in its own transaction under an exclusive lock on that table, so concurrent
 * migrators serialise. A file whose checksum differs from the recorded one is an error: applied
 * migrations are immutable, add a new one instead.
 */
export async function runMigrations(
  pool: Pool,
  opts: { dir?: string; logger?: Logger | undefined } = {},
): Promise<MigrationResult> {
  const dir = opts.dir ?? MIGRATIONS_DIR
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
  await pool.query(`create table if not exists schema_migrations (
    name text primary key,
    checksum text not null,
    applied_at timestamptz not null default now()
  )`)
  const result: MigrationResult = { applied: [], skipped: [] }
  for (const name of files) {
    const sql = readFileSync(join(dir, name), 'utf8')
    const sum = checksum(sql)
    const client = await pool.connect()
    try {
      await client.query('begin')
      await client.query('lock table schema_migrations in exclusive mode')
      const r = await client.query<{ checksum: string }>(
        'select checksum from schema_migrations where name = $1',
        [name],
      )
      const row = r.rows[0]
      if (row) {
        await client.query('rollback')
        if (row.checksum !== sum) {
          throw new MigrationChecksumError(
            `Migration ${name} was changed after it was applied (recorded sha256 ${row.checksum.slice(0, 12)}…, file ${sum.slice(0, 12)}…). Applied migrations are immutable: restore it and add a new migration.`,
          )
        }
        result.skipped.push(name)
        continue
      }
      await client.query(sql)
      await client.query('insert into schema_migrations (name, checksum) values ($1, $2)', [name, sum])
      await client.query('commit')
      result.applied.push(name)
      opts.logger?.info({ migration: name }, 'migration applied')
    } catch (err) {
      await client.query('rollback').catch(() => {})
      throw err
    } finally {
      client.release()
    }
  }
  return result
}
