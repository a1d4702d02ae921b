import { createReadStream, createWriteStream, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import type { Pool } from '@loopdm/db/pool'
import { TEST_PSEUDONYM_SECRET, testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { eraseUserFromExports } from '@loopdm/training-data/export-erase'
import { MASTER_FILE } from '@loopdm/training-data/export-layout'
import { pickTrainingData } from '@loopdm/training-data/training-file'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createExportRunsRepository } from '../src/repositories/export-runs.repository.js'
import { createExportService } from '../src/services/export.service.js'
import { pairsOf, readLines, removeUsers, seed, silentLogger, tempDir } from './helpers.js'

describe('eraseUserFromExports', () => {
  let pool: Pool
  const tmp = tempDir()
  const alice = uniqueId('gdprA')
  const bob = uniqueId('gdprB')
  const users = [alice, bob]
  const day1 = join(tmp.dir, 'fine_tune_2031-04-01.jsonl')
  const day2 = join(tmp.dir, 'fine_tune_2031-04-02.jsonl')
  const master = join(tmp.dir, MASTER_FILE)

  beforeAll(async () => {
    pool = await testPool()
    const sut = createExportService({
      db: pool,
      config: testConfig({ EXPORT_DIR: tmp.dir }),
      logger: silentLogger(),
    })
    const base = Date.now() - 3600_000
    await seed(
      pool,
      [
        { user: alice, role: 'user', content: 'alice q1', at: 0 },
        { user: alice, role: 'assistant', content: 'a1', at: 1 },
        { user: bob, role: 'user', content: 'bob q1', at: 2 },
        { user: bob, role: 'assistant', content: 'b1', at: 3 },
      ],
      base,
    )
    await sut.run({ trigger: 'manual', dryRun: false, date: '2031-04-01' })
    await seed(
      pool,
      [
        { user: bob, role: 'user', content: 'bob q2', at: 10 },
        { user: bob, role: 'assistant', content: 'b2', at: 11 },
        { user: alice, role: 'user', content: 'alice q2', at: 12 },
        { user: alice, role: 'assistant', content: 'a2', at: 13 },
      ],
      base,
    )
    await sut.run({ trigger: 'manual', dryRun: false, date: '2031-04-02' })
    // Day 1 is old enough to be gzipped (as retention does: data .gz, manifest follows the name).
    await pipeline(createReadStream(day1), createGzip(), createWriteStream(`${day1}.gz`))
    renameSync(`${day1}.manifest`, `${day1}.gz.manifest`)
    rmSync(day1)
    // Day 2 was already uploaded by the tuner.
    writeFileSync(`${day2}.uploaded`, 'file-abc')
  })
  afterAll(async () => {
    await removeUsers(pool, users)
    await pool.end()
    tmp.cleanup()
  })

  describe('when the user has lines in plain, gzipped and master files', () => {
    it("removes that user's lines and manifest entries everywhere, keeping everyone else's", async () => {
      expect(pairsOf(`${day1}.gz`, users).map((p) => p.q)).toEqual(['alice q1', 'bob q1'])
      const r = await eraseUserFromExports({
        exportDir: tmp.dir,
        igUserId: alice,
        logger: silentLogger(),
        pseudonymSecret: TEST_PSEUDONYM_SECRET,
      })
      expect(r).toMatchObject({ files: 3, lines: 4, uploadedFiles: [day2] })
      expect(r.erasedFiles).toHaveLength(3)
      expect(pairsOf(`${day1}.gz`, users).map((p) => p.q)).toEqual(['bob q1'])
      expect(pairsOf(day2, users).map((p) => p.q)).toEqual(['bob q2'])
      expect(pairsOf(master, users).map((p) => p.q)).toEqual(['bob q1', 'bob q2'])
      for (const f of [`${day1}.gz`, day2, master]) {
        expect(readLines(f).length).toBe(readLines(`${f}.manifest`).length)
        expect(readLines(f).join('\n')).not.toContain('alice')
      }
    })
  })

  describe('when called again', () => {
    it('is idempotent and reports zero', async () => {
      const r = await eraseUserFromExports({
        exportDir: tmp.dir,
        igUserId: alice,
        logger: silentLogger(),
        pseudonymSecret: TEST_PSEUDONYM_SECRET,
      })
      expect(r).toEqual({ files: 0, lines: 0, uploadedFiles: [], erasedFiles: [] })
    })
  })

  describe('the database side', () => {
    it("forgets the user's carried-over turn and keeps no user id in committed runs", async () => {
      const carol = uniqueId('gdprC')
      users.push(carol)
      await seed(pool, [{ user: carol, role: 'user', content: 'unanswered', at: 0 }], Date.now() - 60_000)
      const sut = createExportService({
        db: pool,
        config: testConfig({ EXPORT_DIR: tmp.dir }),
        logger: silentLogger(),
      })
      const r = await sut.run({ trigger: 'manual', dryRun: false, date: '2031-04-03' })
      const plan = await pool.query('select plan from export_runs where id = $1', [r.runId])
      expect(JSON.stringify(plan.rows[0]?.plan ?? {})).not.toContain(carol)
      const runs = createExportRunsRepository(pool)
      expect(await runs.deletePendingFor(carol)).toBe(1)
      expect(await runs.deletePendingFor(carol)).toBe(0)
    })
  })

  describe('when the tuner concatenated daily exports into a since-last training file', () => {
    it("removes the user's lines from it too (its manifest comes with it)", async () => {
      const dir = tempDir()
      const carol = uniqueId('gdprC')
      const dave = uniqueId('gdprD')
      try {
        const config = testConfig({ EXPORT_DIR: dir.dir, FT_TRAINING_DATA: 'since-last' })
        const exporter = createExportService({
          db: pool,
          config,
          logger: silentLogger(),
        })
        const base = Date.now() - 1800_000
        for (const [i, date] of ['2031-05-01', '2031-05-02'].entries()) {
          await seed(
            pool,
            [
              { user: carol, role: 'user', content: `carol q${i}`, at: i * 10 },
              { user: carol, role: 'assistant', content: `c${i}`, at: i * 10 + 1 },
              { user: dave, role: 'user', content: `dave q${i}`, at: i * 10 + 2 },
              { user: dave, role: 'assistant', content: `d${i}`, at: i * 10 + 3 },
            ],
            base,
          )
          await exporter.run({ trigger: 'manual', dryRun: false, date })
        }
        const training = await pickTrainingData({ config, lastDataThrough: '2031-04-30' })
        expect(training.path).toContain(join('tune', 'since_2031-05-01_2031-05-02.jsonl'))
        expect(readFileSync(training.path, 'utf8')).toContain('carol q1')

        const r = await eraseUserFromExports({
          exportDir: dir.dir,
          igUserId: carol,
          logger: silentLogger(),
          pseudonymSecret: TEST_PSEUDONYM_SECRET,
        })
        expect(r.files).toBe(4) // two dailies, the master, the training file
        const left = readFileSync(training.path, 'utf8')
        expect(left).not.toContain('carol')
        expect(left).toContain('dave q0')
        expect(left).toContain('dave q1')
      } finally {
        await removeUsers(pool, [carol, dave])
        dir.cleanup()
      }
    })
  })

  describe('when the export directory does not exist', () => {
    it('reports zero', async () => {
      const r = await eraseUserFromExports({
        exportDir: join(tmp.dir, 'nope'),
        igUserId: alice,
        logger: silentLogger(),
      })
      expect(r).toEqual({ files: 0, lines: 0, uploadedFiles: [], erasedFiles: [] })
    })
  })
})
