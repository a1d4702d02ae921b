import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { RETENTION_JOB } from '@loopdm/queues/contracts'
import { TEST_PSEUDONYM_SECRET, testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { eraseUserFromExports } from '@loopdm/training-data/export-erase'
import { MASTER_FILE } from '@loopdm/training-data/export-layout'
import { UnrecoverableError } from 'bullmq'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { processRetention } from '../src/jobs/retention.processor.js'
import { createExportService } from '../src/services/export.service.js'
import { runRetention } from '../src/services/retention.service.js'
import { pairsOf, removeUsers, seed, silentLogger, tempDir } from './helpers.js'

const day = (d: Date) => d.toISOString().slice(0, 10)

describe('runRetention', () => {
  let pool: Pool
  const tmp = tempDir()
  const u1 = uniqueId('ret1')
  const u2 = uniqueId('ret2')
  const users = [u1, u2]
  const now = new Date()
  const d8m = day(new Date(now.getTime() - 245 * 24 * 3600_000))
  const d40 = day(new Date(now.getTime() - 40 * 24 * 3600_000))
  const today = day(now)
  const config = testConfig({ EXPORT_DIR: tmp.dir })
  const file = (d: string) => join(tmp.dir, `fine_tune_${d}.jsonl`)
  const archive = join(tmp.dir, 'archive', `fine_tune_archive_${d8m.slice(0, 7)}.jsonl.gz`)
  const oldCount = () =>
    pool
      .query(
        'select count(*)::int as n from conversation_messages where ig_user_id = any($1) and created_at < $2',
        [users, new Date(now.getTime() - 200 * 24 * 3600_000).toISOString()],
      )
      .then((r) => r.rows[0].n as number)

  beforeAll(async () => {
    pool = await testPool()
    const sut = createExportService({
      db: pool,
      config,
      logger: silentLogger(),
    })
    const yearAgo = now.getTime() - 365 * 24 * 3600_000
    await seed(
      pool,
      [
        { user: u1, role: 'user', content: 'old q1', at: 0 },
        { user: u1, role: 'assistant', content: 'old a1', at: 1 },
        { user: u2, role: 'user', content: 'old q2', at: 2 },
        { user: u2, role: 'assistant', content: 'old a2', at: 3 },
      ],
      yearAgo,
    )
    await sut.run({ trigger: 'manual', dryRun: false, date: d8m })
    const recent = now.getTime() - 3600_000
    await seed(
      pool,
      [
        { user: u1, role: 'user', content: 'month q', at: 0 },
        { user: u1, role: 'assistant', content: 'month a', at: 1 },
      ],
      recent,
    )
    await sut.run({ trigger: 'manual', dryRun: false, date: d40 })
    await seed(
      pool,
      [
        { user: u2, role: 'user', content: 'today q', at: 5 },
        { user: u2, role: 'assistant', content: 'today a', at: 6 },
      ],
      recent,
    )
    await sut.run({ trigger: 'manual', dryRun: false, date: today })
  })
  afterAll(async () => {
    await removeUsers(pool, users)
    await pool.end()
    tmp.cleanup()
  })

  describe('when run with dryRun', () => {
    it('lists every action with counts and changes nothing', async () => {
      const r = await runRetention({ db: pool, config, logger: silentLogger(), dryRun: true, now })
      const byAction = Object.fromEntries(r.actions.map((a) => [a.action, a]))
      expect(byAction.gzip?.target).toBe(`fine_tune_${d40}.jsonl`)
      expect(byAction.archive?.target).toContain(`fine_tune_${d8m}.jsonl`)
      expect(byAction.archive?.count).toBeGreaterThanOrEqual(2)
      expect(byAction['trim-master']?.count).toBeGreaterThanOrEqual(2)
      expect(byAction['delete-messages']?.count).toBeGreaterThanOrEqual(4)
      expect(byAction.vacuum).toBeDefined()
      expect(existsSync(file(d40))).toBe(true)
      expect(existsSync(file(d8m))).toBe(true)
      expect(existsSync(archive)).toBe(false)
      expect(await oldCount()).toBe(4)
      expect(r.messagesDeleted).toBe(0)
    })
  })

  describe('when run for real', () => {
    it('gzips month-old files, archives half-year-old data, trims the master and deletes old messages', async () => {
      const r = await runRetention({ db: pool, config, logger: silentLogger(), now, deleteBatch: 2 })
      expect(r.gzipped).toBe(1)
      expect(existsSync(file(d40))).toBe(false)
      expect(pairsOf(`${file(d40)}.gz`, users).map((p) => p.q)).toEqual(['month q'])
      expect(existsSync(file(d8m))).toBe(false)
      expect(existsSync(`${file(d8m)}.manifest`)).toBe(false)
      expect(
        pairsOf(archive, users)
          .map((p) => p.q)
          .sort(),
      ).toEqual(['old q1', 'old q2'])
      expect(pairsOf(join(tmp.dir, MASTER_FILE), users).map((p) => p.q)).toEqual(['month q', 'today q'])
      expect(pairsOf(file(today), users).map((p) => p.q)).toEqual(['today q'])
      expect(r.messagesDeleted).toBeGreaterThanOrEqual(4)
      expect(await oldCount()).toBe(0)
      expect(r.vacuumed).toBe(true)
    })

    it('leaves the archive reachable by a GDPR erase', async () => {
      const r = await eraseUserFromExports({
        exportDir: tmp.dir,
        igUserId: u1,
        logger: silentLogger(),
        pseudonymSecret: TEST_PSEUDONYM_SECRET,
      })
      expect(r.lines).toBe(3) // archive, the gzipped month-old file and the master
      expect(pairsOf(archive, users).map((p) => p.q)).toEqual(['old q2'])
    })

    it('is idempotent', async () => {
      const r = await runRetention({ db: pool, config, logger: silentLogger(), now })
      expect(r.gzipped + r.archivedFiles + r.masterLinesRemoved).toBe(0)
    })
  })

  describe('the retention processor', () => {
    it('runs retention for its job name', async () => {
      const r = await processRetention(
        { name: RETENTION_JOB.retention, data: { dryRun: true }, id: 'x' },
        { db: pool, config, logger: silentLogger() },
      )
      expect(r).toMatchObject({ dryRun: true })
    })
    it('rejects an unknown job name as unrecoverable', async () => {
      const err = (await processRetention(
        { name: 'nope', data: {}, id: 'z' },
        { db: pool, config, logger: silentLogger() },
      ).catch((e) => e)) as Error
      expect(err).toBeInstanceOf(UnrecoverableError)
      expect(err.message).toMatch(/unknown retention job "nope"/)
    })
  })
})
