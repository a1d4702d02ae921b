import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { processOwnerId } from '@loopdm/platform/owner-id'
import {
  TEST_PSEUDONYM_SECRET,
  testConfig,
  testDatabaseUrl,
  testPool,
  uniqueId,
} from '@loopdm/testing/fixtures'
import { eraseUserFromExports } from '@loopdm/training-data/export-erase'
import { MASTER_FILE } from '@loopdm/training-data/export-layout'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createExportService, type ExportPausePoint } from '../src/services/export.service.js'
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

describe('GDPR erase during a crashed export run (issue 17)', () => {
  let pool: Pool
  const created: string[] = []
  beforeAll(async () => {
    pool = await testPool()
  })
  afterAll(async () => {
    await removeUsers(pool, created)
    await pool.end()
  })

  describe.each<ExportPausePoint>(['before-rename', 'after-rename', 'mid-append', 'before-commit'])(
    'when the exporter died at %s (run left `written`)',
    (point) => {
      it('the erase rolls the run back first; the next export succeeds without the erased lines', async () => {
        const tmp = tempDir()
        const [gone, kept] = [uniqueId('eraseMe'), uniqueId('keepMe')]
        created.push(gone, kept)
        const config = testConfig({ EXPORT_DIR: tmp.dir })
        try {
          const base = Date.now() - 3600_000
          // A previous night in the master, and the same day's earlier lines in the daily file.
          await seed(
            pool,
            [
              { user: gone, role: 'user', content: 'gone before q', at: 0 },
              { user: gone, role: 'assistant', content: 'gone before a', at: 1 },
              { user: kept, role: 'user', content: 'kept before q', at: 2 },
              { user: kept, role: 'assistant', content: 'kept before a', at: 3 },
            ],
            base,
          )
          const svc = () => createExportService({ db: pool, config, logger: silentLogger() })
          await svc().run({ trigger: 'manual', dryRun: false, date: '2032-03-03' })
          const rows: SeedRow[] = []
          for (let i = 0; i < 10; i++) {
            const user = i % 2 ? gone : kept
            rows.push({ user, role: 'user', content: `q${i}`, at: 10 + 2 * i })
            rows.push({ user, role: 'assistant', content: `a${i}`, at: 11 + 2 * i })
          }
          await seed(pool, rows, base)
          await exportKilledAt(
            {
              DATABASE_URL: testDatabaseUrl(),
              EXPORT_DIR: tmp.dir,
              LOOPDM_TEST_BATCH: '4',
              LOOPDM_TEST_DATE: '2032-03-03',
              QUEUE_PREFIX: uniqueId('q'),
              PSEUDONYM_SECRET: TEST_PSEUDONYM_SECRET,
            },
            point,
          )
          const inFlight = await pool.query(
            `select status from export_runs where status in ('started','written')`,
          )
          expect(inFlight.rows).toEqual([{ status: 'written' }])

          // The erase (as the gateway runs it): rows first, then the files with the run settled.
          await pool.query('delete from conversation_messages where ig_user_id = $1', [gone])
          const erased = await eraseUserFromExports({
            exportDir: tmp.dir,
            igUserId: gone,
            pseudonymSecret: TEST_PSEUDONYM_SECRET,
            db: pool,
          })
          expect(erased.settledRun?.status).toBe('written')
          expect(erased.lines).toBeGreaterThanOrEqual(1)
          expect(readdirSync(tmp.dir).filter((n) => n.includes('.tmp-run'))).toEqual([])

          // The next export is not stuck ("shorter than recorded offset") and brings nothing back.
          const r = await svc().run({ trigger: 'manual', dryRun: false, date: '2032-03-03' })
          expect(r.recovered).toBeUndefined()
          const master = join(tmp.dir, MASTER_FILE)
          const daily = join(tmp.dir, 'fine_tune_2032-03-03.jsonl')
          for (const f of [master, daily]) {
            expect(pairsOf(f, [gone])).toEqual([])
            const qs = pairsOf(f, [kept])
              .map((p) => p.q)
              .sort()
            expect(qs).toEqual(['kept before q', 'q0', 'q2', 'q4', 'q6', 'q8'].sort())
            expect(readLines(f).length).toBe(readLines(`${f}.manifest`).length)
          }
          const after = await pool.query(
            `select status from export_runs where status in ('started','written')`,
          )
          expect(after.rows).toHaveLength(0)
        } finally {
          tmp.cleanup()
        }
      }, 60_000)
    },
  )
})

describe('owner ids with a boot id (container restarts reuse PID 1)', () => {
  let pool: Pool
  beforeAll(async () => {
    pool = await testPool()
  })
  afterAll(async () => {
    await pool.end()
  })

  it('are host:pid:bootId', () => {
    expect(processOwnerId()).toMatch(new RegExp(`^${hostname()}:${process.pid}:[0-9a-f]{12}$`))
  })

  it('a lock and a lease held by this pid from another boot are dead: the export takes them at once', async () => {
    const tmp = tempDir()
    const ghost = `${hostname()}:${process.pid}:0badb00t0000`
    const user = uniqueId('boot')
    try {
      // What the previous boot of this container left: its directory lock and a fresh lease.
      writeFileSync(join(tmp.dir, '.export.lock'), ghost)
      const dead = await pool.query<{ id: number }>(
        `insert into export_runs (run_date, kind, status, owner, heartbeat_at)
         values ('2032-04-04', 'nightly', 'started', $1, now()) returning id`,
        [ghost],
      )
      await seed(pool, [
        { user, role: 'user', content: 'after restart q', at: -30 },
        { user, role: 'assistant', content: 'after restart a', at: -29 },
      ])
      const svc = createExportService({
        db: pool,
        config: testConfig({ EXPORT_DIR: tmp.dir }),
        logger: silentLogger(),
      })
      const t0 = Date.now()
      const r = await svc.run({ trigger: 'manual', dryRun: false, date: '2032-04-04' })
      expect(Date.now() - t0).toBeLessThan(30_000)
      expect(r.examples).toBeGreaterThanOrEqual(1)
      const old = await pool.query('select status from export_runs where id = $1', [dead.rows[0]?.id])
      expect(old.rows[0]?.status).toBe('failed')
      expect(existsSync(join(tmp.dir, '.export.lock'))).toBe(false)
    } finally {
      await removeUsers(pool, [user])
      tmp.cleanup()
    }
  }, 60_000)

  it('a legacy host:pid id with this pid is not taken for dead (the lease time decides)', async () => {
    const { ownerLiveness } = await import('@loopdm/platform/owner-id')
    expect(ownerLiveness(`${hostname()}:${process.pid}`)).toBe('alive')
    expect(ownerLiveness(processOwnerId())).toBe('self')
    expect(ownerLiveness(`${hostname()}:${process.pid}:0badb00t0000`)).toBe('dead')
    expect(ownerLiveness(`other-host:${process.pid}:0badb00t0000`)).toBe('unknown')
  })
})
