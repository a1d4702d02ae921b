import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import {
  TEST_PSEUDONYM_SECRET,
  testConfig,
  testDatabaseUrl,
  testPool,
  uniqueId,
} from '@loopdm/testing/fixtures'
import { MASTER_FILE } from '@loopdm/training-data/export-layout'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ExportPausePoint } from '../src/services/export.service.js'
import { createExportService } from '../src/services/export.service.js'
import {
  exportKilledAt,
  pairsOf,
  readLines,
  removeUsers,
  type SeedRow,
  seed,
  silentLogger,
  tempDir,
} from './helpers.js'

describe('export crash and rerun', () => {
  let pool: Pool
  const created: string[] = []

  beforeAll(async () => {
    pool = await testPool()
  })
  afterAll(async () => {
    await removeUsers(pool, created)
    await pool.end()
  })

  describe.each<ExportPausePoint>([
    'mid-write',
    'before-rename',
    'after-rename',
    'mid-append',
    'before-commit',
  ])('when the exporter process is SIGKILLed at %s', (point) => {
    it('loses no line and duplicates none on the rerun', async () => {
      const tmp = tempDir()
      const users = [uniqueId('crA'), uniqueId('crB'), uniqueId('crC')]
      created.push(...users)
      try {
        // Something already in the master (a previous night), so the append offset matters.
        const base = Date.now() - 3600_000
        const prior = createExportService({
          db: pool,
          config: testConfig({ EXPORT_DIR: tmp.dir }),
          logger: silentLogger(),
        })
        await seed(
          pool,
          [
            { user: users[0] as string, role: 'user', content: `before q ${point}`, at: 0 },
            { user: users[0] as string, role: 'assistant', content: `before a ${point}`, at: 1 },
          ],
          base,
        )
        await prior.run({ trigger: 'manual', dryRun: false, date: '2031-02-01' })
        const priorMasterSize = statSync(join(tmp.dir, MASTER_FILE)).size

        const rows: SeedRow[] = []
        for (let i = 0; i < 30; i++) {
          const user = users[i % 3] as string
          rows.push({ user, role: 'user', content: `question ${i} (${point})`, at: 10 + 2 * i })
          rows.push({ user, role: 'assistant', content: `answer ${i} (${point})`, at: 11 + 2 * i })
        }
        await seed(pool, rows, base)

        await exportKilledAt(
          {
            DATABASE_URL: testDatabaseUrl(),
            EXPORT_DIR: tmp.dir,
            LOOPDM_TEST_BATCH: '8',
            LOOPDM_TEST_DATE: '2031-02-02',
            QUEUE_PREFIX: uniqueId('q'),
            PSEUDONYM_SECRET: TEST_PSEUDONYM_SECRET,
          },
          point,
        )
        const inFlight = await pool.query(
          `select status from export_runs where status in ('started','written')`,
        )
        expect(inFlight.rows).toHaveLength(1)
        const master = join(tmp.dir, MASTER_FILE)
        const daily = join(tmp.dir, 'fine_tune_2031-02-02.jsonl')
        // The kill really left the state of its crash point behind.
        const temps = readdirSync(tmp.dir).filter((n) => n.includes('.tmp-run'))
        const masterAtKill = statSync(master).size
        if (point === 'mid-write' || point === 'before-rename') {
          expect(existsSync(daily)).toBe(false)
          expect(temps.length).toBeGreaterThan(0)
          expect(masterAtKill).toBe(priorMasterSize)
        } else {
          expect(existsSync(daily)).toBe(true)
        }
        if (point === 'mid-append') expect(masterAtKill).toBeGreaterThan(priorMasterSize)
        expect(inFlight.rows[0]?.status).toBe(point === 'mid-write' ? 'started' : 'written')

        const rerun = createExportService({
          db: pool,
          config: testConfig({ EXPORT_DIR: tmp.dir }),
          logger: silentLogger(),
        })
        const r = await rerun.run({ trigger: 'manual', dryRun: false, date: '2031-02-02' })
        if (point === 'mid-write') expect(r.recovered).toBeUndefined()
        else expect(r.recovered?.examples).toBeGreaterThanOrEqual(30)

        expect(statSync(master).size).toBeGreaterThanOrEqual(masterAtKill)
        const inMaster = pairsOf(master, users)
        const expected = [
          `before q ${point}`,
          ...Array.from({ length: 30 }, (_, i) => `question ${i} (${point})`),
        ]
        expect(inMaster.map((p) => p.q).sort()).toEqual(expected.sort())
        const dailyPairs = pairsOf(daily, users)
        expect(dailyPairs.map((p) => p.q).sort()).toEqual(expected.slice(1).sort())
        // Every master line is whole JSON (no torn append survived) and aligned with its manifest.
        const lines = readLines(master)
        for (const l of lines) expect(() => JSON.parse(l)).not.toThrow()
        expect(lines.length).toBe(readLines(`${master}.manifest`).length)
        // No temp files or lock left behind.
        expect(readdirSync(tmp.dir).filter((n) => n.startsWith('.'))).toEqual([])
        expect(existsSync(join(tmp.dir, '.export.lock'))).toBe(false)
        const after = await pool.query(`select status from export_runs where status in ('started','written')`)
        expect(after.rows).toHaveLength(0)
      } finally {
        tmp.cleanup()
      }
    }, 60_000)
  })
})
