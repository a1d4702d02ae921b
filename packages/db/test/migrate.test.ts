import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MIGRATIONS_DIR, runMigrations } from '@loopdm/db/migrate'
import type { Pool } from '@loopdm/db/pool'
import { MigrationChecksumError } from '@loopdm/platform/errors'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { testPool, uniqueId } from './fixtures.js'

describe('runMigrations', () => {
  let pool: Pool
  let dir: string
  let table: string
  beforeEach(async () => {
    pool = await testPool()
    dir = mkdtempSync(join(tmpdir(), 'loopdm-mig-'))
    table = uniqueId('mig').replace(/-/g, '_')
    writeFileSync(join(dir, '0001_a.sql'), `create table ${table} (id int primary key);`)
    writeFileSync(join(dir, '0002_b.sql'), `insert into ${table} values (1);`)
  })
  afterEach(async () => {
    await pool.query(`drop table if exists ${table}`)
    // Other suites' runs share schema_migrations; remove only our names (unique by table).
    await pool.query('delete from schema_migrations where name in ($1, $2, $3)', [
      '0001_a.sql',
      '0002_b.sql',
      '0003_c.sql',
    ])
    await pool.end()
    rmSync(dir, { recursive: true, force: true })
  })

  describe('when run twice', () => {
    it('applies each file once, in order', async () => {
      const first = await runMigrations(pool, { dir })
      expect(first.applied).toEqual(['0001_a.sql', '0002_b.sql'])
      const second = await runMigrations(pool, { dir })
      expect(second).toEqual({ applied: [], skipped: ['0001_a.sql', '0002_b.sql'] })
      const rows = await pool.query(`select count(*)::int as n from ${table}`)
      expect(rows.rows[0].n).toBe(1)
    })
  })

  describe('when an applied migration changes', () => {
    it('refuses with an error naming the file, and applies nothing after it', async () => {
      await runMigrations(pool, { dir })
      writeFileSync(join(dir, '0001_a.sql'), `create table ${table} (id bigint primary key);`)
      writeFileSync(join(dir, '0003_c.sql'), `insert into ${table} values (3);`)
      const err = await runMigrations(pool, { dir }).catch((e) => e)
      expect(err).toBeInstanceOf(MigrationChecksumError)
      expect(err.message).toMatch(/Migration 0001_a\.sql was changed after it was applied/)
      const rows = await pool.query(`select count(*)::int as n from ${table}`)
      expect(rows.rows[0].n).toBe(1)
    })
  })

  describe('when a migration fails', () => {
    it('rolls it back and records nothing for it', async () => {
      writeFileSync(join(dir, '0002_b.sql'), `insert into ${table} values (1); select * from no_such_table;`)
      await expect(runMigrations(pool, { dir })).rejects.toThrow(/no_such_table/)
      const rec = await pool.query("select name from schema_migrations where name = '0002_b.sql'")
      expect(rec.rowCount).toBe(0)
      const rows = await pool.query(`select count(*)::int as n from ${table}`)
      expect(rows.rows[0].n).toBe(0)
    })
  })

  describe('the repository migrations', () => {
    it('are all applied by the test setup and re-running changes nothing', async () => {
      const r = await runMigrations(pool, { dir: MIGRATIONS_DIR })
      expect(r.applied).toEqual([])
      expect(r.skipped.length).toBeGreaterThan(0)
      expect(readFileSync(join(MIGRATIONS_DIR, '0001_conversation_messages.sql'), 'utf8')).toMatch(
        /create extension if not exists vector/,
      )
    })
  })
})
