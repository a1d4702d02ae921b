import type { Pool } from '@loopdm/db/pool'
import { captureLogger } from '@loopdm/testing/capture-logger'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createExportService } from '../src/services/export.service.js'
import { removeUsers, type SeedRow, seed, tempDir } from './helpers.js'

describe('export logging', () => {
  let pool: Pool
  const tmp = tempDir()
  const user = uniqueId('log')

  beforeAll(async () => {
    pool = await testPool()
    const rows: SeedRow[] = []
    for (let i = 0; i < 30; i++) {
      rows.push({ user, role: 'user', content: `secret-text-${i} mail me at x${i}@example.com`, at: 2 * i })
      rows.push({ user, role: 'assistant', content: `reply-text-${i}`, at: 2 * i + 1 })
    }
    await seed(pool, rows, Date.now() - 3600_000)
  })
  afterAll(async () => {
    await removeUsers(pool, [user])
    await pool.end()
    tmp.cleanup()
  })

  describe('when a run reads more rows than the progress interval', () => {
    it('logs progress lines and one summary with counts, and never message text', async () => {
      const { logger, lines } = captureLogger()
      const sut = createExportService({
        db: pool,
        config: testConfig({ EXPORT_DIR: tmp.dir }),
        logger,
        batchSize: 10,
        progressEvery: 20,
      })
      const r = await sut.run({ trigger: 'manual', dryRun: false, date: '2031-06-01' })
      await new Promise((res) => setTimeout(res, 50))
      const progress = lines.filter((l) => l.msg === 'export progress')
      expect(progress.length).toBeGreaterThanOrEqual(2)
      expect(progress[0]).toMatchObject({ rowsRead: expect.any(Number), rowsPerSec: expect.any(Number) })
      const summary = lines.filter((l) => l.msg === 'export committed')
      expect(summary).toHaveLength(1)
      expect(summary[0]).toMatchObject({
        rowsRead: r.rowsRead,
        examples: r.examples,
        pii: expect.objectContaining({ EMAIL: expect.any(Number) }),
        bytes: r.bytes,
        durationMs: expect.any(Number),
      })
      expect((summary[0]?.pii as Record<string, number> | undefined)?.EMAIL).toBeGreaterThanOrEqual(30)
      const all = JSON.stringify(lines)
      expect(all).not.toContain('secret-text')
      expect(all).not.toContain('reply-text')
      expect(all).not.toContain('@example.com')
    })
  })
})
