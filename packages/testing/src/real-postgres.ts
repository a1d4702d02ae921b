import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MIGRATIONS_DIR, runMigrations } from '@loopdm/db/migrate'
import { createPool, type Pool } from '@loopdm/db/pool'

/** The machine's real PostgreSQL 15 (trust auth, no pgvector); REAL_DATABASE_URL overrides. */
export const REAL_DATABASE_URL =
  process.env.REAL_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/**
 * Whether the real Postgres answers. Unreachable: an error under CI=true (the suite must not stop
 * testing real concurrency silently), else a loud warning naming `what` goes untested and false.
 */
export async function realPostgresAvailable(what: string): Promise<boolean> {
  const p = createPool({ connectionString: REAL_DATABASE_URL, max: 1 })
  try {
    await p.query('select 1')
    return true
  } catch (err) {
    const msg = `real PostgreSQL at ${REAL_DATABASE_URL} is unreachable (${(err as Error).message})`
    if (process.env.CI) throw new Error(`${msg}: ${what} needs it (CI=true)`)
    console.warn(`\n!!! SKIPPED: ${msg}; ${what} is untested\n`)
    return false
  } finally {
    await p.end().catch(() => {})
  }
}

/** Splits a migration into statements: `;` ends one, except inside quotes or a `$$` body. */
export function splitStatements(sql: string): string[] {
  const out: string[] = []
  let cur = ''
  let dollar = false
  let quote = false
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]
    if (!quote && ch === '-' && sql[i + 1] === '-' && !dollar) {
      const end = sql.indexOf('\n', i)
      i = end === -1 ? sql.length : end
      cur += '\n'
      continue
    }
    if (!quote && ch === '$' && sql[i + 1] === '$') {
      dollar = !dollar
      cur += '$$'
      i++
      continue
    }
    if (!dollar && ch === "'") quote = !quote
    if (ch === ';' && !dollar && !quote) {
      if (cur.trim()) out.push(cur.trim())
      cur = ''
      continue
    }
    cur += ch
  }
  if (cur.trim()) out.push(cur.trim())
  return out
}

/** What only pgvector provides: such statements are left out on a Postgres without it. */
const NEEDS_VECTOR =
  /extension[^;]*\bvector\b|\bhnsw\b|binary_quantize|<=>|\bq vector\b|vector_cosine_ops|embedding_bq/i

/** A migration for a Postgres without pgvector: embedding columns become real[], vector-only statements go. */
export function withoutVector(sql: string): string {
  return splitStatements(sql)
    .filter((s) => !NEEDS_VECTOR.test(s))
    .map((s) => `${s.replace(/\bvector\(\d+\)/g, 'real[]')};`)
    .join('\n\n')
}

/**
 * A fresh database on the real Postgres, migrated by the real migrator with every migration (or
 * the `only` files) rewritten by `withoutVector` — the migrations that need no `vector` run there as
 * they do in production. `drop()` removes the database.
 */
export async function realPostgresDatabase(
  opts: { only?: string[] } = {},
): Promise<{ pool: Pool; url: string; drop: () => Promise<void> }> {
  const name = `loopdm_test_${randomBytes(4).toString('hex')}`
  const root = createPool({ connectionString: REAL_DATABASE_URL, max: 1 })
  await root.query(`create database ${name}`)
  const url = new URL(REAL_DATABASE_URL)
  url.pathname = `/${name}`
  const pool = createPool({ connectionString: url.toString(), max: 8 })
  const dir = mkdtempSync(join(tmpdir(), 'loopdm-migrations-novector-'))
  try {
    const files = readdirSync(MIGRATIONS_DIR).filter(
      (f) => f.endsWith('.sql') && (!opts.only || opts.only.includes(f)),
    )
    for (const f of files)
      writeFileSync(join(dir, f), withoutVector(readFileSync(join(MIGRATIONS_DIR, f), 'utf8')))
    await runMigrations(pool, { dir })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return {
    pool,
    url: url.toString(),
    async drop() {
      await pool.end()
      await root.query(`drop database if exists ${name} with (force)`)
      await root.end()
    },
  }
}
