import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { createQueue } from '@loopdm/queues/bullmq'
import { DM_QUEUE } from '@loopdm/queues/contracts'
import { TEST_PSEUDONYM_SECRET, testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { manifestPath } from '@loopdm/training-data/export-layout'
import { legacyUserKey, pseudonymousUserKey } from '@loopdm/training-data/pseudonym'
import type { Queue } from 'bullmq'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDmJobsRepository } from '../src/repositories/dm-jobs.repository.js'
import { createGdprRepository } from '../src/repositories/gdpr.repository.js'
import type { ExportEraser } from '../src/services/export-eraser.js'
import { createGdprService } from '../src/services/gdpr.service.js'

/**
 * The GDPR erase's privacy guarantees (issue 17): no deletion without its audit row (a failure
 * injected into the audit insert, and one after the commit), and the HMAC pseudonym with its
 * migration path (manifests and audit rows under the old unsalted key are still found).
 */
const config = testConfig()
let pool: Pool
let queue: Queue

async function seedUser(igUserId: string): Promise<void> {
  await pool.query(
    `insert into conversation_messages (ig_user_id, role, content) values
       ($1, 'user', 'my card is 4111 1111 1111 1111'), ($1, 'assistant', 'thanks')`,
    [igUserId],
  )
}
const rowsOf = async (u: string) =>
  Number(
    (await pool.query('select count(*)::int as n from conversation_messages where ig_user_id = $1', [u]))
      .rows[0].n,
  )
const auditsOf = async (u: string) =>
  (
    await pool.query<{ completed: boolean; counts: Record<string, unknown> }>(
      `select completed_at is not null as completed, counts from gdpr_erasures
        where user_key = $1 order by id`,
      [pseudonymousUserKey(u, TEST_PSEUDONYM_SECRET)],
    )
  ).rows

beforeAll(async () => {
  pool = await testPool()
  queue = createQueue(DM_QUEUE, { config })
})
afterAll(async () => {
  await queue.obliterate({ force: true }).catch(() => {})
  await queue.close()
  await pool.end()
})

describe('gdpr erase atomicity', () => {
  describe('when the audit row cannot be written', () => {
    it('deletes nothing (the deletion and the audit row commit together), and a rerun erases', async () => {
      const user = uniqueId('audfail')
      const key = pseudonymousUserKey(user, TEST_PSEUDONYM_SECRET)
      await seedUser(user)
      const fn = `gdpr_fail_${uniqueId('f').replace(/-/g, '_')}`
      // The injected fault: the audit insert of this one user fails inside the transaction.
      await pool.query(`create function ${fn}() returns trigger language plpgsql as $$
        begin if new.user_key = '${key}' then raise exception 'injected audit failure'; end if; return new; end $$`)
      await pool.query(
        `create trigger ${fn} before insert on gdpr_erasures for each row execute function ${fn}()`,
      )
      const sut = createGdprService({ db: pool, config, dmJobs: createDmJobsRepository(queue) })
      try {
        await expect(sut.eraseUser({ igUserId: user, actor: 'test' })).rejects.toThrow(
          /injected audit failure/,
        )
        expect(await rowsOf(user)).toBe(2)
        expect(await auditsOf(user)).toHaveLength(0)
      } finally {
        await pool.query(`drop trigger ${fn} on gdpr_erasures`)
        await pool.query(`drop function ${fn}()`)
      }
      const r = await sut.eraseUser({ igUserId: user, actor: 'test' })
      expect(r.counts.rows).toBe(2)
      expect(await rowsOf(user)).toBe(0)
      expect(await auditsOf(user)).toMatchObject([{ completed: true }])
    })
  })

  describe('when the erase fails after the rows are deleted (export files)', () => {
    it('leaves an audit row marked incomplete, and a rerun completes it', async () => {
      const user = uniqueId('filefail')
      await seedUser(user)
      const broken: ExportEraser = async () => {
        throw new Error('injected: export directory unavailable')
      }
      const first = createGdprService({
        db: pool,
        config,
        dmJobs: createDmJobsRepository(queue),
        exportEraser: broken,
      })
      await expect(first.eraseUser({ igUserId: user, actor: 'test' })).rejects.toThrow(/injected/)
      expect(await rowsOf(user)).toBe(0)
      const audits = await auditsOf(user)
      expect(audits).toHaveLength(1)
      expect(audits[0]).toMatchObject({ completed: false, counts: { rows: 2 } })

      const ok: ExportEraser = async () => ({ files: 1, lines: 2, uploadedFiles: 0 })
      const second = createGdprService({
        db: pool,
        config,
        dmJobs: createDmJobsRepository(queue),
        exportEraser: ok,
      })
      const r = await second.eraseUser({ igUserId: user, actor: 'test' })
      expect(r.counts.exportLines).toBe(2)
      expect((await auditsOf(user)).map((a) => a.completed)).toEqual([false, true])
    })
  })
})

