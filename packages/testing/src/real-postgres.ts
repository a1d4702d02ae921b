import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createPool, type Pool } from '@loopdm/db/pool'

const MIGRATIONS = resolve(import.meta.dirname, '../../../migrations')

/**
 * A fresh database on the machine's real PostgreSQL (REAL_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/postgres; trust auth, no pgvector) for tests that need real
 * concurrency — the embedded engine runs one transaction at a time. `migrations` lists the files
 * to apply; statements that need `vector` (and those on the tables they create) are left out. `drop()` removes the database.
 */
export async function realPostgresDatabase(
  migrations: string[],
): Promise<{ pool: Pool; url: string; drop: () => Promise<void> }> {
  const admin = process.env.REAL_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  const name = `loopdm_test_${randomBytes(4).toString('hex')}`
  const root = createPool({ connectionString: admin, max: 1 })
  await root.query(`create database ${name}`)
  const url = admin.replace(/\/[^/]*$/, `/${name}`)
  const pool = createPool({ connectionString: url, max: 8 })
  for (const file of migrations) {
    const sql = readFileSync(join(MIGRATIONS, file), 'utf8')
      .replace(/--.*$/gm, '')
      .split(';')
      .filter((s) => s.trim() && !/vector/.test(s))
    for (const stmt of sql) {
      // A statement on a table left out for its `vector` column is left out too.
      await pool.query(stmt).catch((err: { code?: string }) => {
        if (err.code !== '42P01') throw err
      })
    }
  }
  return {
    pool,
    url,
    async drop() {
      await pool.end()
      await root.query(`drop database if exists ${name} with (force)`)
      await root.end()
    },
  }
}
