import { spawnSync } from 'node:child_process'
import { join, resolve } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { createQueue, createWorker } from '@loopdm/queues/bullmq'
import {
  EXPORT_JOB_OPTIONS,
  EXPORT_QUEUE,
  exportJobId,
  RETENTION_JOB,
  RETENTION_QUEUE,
  SCHEDULERS,
  TUNE_JOB,
  TUNE_QUEUE,
  tuneAfterExportJobId,
} from '@loopdm/queues/contracts'
import { createRedis } from '@loopdm/redis/client'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { type ConnectionOptions, QueueEvents } from 'bullmq'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CliUsageError, parseExportCli } from '../src/export-cli.js'
import { processExport } from '../src/jobs/export.processor.js'
import { createExportService, type ExportResult } from '../src/services/export.service.js'
import { upsertExporterSchedules } from '../src/services/schedules.js'
import { removeUsers, type SeedRow, seed, silentLogger, tempDir } from './helpers.js'

const ROOT = resolve(import.meta.dirname, '../../..')

describe('export job on the queue', () => {
  let pool: Pool
  const tmp = tempDir()
  const users = [uniqueId('q1'), uniqueId('q2')]
  const config = testConfig({ EXPORT_DIR: tmp.dir, FT_MIN_EXAMPLES: '3', AUTO_TUNE: 'true' })
  const logger = silentLogger()
  const exportQueue = createQueue(EXPORT_QUEUE, { config, logger })
  const tuneQueue = createQueue(TUNE_QUEUE, { config, logger })
  const retentionQueue = createQueue(RETENTION_QUEUE, { config, logger })

  beforeAll(async () => {
    pool = await testPool()
    const rows: SeedRow[] = []
    for (let i = 0; i < 4; i++) {
      const user = users[i % 2] as string
      rows.push(
        { user, role: 'user', content: `q ${i}`, at: 2 * i },
        { user, role: 'assistant', content: `a ${i}`, at: 2 * i + 1 },
      )
    }
    await seed(pool, rows, Date.now() - 3600_000)
  })
  afterAll(async () => {
    for (const q of [exportQueue, tuneQueue, retentionQueue]) {
      await q.obliterate({ force: true }).catch(() => {})
      await q.close()
    }
    await removeUsers(pool, users)
    await pool.end()
    tmp.cleanup()
  })

  describe('when a worker runs an export that adds ≥ FT_MIN_EXAMPLES', () => {
    it('returns the summary and enqueues tune once with a deterministic id', async () => {
      const exporter = createExportService({
        db: pool,
        config,
        logger,
        enqueueTune: async (date) => {
          await tuneQueue.add(TUNE_JOB.tune, { trigger: 'export' }, { jobId: tuneAfterExportJobId(date) })
          return true
        },
      })
      const worker = createWorker(EXPORT_QUEUE, (job) => processExport(job, { exporter, config }), {
        config,
        logger,
      })
      const events = new QueueEvents(EXPORT_QUEUE, {
        connection: createRedis({ url: config.redis.url, role: 'worker' }) as unknown as ConnectionOptions,
        prefix: config.redis.prefix,
      })
      try {
        await events.waitUntilReady()
        const job = await exportQueue.add(
          'export',
          { trigger: 'manual', date: '2031-05-01' },
          { ...EXPORT_JOB_OPTIONS, jobId: exportJobId('2031-05-01') },
        )
        expect(job.id).toBe('export-2031-05-01')
        // The same trigger again is the same job: deduplicated by id.
        const again = await exportQueue.add(
          'export',
          { trigger: 'manual', date: '2031-05-01' },
          { jobId: job.id as string },
        )
        expect(again.id).toBe(job.id)
        const r = (await job.waitUntilFinished(events, 30_000)) as ExportResult
        expect(r.status).toBe('committed')
        expect(r.examples).toBeGreaterThanOrEqual(4)
        expect(r.tuneEnqueued).toBe(true)
        const tune = await tuneQueue.getJob('tune-export-2031-05-01')
        expect(tune?.name).toBe(TUNE_JOB.tune)
        expect(tune?.data).toEqual({ trigger: 'export' })
      } finally {
        await worker.close()
        await events.close()
      }
    })
  })

  describe('when the payload is invalid', () => {
    it('fails the job as unrecoverable', async () => {
      const exporter = createExportService({ db: pool, config, logger })
      await expect(
        processExport(
          { data: { since: 'yesterday' }, timestamp: Date.now(), id: 'bad' },
          { exporter, config },
        ),
      ).rejects.toThrow(/invalid export payload/)
    })
  })

  describe('schedules', () => {
    it('upserts one scheduler per name, idempotently across replicas', async () => {
      await upsertExporterSchedules({ exportQueue, retentionQueue, config })
      await upsertExporterSchedules({ exportQueue, retentionQueue, config })
      const exp = await exportQueue.getJobSchedulers()
      const ret = await retentionQueue.getJobSchedulers()
      expect(exp.map((s) => [s.key, s.pattern])).toEqual([[SCHEDULERS.export, config.schedules.exportCron]])
      expect(ret.map((s) => [s.key, s.name, s.pattern])).toEqual([
        [SCHEDULERS.retention, RETENTION_JOB.retention, config.schedules.cleanupCron],
      ])
    })
  })
})

