import { readdirSync } from 'node:fs'
import { MIGRATIONS_DIR } from '@loopdm/db/migrate'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  realPostgresAvailable,
  realPostgresDatabase,
  splitStatements,
  withoutVector,
} from '../src/real-postgres.js'

/**
 * Issue 17: the migrations that need no `vector` run on the machine's real PostgreSQL 15 as well
 * as on the embedded one — every file through the real migrator, vector-only statements left out.
 */
describe('migrations on the real PostgreSQL 15 (no pgvector)', () => {
  let up = false
  let real: Awaited<ReturnType<typeof realPostgresDatabase>> | undefined
  beforeAll(async () => {
    up = await realPostgresAvailable('the migrations on a real Postgres')
    if (up) real = await realPostgresDatabase()
  }, 60_000)
  afterAll(async () => {
    await real?.drop()
  })

  it('applies every migration file and records each in schema_migrations', async (ctx) => {
    if (!real) return ctx.skip()
    const files = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql'))
    const applied = await real.pool.query<{ name: string }>(
      'select name from schema_migrations order by name',
    )
    expect(applied.rows.map((r) => r.name)).toEqual(files.sort())
    const tables = await real.pool.query<{ t: string }>(
      `select table_name as t from information_schema.tables where table_schema = 'public'`,
    )
    const names = tables.rows.map((r) => r.t)
    for (const t of [
      'conversation_messages',
      'export_runs',
      'models',
      'gold_items',
      'curation_exclusions',
      'canary_runs',
    ])
      expect(names).toContain(t)
  })
})

describe('withoutVector', () => {
  it('keeps $$ bodies whole, drops vector-only statements and turns vector columns into real[]', () => {
    const sql = `create extension if not exists vector;
create table t (id int, note text default 'a;b', embedding vector(1536));
-- a comment; with a semicolon
create index t_idx on t using hnsw (embedding vector_cosine_ops);
create function f() returns int language plpgsql as $$ begin return 1; end $$;`
    expect(splitStatements(sql)).toHaveLength(4)
    const out = withoutVector(sql)
    expect(out).toContain("create table t (id int, note text default 'a;b', embedding real[]);")
    expect(out).toContain('begin return 1; end')
    expect(out).not.toMatch(/hnsw|extension/)
  })
})
