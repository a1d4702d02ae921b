import { type EmbeddedPostgres, startEmbeddedPostgres } from '@loopdm/db/embedded'
import { runMigrations } from '@loopdm/db/migrate'
import { createPool, type Pool } from '@loopdm/db/pool'
import { captureLogger } from '@loopdm/testing/capture-logger'
import { testConfig } from '@loopdm/testing/fixtures'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { processExport } from '../src/jobs/export.processor.js'
import { createExportService } from '../src/services/export.service.js'
import { seed, silentLogger, tempDir } from './helpers.js'

/**
 * The embedded Postgres has no autovacuum. Memory recall's quantised pass is an index-only scan,
 * which only skips the heap for pages the visibility map marks all-visible, and only VACUUM sets
 * that map: the nightly export job vacuums conversation_messages after it commits. A private
 * embedded server, so no other test's writes touch these pages.
 */
describe('the nightly VACUUM after the export job', () => {
  let pg: EmbeddedPostgres
  let pool: Pool
  const tmp = tempDir()
  const user = 'vacuum-user'

  /**
   * Heap pages of conversation_messages the visibility map does NOT mark all-visible (pg_class,
   * which VACUUM and ANALYZE refresh): an index-only scan must visit each of these for its rows.
   */
  async function pagesNotAllVisible(): Promise<number> {
    await pool.query('analyze conversation_messages')
    const r = await pool.query<{ n: number }>(
      `select (relpages - relallvisible)::int as n from pg_class where relname = 'conversation_messages'`,
    )
    return Number(r.rows[0]?.n)
  }

  beforeAll(async () => {
    pg = await startEmbeddedPostgres({ port: 0 })
    pool = createPool({ connectionString: pg.url, max: 2 })
    await runMigrations(pool)
    const rows = []
    for (let i = 0; i < 40; i++)
      rows.push(
        { user, role: 'user' as const, content: `question ${i}`, at: 2 * i },
        { user, role: 'assistant' as const, content: `answer ${i}`, at: 2 * i + 1 },
      )
    await seed(pool, rows, Date.now() - 3600_000)
    // As memory does: the embedding arrives in an UPDATE after the turn is stored.
    await pool.query(
      `update conversation_messages set embedding = array_fill(0.02::real, array[1536])::vector where ig_user_id = $1`,
      [user],
    )
  }, 60_000)
  afterAll(async () => {
    await pool?.end()
    await pg?.close()
    tmp.cleanup()
  })

  it('a backfill leaves the table alone; a committed nightly run vacuums it and says how long it took', async () => {
    const config = testConfig({ DATABASE_URL: pg.url, EXPORT_DIR: tmp.dir, TZ: 'UTC' })
    const exporter = createExportService({ db: pool, config, logger: silentLogger() })
    const deps = { exporter, config, logger: silentLogger() }
    expect(await pagesNotAllVisible()).toBeGreaterThan(0)

    const since = new Date(Date.now() - 2 * 3600_000).toISOString()
    const backfill = await processExport(
      { data: { trigger: 'manual', since }, timestamp: Date.now(), id: 'b' },
      deps,
    )
    expect(backfill.kind).toBe('backfill')
    expect(backfill.examples).toBe(40)
    expect(backfill.vacuumMs).toBeUndefined()
    expect(await pagesNotAllVisible()).toBeGreaterThan(0)

    const nightly = await processExport({ data: { trigger: 'cron' }, timestamp: Date.now(), id: 'n' }, deps)
    expect(nightly).toMatchObject({ status: 'committed', kind: 'nightly', examples: 40 })
    expect(nightly.vacuumMs).toEqual(expect.any(Number))
    expect(await pagesNotAllVisible()).toBe(0)
  }, 60_000)

  it('a VACUUM that fails is a warning naming the error; the committed export is still returned', async () => {
    const config = testConfig({ DATABASE_URL: pg.url, EXPORT_DIR: tmp.dir, TZ: 'UTC' })
    const exporter = createExportService({ db: pool, config, logger: silentLogger() })
    // The maintenance half on a pool that is already closed: its VACUUM fails for real.
    const gone = createPool({ connectionString: pg.url, max: 1 })
    await gone.end()
    const broken = createExportService({ db: gone, config, logger: silentLogger() })
    const { logger, lines } = captureLogger({ level: 'warn' })
    await seed(pool, [
      { user, role: 'user', content: 'one more question', at: 200 },
      { user, role: 'assistant', content: 'one more answer', at: 201 },
    ])
    const r = await processExport(
      { data: { trigger: 'cron' }, timestamp: Date.now(), id: 'f' },
      {
        exporter: { run: exporter.run, maintain: broken.maintain, exportDir: exporter.exportDir },
        config,
        logger,
      },
    )
    expect(r).toMatchObject({ status: 'committed', kind: 'nightly', examples: 1 })
    expect(r.vacuumMs).toBeUndefined()
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'export: the nightly VACUUM failed (the export is committed)',
        err: expect.any(String),
      }),
    )
  }, 60_000)
})