describe('npm run export:ft flags', () => {
  it.each([
    [{ bogus: true }, /unknown flag --bogus/],
    [{ since: true }, /--since needs an ISO-8601 timestamp/],
    [{ since: 'yesterday' }, /--since "yesterday" is not an ISO-8601 timestamp/],
    [{ until: '2024-13-45' }, /--until "2024-13-45" is not an ISO-8601 timestamp/],
    [{ since: '2024-05-02', until: '2024-05-01' }, /--since .* must be before --until/],
    [{ date: '05/01/2024' }, /--date needs YYYY-MM-DD/],
    [{ timeout: 'soon' }, /--timeout needs a number of seconds/],
    [{ inline: 'yes' }, /--inline takes no value/],
  ] as Array<[Record<string, string | true>, RegExp]>)(
    'rejects %o with a message naming the flag',
    (flags, re) => {
      expect(() => parseExportCli(flags)).toThrow(CliUsageError)
      expect(() => parseExportCli(flags)).toThrow(re)
    },
  )

  it('accepts dates and timestamps', () => {
    const o = parseExportCli({
      since: '2024-05-01',
      until: '2024-05-02T12:00:00+02:00',
      'dry-run': true,
      inline: true,
    })
    expect(o.payload).toMatchObject({
      since: '2024-05-01T00:00:00Z',
      until: '2024-05-02T12:00:00+02:00',
      dryRun: true,
    })
    expect(o.inline).toBe(true)
  })

  it('exits 2 with the message and usage from the real script', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'scripts/export-ft.ts'), '--sinse', 'x'],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    )
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('unknown flag --sinse')
    expect(r.stderr).toContain('usage: npm run export:ft')
  })
})

describe('processExport', () => {
  it("names a scheduler's job by its slot (creation time + delay), not its creation day", async () => {
    const pool = await testPool()
    const tmp = tempDir()
    try {
      const config = testConfig({ EXPORT_DIR: tmp.dir, TZ: 'UTC' })
      const exporter = createExportService({ db: pool, config, logger: silentLogger() })
      const slot = Date.parse('2031-07-02T02:00:00Z')
      const r = await processExport(
        {
          data: { trigger: 'cron', dryRun: true },
          timestamp: slot - 86_400_000,
          opts: { delay: 86_400_000 },
          id: 'c',
        },
        { exporter, config },
      )
      expect(r.date).toBe('2031-07-02')
    } finally {
      await pool.end()
      tmp.cleanup()
    }
  })
})
