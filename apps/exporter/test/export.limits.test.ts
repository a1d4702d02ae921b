import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { MASTER_FILE } from '@loopdm/training-data/export-layout'
import { validateFtFile } from '@loopdm/training-data/ft-format'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ExportTooLargeError } from '../src/errors.js'
import { createExportRunsRepository } from '../src/repositories/export-runs.repository.js'
import { createExportService } from '../src/services/export.service.js'
import { pairsOf, readLines, removeUsers, type SeedRow, seed, silentLogger, tempDir } from './helpers.js'

describe('export size limit, dry run and backfill', () => {
  let pool: Pool
  const users = [uniqueId('lim1'), uniqueId('lim2')]
  const tmp = tempDir()
  const base = Date.now() - 3600_000

  beforeAll(async () => {
    pool = await testPool()
    const rows: SeedRow[] = []
    for (let i = 0; i < 40; i++) {
      const user = users[i % 2] as string
      rows.push({ user, role: 'user', content: `question number ${i} about shipping to Vienna`, at: 2 * i })
      rows.push({ user, role: 'assistant', content: `answer ${i}: 3-5 days, €4.90`, at: 2 * i + 1 })
    }
    await seed(pool, rows, base)
  })
  afterAll(async () => {
    await removeUsers(pool, users)
    await pool.end()
    tmp.cleanup()
  })

  describe('when run with --dry-run', () => {
    it('counts everything and writes nothing, moving no watermark', async () => {
      const runs = createExportRunsRepository(pool)
      const before = await runs.lastCommittedNightly()
      const sut = createExportService({
        db: pool,
        config: testConfig({ EXPORT_DIR: tmp.dir }),
        logger: silentLogger(),
      })
      const r = await sut.run({ trigger: 'manual', dryRun: true, date: '2031-03-01' })
      expect(r.status).toBe('dry-run')
      expect(r.examples).toBeGreaterThanOrEqual(40)
      expect(r.runId).toBeUndefined()
      expect(readdirSync(tmp.dir)).toEqual([])
      expect((await runs.lastCommittedNightly())?.id).toBe(before?.id)
    })
  })

  describe('when a file would exceed EXPORT_MAX_BYTES with EXPORT_OVERSIZE=refuse', () => {
    it('refuses with a clear error, writes nothing and keeps the watermark', async () => {
      const runs = createExportRunsRepository(pool)
      const before = await runs.lastCommittedNightly()
      const sut = createExportService({
        db: pool,
        config: testConfig({ EXPORT_DIR: tmp.dir, EXPORT_MAX_BYTES: '2KB' }),
        logger: silentLogger(),
      })
      const err = await sut.run({ trigger: 'manual', dryRun: false, date: '2031-03-01' }).catch((e) => e)
      expect(err).toBeInstanceOf(ExportTooLargeError)
      expect(err.message).toMatch(/fine_tune_2031-03-01\.jsonl would exceed EXPORT_MAX_BYTES \(2048 bytes\)/)
      expect(err.message).toMatch(/EXPORT_OVERSIZE=split/)
      expect(readdirSync(tmp.dir).filter((n) => !n.startsWith('.export.lock'))).toEqual([])
      expect((await runs.lastCommittedNightly())?.id).toBe(before?.id)
      expect(await runs.inFlight()).toBeUndefined()
    })
  })

  describe('when EXPORT_OVERSIZE=split', () => {
    it('splits into parts under the limit, each with its manifest, all appended to the master', async () => {
      const sut = createExportService({
        db: pool,
        config: testConfig({ EXPORT_DIR: tmp.dir, EXPORT_MAX_BYTES: '2KB', EXPORT_OVERSIZE: 'split' }),
        logger: silentLogger(),
      })
      const r = await sut.run({ trigger: 'manual', dryRun: false, date: '2031-03-01' })
      expect(r.files.length).toBeGreaterThan(2)
      expect(r.files[0]).toBe(join(tmp.dir, 'fine_tune_2031-03-01.jsonl'))
      expect(r.files[1]).toBe(join(tmp.dir, 'fine_tune_2031-03-01.part2.jsonl'))
      let mine = 0
      for (const f of r.files) {
        expect(statSync(f).size).toBeLessThanOrEqual(2048)
        expect(readLines(f).length).toBe(readLines(`${f}.manifest`).length)
        expect((await validateFtFile(f)).problems).toEqual([])
        mine += pairsOf(f, users).length
      }
      expect(mine).toBe(40)
      expect(pairsOf(join(tmp.dir, MASTER_FILE), users)).toHaveLength(40)
    })
  })

  describe('when run as a backfill (--since/--until)', () => {
    it('writes its own file, leaves the master and the watermark alone', async () => {
      const runs = createExportRunsRepository(pool)
      const before = await runs.lastCommittedNightly()
      const masterSize = statSync(join(tmp.dir, MASTER_FILE)).size
      const sut = createExportService({
        db: pool,
        config: testConfig({ EXPORT_DIR: tmp.dir }),
        logger: silentLogger(),
      })
      const since = new Date(base - 60_000).toISOString()
      const until = new Date(base + 20 * 60_000).toISOString()
      const r = await sut.run({ trigger: 'manual', dryRun: false, since, until })
      expect(r.kind).toBe('backfill')
      expect(r.files).toHaveLength(1)
      const file = r.files[0] as string
      expect(file).toMatch(/fine_tune_backfill_.*\.jsonl$/)
      // 20 minutes of rows = the first 10 pairs (5 per user).
      expect(pairsOf(file, users)).toHaveLength(10)
      expect(statSync(join(tmp.dir, MASTER_FILE)).size).toBe(masterSize)
      expect((await runs.lastCommittedNightly())?.id).toBe(before?.id)
      expect(existsSync(`${file}.manifest`)).toBe(true)
    })
  })
})
