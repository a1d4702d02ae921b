import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { MASTER_FILE } from '@loopdm/training-data/export-layout'
import { validateFtFile } from '@loopdm/training-data/ft-format'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createExportService } from '../src/services/export.service.js'
import { pairsOf, readLines, removeUsers, seed, silentLogger, tempDir } from './helpers.js'

const byQ = <T extends { q: string }>(xs: T[]) => [...xs].sort((a, b) => a.q.localeCompare(b.q))

describe('export watermark', () => {
  let pool: Pool
  const tmp = tempDir()
  const u1 = uniqueId('wm1')
  const u2 = uniqueId('wm2')
  const u3 = uniqueId('wm3')
  const users = [u1, u2, u3]
  const config = testConfig({ EXPORT_DIR: tmp.dir, SYSTEM_PROMPT: 'SYS' })
  const base = Date.now() - 3600_000

  beforeAll(async () => {
    pool = await testPool()
  })
  afterAll(async () => {
    await removeUsers(pool, users)
    await pool.end()
    tmp.cleanup()
  })

  describe('when three runs see new, late-arriving and pending rows', () => {
    it('exports every pair exactly once, in order, and carries unanswered turns over', async () => {
      const sut = createExportService({ db: pool, config, logger: silentLogger(), batchSize: 7 })
      const tuned: string[] = []

      // Run 1: u1 has two pairs (the first with merged user turns and PII); u2 is still waiting.
      await seed(
        pool,
        [
          { user: u1, role: 'user', content: 'hi', at: 0 },
          { user: u1, role: 'user', content: 'mail me at anna@example.com', at: 1 },
          { user: u1, role: 'assistant', content: 'Done!', at: 2 },
          { user: u2, role: 'user', content: 'is size 38 in stock?', at: 3 },
          { user: u1, role: 'user', content: '   ', at: 4 },
          { user: u1, role: 'user', content: '', hasImage: true, at: 5 },
          { user: u1, role: 'assistant', content: 'Nice photo', at: 6 },
          { user: u1, role: 'assistant', content: 'It costs €49.99', at: 7 },
        ],
        base,
      )
      const r1 = await sut.run({ trigger: 'manual', dryRun: false, date: '2031-01-01' })
      expect(r1.status).toBe('committed')
      const day1 = join(tmp.dir, 'fine_tune_2031-01-01.jsonl')
      expect(pairsOf(day1, users)).toEqual([
        { user: u1, q: 'hi\nmail me at [EMAIL]', a: 'Done!' },
        { user: u1, q: '[image]', a: 'Nice photo\nIt costs €49.99' },
      ])
      expect(r1.pii.EMAIL).toBeGreaterThanOrEqual(1)
      expect(r1.pendingUsers).toBeGreaterThanOrEqual(1)

      // Run 2: u2's answer arrives; u3's user turn arrives late, timestamped before run 1's watermark.
      await seed(
        pool,
        [
          { user: u3, role: 'user', content: 'late question (sent yesterday)', at: -30 },
          { user: u2, role: 'assistant', content: 'yes, size 38 is in stock', at: 20 },
          { user: u3, role: 'assistant', content: 'late answer', at: 21 },
        ],
        base,
      )
      const r2 = await sut.run({ trigger: 'manual', dryRun: false, date: '2031-01-02' })
      const day2 = join(tmp.dir, 'fine_tune_2031-01-02.jsonl')
      // Pairs completed at the end of a window come out in no particular user order.
      expect(byQ(pairsOf(day2, users))).toEqual([
        { user: u2, q: 'is size 38 in stock?', a: 'yes, size 38 is in stock' },
        { user: u3, q: 'late question (sent yesterday)', a: 'late answer' },
      ])
      expect(r2.watermark).toBeDefined()

      // Run 3, same date as run 2: the day's file is continued; nothing old repeats.
      await seed(
        pool,
        [
          { user: u1, role: 'user', content: 'call me on +49 151 2345 6789', at: 30 },
          { user: u1, role: 'assistant', content: 'Will do', at: 31 },
          { user: u2, role: 'assistant', content: 'orphan follow-up is dropped', at: 32 },
        ],
        base,
      )
      const r3 = await sut.run({ trigger: 'manual', dryRun: false, date: '2031-01-02' })
      expect(r3.files).toEqual([day2])
      const day2Pairs = pairsOf(day2, users)
      expect(day2Pairs[2]).toEqual({ user: u1, q: 'call me on [PHONE]', a: 'Will do' })
      expect(byQ(day2Pairs.slice(0, 2))).toEqual([
        { user: u2, q: 'is size 38 in stock?', a: 'yes, size 38 is in stock' },
        { user: u3, q: 'late question (sent yesterday)', a: 'late answer' },
      ])

      // The master holds each pair exactly once, aligned with its manifest.
      const master = join(tmp.dir, MASTER_FILE)
      const all = pairsOf(master, users)
      expect(all).toHaveLength(5)
      expect(new Set(all.map((p) => p.q)).size).toBe(5)
      expect(readLines(master).length).toBe(readLines(`${master}.manifest`).length)

      // Every output line passes the fine-tuning format checks, and only `messages` is present.
      for (const f of readdirSync(tmp.dir).filter((n) => n.endsWith('.jsonl'))) {
        const report = await validateFtFile(join(tmp.dir, f), { model: config.models.ftBase })
        expect(report.problems, f).toEqual([])
        for (const line of readLines(join(tmp.dir, f))) {
          const o = JSON.parse(line)
          expect(Object.keys(o)).toEqual(['messages'])
          expect(o.messages[0]).toEqual({ role: 'system', content: 'SYS' })
          // `weight` only on assistant turns of a multi-turn example (0 context, 1 the taught one).
          for (const m of o.messages)
            expect(Object.keys(m)).toEqual(
              m.role === 'assistant' && 'weight' in m ? ['role', 'content', 'weight'] : ['role', 'content'],
            )
        }
      }
      // A fourth run with nothing new writes nothing for these users.
      const r4 = await sut.run({ trigger: 'manual', dryRun: false, date: '2031-01-03' })
      expect(pairsOf(join(tmp.dir, 'fine_tune_2031-01-03.jsonl'), users)).toEqual([])
      expect(r4.status).toBe('committed')
      expect(tuned).toEqual([])
    })
  })
})
