import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { testConfig } from '@loopdm/testing/fixtures'
import { realPostgresAvailable, realPostgresDatabase } from '@loopdm/testing/real-postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMessagesRepository } from '../src/repositories/messages.repository.js'
import { createExportService } from '../src/services/export.service.js'
import { pairsOf, silentLogger, tempDir } from './helpers.js'

/**
 * The watermark against a real PostgreSQL 15 (127.0.0.1:5432, no pgvector) with two real
 * sessions: a transaction that drew a smaller id commits after a later one. Locally the test is
 * skipped loudly when that server is unreachable; under CI=true it fails.
 */
describe('export watermark on a real PostgreSQL with concurrent sessions', () => {
  let up = false
  let real: Awaited<ReturnType<typeof realPostgresDatabase>> | undefined
  let pool: Pool | undefined
  const tmp = tempDir('snapshot-')

  beforeAll(async () => {
    up = await realPostgresAvailable('the export watermark race')
    if (!up) return
    real = await realPostgresDatabase()
    pool = real.pool
  })
  afterAll(async () => {
    await real?.drop()
    tmp.cleanup()
  })

  it('exports a row whose smaller id commits after a larger one, exactly once', async (ctx) => {
    if (!up || !pool) return ctx.skip()
    const db = pool
    const config = testConfig({ DATABASE_URL: 'postgres://unused', EXPORT_DIR: tmp.dir })
    const sut = createExportService({ db, config, logger: silentLogger() })
    const ins = (q: { query: Pool['query'] }, user: string, text: string) =>
      q.query(
        `insert into conversation_messages (ig_user_id, role, content, author)
         values ($1, 'user', $2, null), ($1, 'assistant', $3, 'human')`,
        [user, `q ${text}`, `a ${text}`],
      )
    await ins(db, 'early', 'early')
    await sut.run({ trigger: 'manual', dryRun: false, date: '2042-01-01' })

    // Session A draws the smaller ids and stays open; session B inserts after it and commits.
    const a = await db.connect()
    try {
      await a.query('begin')
      await ins(a, 'slow', 'slow')
      await ins(db, 'fast', 'fast')
      const running = sut.run({ trigger: 'manual', dryRun: false, date: '2042-01-02' })
      // A commits while the run is under way (with a plain max(id) it has read past A's ids).
      await new Promise((r) => setTimeout(r, 400))
      await a.query('commit')
      await running
    } finally {
      a.release()
    }
    await sut.run({ trigger: 'manual', dryRun: false, date: '2042-01-03' })
    const master = join(tmp.dir, 'master_fine_tune.jsonl')
    const pairs = pairsOf(master, ['early', 'slow', 'fast'])
    expect(pairs.map((p) => p.user).sort()).toEqual(['early', 'fast', 'slow'])
  })

  it('waits for a long-open insert transaction without holding other inserts behind it, then names it', async (ctx) => {
    if (!up || !pool) return ctx.skip()
    const db = pool
    const insert = (q: { query: Pool['query'] }, user: string) =>
      q.query(
        `insert into conversation_messages (ig_user_id, role, content) values ($1, 'user', 'hi') returning id`,
        [user],
      )
    const repo = createMessagesRepository(db)
    const a = await db.connect()
    try {
      await a.query('begin')
      const slow = await insert(a, 'long-tx')
      const bound = repo.maxId({ attemptMs: 100, pauseMs: 100 })
      await new Promise((r) => setTimeout(r, 300))
      // While the bound waits for A, another session's insert (a DM arriving) is not queued behind it.
      const other = insert(db, 'dm-arrives').then(() => 'inserted')
      const raced = await Promise.race([other, new Promise((r) => setTimeout(() => r('blocked'), 5000))])
      expect(raced).toBe('inserted')
      await a.query('commit')
      expect(await bound).toBeGreaterThanOrEqual(Number(slow.rows[0]?.id))
      // A transaction left open past the wait: a clear error naming what to do.
      await a.query('begin')
      await insert(a, 'stuck')
      await expect(repo.maxId({ waitMs: 400, attemptMs: 100, pauseMs: 100 })).rejects.toThrow(
        /held an insert into conversation_messages open for over 0 s.*pg_stat_activity/,
      )
      await a.query('rollback')
    } finally {
      a.release()
    }
  })
})