describe('pseudonymous user key', () => {
  it('is an HMAC with PSEUDONYM_SECRET: another secret or none gives another key', () => {
    const k = pseudonymousUserKey('17841400000000001', TEST_PSEUDONYM_SECRET)
    expect(k).toMatch(/^[0-9a-f]{32}$/)
    expect(k).not.toBe(pseudonymousUserKey('17841400000000001', 'another-secret-0123456789'))
    expect(k).not.toBe(legacyUserKey('17841400000000001'))
    expect(pseudonymousUserKey('17841400000000001', undefined)).toBe(legacyUserKey('17841400000000001'))
  })

  it('rejects a short PSEUDONYM_SECRET naming the variable', () => {
    expect(() => testConfig({ PSEUDONYM_SECRET: 'short' })).toThrow(/PSEUDONYM_SECRET: expected at least 16/)
  })

  describe('when manifests and audit rows predate the secret (legacy unsalted keys)', () => {
    it('erases lines under both keys and still sees the old audit row', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'loopdm-pseudonym-'))
      const user = uniqueId('legacy')
      const other = uniqueId('other')
      try {
        const file = join(dir, 'fine_tune_2030-01-01.jsonl')
        const lines = ['{"a":1}', '{"a":2}', '{"a":3}', '{"a":4}']
        const keys = [
          legacyUserKey(user),
          pseudonymousUserKey(other, TEST_PSEUDONYM_SECRET),
          pseudonymousUserKey(user, TEST_PSEUDONYM_SECRET),
          legacyUserKey(other),
        ]
        writeFileSync(file, `${lines.join('\n')}\n`)
        writeFileSync(manifestPath(file), keys.map((k) => `${k}\t2030-01-01\n`).join(''))
        // An erase audited before the secret existed: the reply worker must still drop their DMs.
        await pool.query(`insert into gdpr_erasures (user_key, actor, counts) values ($1, 'old', '{}')`, [
          legacyUserKey(user),
        ])
        const repo = createGdprRepository(pool, { pseudonymSecret: TEST_PSEUDONYM_SECRET })
        expect(await repo.lastErasedAt(user)).not.toBeNull()

        const sut = createGdprService({
          db: pool,
          config: testConfig({ EXPORT_DIR: dir }),
          dmJobs: createDmJobsRepository(queue),
        })
        const r = await sut.eraseUser({ igUserId: user, actor: 'test' })
        expect(r.counts.exportLines).toBe(2)
        expect(readFileSync(file, 'utf8')).toBe('{"a":2}\n{"a":4}\n')
        expect(readFileSync(manifestPath(file), 'utf8')).toBe(
          `${keys[1]}\t2030-01-01\n${keys[3]}\t2030-01-01\n`,
        )
        expect(r.userKey).toBe(pseudonymousUserKey(user, TEST_PSEUDONYM_SECRET))
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  })
})
