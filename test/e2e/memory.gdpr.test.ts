import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { createExportService } from '@loopdm/exporter/services/export.service'
import { deleteEndedJobCopy } from '@loopdm/models/provider-copies'
import { createLogger } from '@loopdm/platform/logger'
import { createOpenAISdk } from '@loopdm/platform/openai'
import { createQueue, createWorker } from '@loopdm/queues/bullmq'
import { DM_JOB_OPTIONS, DM_QUEUE, dmJobId } from '@loopdm/queues/contracts'
import { TEST_PSEUDONYM_SECRET, testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { startOpenAILocal } from '@loopdm/testing/openai-local'
import { waitFor } from '@loopdm/testing/wait'
import { MASTER_FILE } from '@loopdm/training-data/export-layout'
import { writeUploadedMarker } from '@loopdm/training-data/provider-copies'
import { pseudonymousUserKey } from '@loopdm/training-data/pseudonym'
import type { Queue, Worker } from 'bullmq'
import Fastify, { type FastifyInstance } from 'fastify'
import { toFile } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDmJobsRepository } from '../../apps/gateway/src/repositories/dm-jobs.repository.js'
import { createGdprRepository } from '../../apps/gateway/src/repositories/gdpr.repository.js'
import { adminAuthHook } from '../../apps/gateway/src/routes/admin/auth.js'
import { createUsersRoutes } from '../../apps/gateway/src/routes/admin/users.routes.js'
import type { AppDeps } from '../../apps/gateway/src/routes/route-deps.js'
import type { ExportEraser } from '../../apps/gateway/src/services/export-eraser.js'
import { createGdprService, type GdprService } from '../../apps/gateway/src/services/gdpr.service.js'

/**
 * GDPR erase against the real embedded Postgres and Redis: every table with an `ig_user_id`
 * column (discovered, including one this test adds, as a later migration would), the `dm` jobs
 * kept in Redis, the export hook, the audit row, idempotency and the admin route.
 */

const config = testConfig({ EXPORT_DIR: '/tmp/loopdm-memory-gdpr-exports' })
let pool: Pool
let queue: Queue
let worker: Worker
let sut: GdprService
const extraTable = `memtest_later_${uniqueId('t').replace(/-/g, '_')}`
const exportCalls: Array<{ exportDir: string; igUserId: string }> = []
const exportLines = new Map<string, number>()
const exportEraser: ExportEraser = async ({ exportDir, igUserId }) => {
  exportCalls.push({ exportDir, igUserId })
  const lines = exportLines.get(igUserId) ?? 0
  exportLines.delete(igUserId)
  return { files: lines > 0 ? 1 : 0, lines, uploadedFiles: 0 }
}
const forgotten: string[] = []

async function tableExists(name: string): Promise<boolean> {
  const r = await pool.query('select to_regclass($1) is not null as ok', [name])
  return Boolean(r.rows[0]?.ok)
}

/** Rows for one user in every table of the app that is known to hold user rows. */
async function seedUser(igUserId: string): Promise<void> {
  const mid = uniqueId('mid')
  await pool.query(
    `insert into conversation_messages (ig_user_id, role, content, ig_message_id) values
       ($1, 'user', 'my address is 5 Elm Street', $2), ($1, 'assistant', 'thanks, noted', $3)`,
    [igUserId, mid, `${mid}#reply`],
  )
  await pool.query(`insert into ${extraTable} (ig_user_id, note) values ($1, 'later table row')`, [igUserId])
  if (await tableExists('outbox')) {
    await pool.query(
      `insert into outbox (mid, ig_user_id, ig_account_id, part, parts, text, model, status)
       values ($1, $2, 'acct', 0, 1, 'thanks, noted', 'gpt-4o-mini', 'logged')`,
      [mid, igUserId],
    )
  }
}

async function waitFinished(n: number): Promise<void> {
  await waitFor(
    async () => {
      const c = await queue.getJobCounts('completed', 'failed')
      return (c.completed ?? 0) + (c.failed ?? 0) >= n
    },
    { what: `${n} dm jobs to finish`, timeoutMs: 10_000 },
  )
}

beforeAll(async () => {
  pool = await testPool()
  await pool.query(
    `create table ${extraTable} (id bigserial primary key, ig_user_id text not null, note text)`,
  )
  queue = createQueue(DM_QUEUE, { config })
  worker = createWorker(
    DM_QUEUE,
    async (job) => {
      if ((job.data as { fail?: boolean }).fail) throw new Error('provider exploded')
      return { replyText: 'thanks, noted', igUserId: (job.data as { igUserId: string }).igUserId }
    },
    { config, logger: (await import('@loopdm/platform/logger')).createLogger({ level: 'silent' }) },
  )
  sut = createGdprService({
    db: pool,
    config,
    dmJobs: createDmJobsRepository(queue),
    exportEraser,
    memory: {
      forget: (id: string) => {
        forgotten.push(id)
        return 0
      },
    },
  })
})

afterAll(async () => {
  await worker?.close()
  await queue?.obliterate({ force: true }).catch(() => {})
  await queue?.close()
  await pool?.query(`drop table if exists ${extraTable}`)
  await pool?.end()
})

describe('gdpr eraseUser', () => {
  const alice = uniqueId('alice')
  const bob = uniqueId('bob')
  const aliceMids = [uniqueId('m'), uniqueId('m'), uniqueId('m')]
  const bobMid = uniqueId('m')

  beforeAll(async () => {
    await seedUser(alice)
    await seedUser(bob)
    exportLines.set(alice, 3)
    const payload = (igUserId: string, mid: string) => ({
      mid,
      igUserId,
      igAccountId: 'acct',
      text: 'my address is 5 Elm Street',
      attachments: [],
      timestamp: Date.now(),
      receivedAt: Date.now(),
    })
    await queue.add('message', payload(alice, aliceMids[0] as string), {
      ...DM_JOB_OPTIONS,
      jobId: dmJobId(aliceMids[0] as string),
    })
    await queue.add('message', payload(alice, aliceMids[1] as string), {
      ...DM_JOB_OPTIONS,
      jobId: dmJobId(aliceMids[1] as string),
    })
    await queue.add(
      'message',
      { ...payload(alice, aliceMids[2] as string), fail: true },
      { ...DM_JOB_OPTIONS, attempts: 1, jobId: dmJobId(aliceMids[2] as string) },
    )
    await queue.add('message', payload(bob, bobMid), { ...DM_JOB_OPTIONS, jobId: dmJobId(bobMid) })
    await waitFinished(4)
  })

  describe('when the user has rows, jobs and export lines', () => {
    it('removes every row of the user table by table and leaves other users untouched', async () => {
      const repo = createGdprRepository(pool, { pseudonymSecret: TEST_PSEUDONYM_SECRET })
      const tables = (await repo.userTables()).map((t) => t.table)
      expect(tables).toContain('conversation_messages')
      expect(tables).toContain(extraTable)
      const before = await repo.countUserRows(alice)
      const bobBefore = await repo.countUserRows(bob)
      expect(before.conversation_messages).toBe(2)
      expect(before[extraTable]).toBe(1)

      const r = await sut.eraseUser({ igUserId: alice, actor: 'test-operator' })

      expect(r.empty).toBe(false)
      expect(r.counts.tables).toEqual(before)
      expect(r.counts.rows).toBe(Object.values(before).reduce((a, b) => a + b, 0))
      const after = await repo.countUserRows(alice)
      for (const t of tables) expect(after[t], `rows left in ${t}`).toBe(0)
      expect(await repo.countUserRows(bob)).toEqual(bobBefore)
      expect(forgotten).toContain(alice)
    })

    it('scrubs the payloads of the user’s completed and failed dm jobs but keeps their ids', async () => {
      for (const mid of aliceMids) {
        const job = await queue.getJob(dmJobId(mid))
        expect(job, `job ${mid} kept`).toBeDefined()
        expect(job?.data).toEqual({ erased: true })
        expect(job?.returnvalue ?? null).toBeNull()
      }
      const bobJob = await queue.getJob(dmJobId(bobMid))
      expect(bobJob?.data).toMatchObject({ igUserId: bob })
      expect(bobJob?.returnvalue).toMatchObject({ replyText: 'thanks, noted' })

      // A Meta re-delivery of an erased mid is still de-duplicated by the kept job id.
      const again = await queue.add(
        'message',
        { mid: aliceMids[0], igUserId: alice },
        { ...DM_JOB_OPTIONS, jobId: dmJobId(aliceMids[0] as string) },
      )
      expect(again.id).toBe(dmJobId(aliceMids[0] as string))
      expect((await queue.getJob(dmJobId(aliceMids[0] as string)))?.data).toEqual({ erased: true })
      expect(await queue.getWaitingCount()).toBe(0)
    })

    it('calls the export hook and writes an audit row without the raw id or content', async () => {
      expect(exportCalls).toContainEqual({ exportDir: config.export.dir, igUserId: alice })
      const a = await pool.query(
        `select user_key, actor, counts, created_at from gdpr_erasures where user_key = $1 order by id`,
        [pseudonymousUserKey(alice, TEST_PSEUDONYM_SECRET)],
      )
      expect(a.rows).toHaveLength(1)
      const row = a.rows[0]
      expect(row.actor).toBe('test-operator')
      expect(row.counts.rows).toBeGreaterThanOrEqual(3)
      expect(row.counts.jobs).toBe(3)
      expect(row.counts.exportLines).toBe(3)
      expect(JSON.stringify(row)).not.toContain(alice)
      expect(JSON.stringify(row)).not.toContain('Elm Street')
    })
  })

  describe('when the user is erased a second time', () => {
    it('succeeds with zero counts (and is audited again)', async () => {
      const r = await sut.eraseUser({ igUserId: alice, actor: 'test-operator' })
      expect(r.empty).toBe(true)
      expect(r.counts.rows).toBe(0)
      expect(Object.values(r.counts.tables).every((n) => n === 0)).toBe(true)
      expect(r.counts.jobs).toBe(0)
      expect(r.counts.exportLines).toBe(0)
      const a = await pool.query('select count(*)::int as n from gdpr_erasures where user_key = $1', [
        pseudonymousUserKey(alice, TEST_PSEUDONYM_SECRET),
      ])
      expect(a.rows[0].n).toBe(2)
    })
  })
})

describe('gdpr eraseUser with real export files', () => {
  it('removes the user’s lines from export files through the exporter’s manifest hook', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopdm-mem-gdpr-'))
    const cfg = testConfig({ EXPORT_DIR: dir })
    const erin = uniqueId('erin')
    const frank = uniqueId('frank')
    try {
      // A private window in 2001 so this backfill export holds only these rows.
      for (const [i, [u, role, content]] of (
        [
          [erin, 'user', 'erin asks about the linen dress'],
          [erin, 'assistant', 'erin gets an answer'],
          [frank, 'user', 'frank asks about shipping'],
          [frank, 'assistant', 'frank gets an answer'],
        ] as const
      ).entries())
        await pool.query(
          `insert into conversation_messages (ig_user_id, role, content, created_at)
           values ($1, $2, $3, timestamptz '2001-02-03T04:05:00Z' + make_interval(secs => $4))`,
          [u, role, content, i],
        )
      const exporter = createExportService({
        db: pool,
        config: cfg,
        logger: createLogger({ level: 'silent' }),
      })
      await exporter.run({
        trigger: 'manual',
        dryRun: false,
        since: '2001-02-03T04:00:00Z',
        until: '2001-02-03T05:00:00Z',
      })
      const text = () =>
        readdirSync(dir)
          .filter((f) => f.endsWith('.jsonl'))
          .map((f) => readFileSync(join(dir, f), 'utf8'))
          .join('')
      expect(text()).toContain('erin asks')
      const svc = createGdprService({ db: pool, config: cfg, dmJobs: createDmJobsRepository(queue) })
      const r = await svc.eraseUser({ igUserId: erin, actor: 'test' })
      expect(r.counts.exportLines).toBeGreaterThanOrEqual(1)
      expect(r.counts.exportFiles).toBeGreaterThanOrEqual(1)
      expect(text()).not.toContain('erin')
      expect(text()).toContain('frank asks')
      const again = await svc.eraseUser({ igUserId: erin, actor: 'test' })
      expect(again.counts.exportLines).toBe(0)
      expect(again.empty).toBe(true)
    } finally {
      await pool.query('delete from conversation_messages where ig_user_id = any($1)', [[erin, frank]])
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('gdpr eraseUser and the provider’s copies of uploaded training files', () => {
  it('deletes an idle copy at once and marks one a running fine-tune reads for deletion when it ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopdm-mem-gdpr-provider-'))
    const openai = await startOpenAILocal({ port: 0 })
    const cfg = testConfig({ EXPORT_DIR: dir, OPENAI_BASE_URL: openai.baseURL })
    const sdk = createOpenAISdk({ config: cfg })
    const gina = uniqueId('gina')
    const sha = uniqueId('sha')
    try {
      for (const [i, [role, content]] of (
        [
          ['user', 'gina asks about the wool coat'],
          ['assistant', 'gina gets an answer'],
        ] as const
      ).entries())
        await pool.query(
          `insert into conversation_messages (ig_user_id, role, content, created_at)
           values ($1, $2, $3, timestamptz '2002-03-04T05:06:00Z' + make_interval(secs => $4))`,
          [gina, role, content, i],
        )
      await createExportService({ db: pool, config: cfg, logger: createLogger({ level: 'silent' }) }).run({
        trigger: 'manual',
        dryRun: false,
        since: '2002-03-04T05:00:00Z',
        until: '2002-03-04T06:00:00Z',
      })
      const daily = join(dir, readdirSync(dir).find((f) => /^fine_tune_.*\.jsonl$/.test(f)) ?? 'missing')
      // A second data file (with its manifest) holding the same lines, as the master would.
      const master = join(dir, MASTER_FILE)
      copyFileSync(daily, master)
      copyFileSync(`${daily}.manifest`, `${master}.manifest`)
      // Both were uploaded by the tuner; a fine-tune still reads the master's copy.
      const upload = async (file: string) => {
        const f = await sdk.files.create({
          file: await toFile(readFileSync(file), basename(file)),
          purpose: 'fine-tune',
        })
        writeUploadedMarker(file, { fileId: f.id, sha256: 'as-uploaded', at: new Date().toISOString() })
        return f.id
      }
      const idle = await upload(daily)
      const busy = await upload(master)
      const ft = await pool.query<{ id: number }>(
        `insert into finetune_jobs (file_sha256, file_path, base_model, n_epochs, examples, tokens,
                                    estimated_cost_usd, status, provider_file_id, deadline_at)
         values ($1, $2, 'gpt-4o-mini', 1, 1, 10, 0, 'running', $3, now() + interval '1 day') returning id`,
        [sha, master, busy],
      )

      const svc = createGdprService({ db: pool, config: cfg, dmJobs: createDmJobsRepository(queue), sdk })
      const r = await svc.eraseUser({ igUserId: gina, actor: 'test' })
      expect(r.counts).toMatchObject({
        exportUploadedFiles: 2,
        providerFilesDeleted: 1,
        providerFilesAlreadyGone: 0,
        providerFilesDeferred: 1,
        providerFilesFailed: 0,
      })
      expect(r.counts.providerFileIds).toEqual({
        deleted: [idle],
        alreadyGone: [],
        deferred: [busy],
        failed: [],
      })
      await expect(sdk.files.retrieve(idle)).rejects.toMatchObject({ status: 404 })
      expect(existsSync(`${daily}.uploaded`)).toBe(false)
      expect((await sdk.files.retrieve(busy)).id).toBe(busy)
      const flag = await pool.query(
        'select provider_file_delete_when_done as w from finetune_jobs where file_sha256 = $1',
        [sha],
      )
      expect(flag.rows[0].w).toBe(true)

      // The fine-tune ends: the tuner's terminal step deletes the copy it was asked to (even with
      // FT_DELETE_TRAINING_FILES off).
      await pool.query(`update finetune_jobs set status = 'succeeded' where file_sha256 = $1`, [sha])
      const ended = await deleteEndedJobCopy({
        db: pool,
        finetuneJobId: Number(ft.rows[0]?.id),
        fileId: busy,
        always: false,
        deleter: async (id) => {
          await sdk.files.delete(id)
        },
        logger: createLogger({ level: 'silent' }),
      })
      expect(ended).toBe('deleted')
      await expect(sdk.files.retrieve(busy)).rejects.toMatchObject({ status: 404 })
      // A later erase reports it as already gone, not as deleted again.
      const again = await svc.eraseUser({ igUserId: gina, actor: 'test' })
      expect(again.counts.providerFilesDeleted).toBe(0)
    } finally {
      await pool.query('delete from finetune_jobs where file_sha256 = $1', [sha])
      await pool.query('delete from conversation_messages where ig_user_id = $1', [gina])
      await openai.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('without provider access it keeps the copies and says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopdm-mem-gdpr-noprovider-'))
    const cfg = testConfig({ EXPORT_DIR: dir })
    const file = join(dir, 'fine_tune_2002-01-01.jsonl')
    // Uploaded, with its provider id, but this service has no SDK to delete it with.
    writeUploadedMarker(file, { fileId: 'file-x', sha256: 'as-uploaded', at: new Date().toISOString() })
    const svc = createGdprService({
      db: pool,
      config: cfg,
      dmJobs: createDmJobsRepository(queue),
      exportEraser: async () => ({
        files: 1,
        lines: 2,
        uploadedFiles: 1,
        uploaded: [file],
      }),
    })
    try {
      const r = await svc.eraseUser({ igUserId: uniqueId('hank'), actor: 'test' })
      expect(r.counts).toMatchObject({
        providerFilesDeleted: 0,
        providerFilesDeferred: 0,
        providerFilesFailed: 1,
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('gdpr eraseUser when Redis is unreachable', () => {
  it('fails as unavailable (503) before deleting anything', async () => {
    const dead = createQueue(DM_QUEUE, { config: testConfig({ REDIS_URL: 'redis://127.0.0.1:1' }) })
    const svc = createGdprService({
      db: pool,
      config,
      dmJobs: createDmJobsRepository(dead, { connectTimeoutMs: 1000 }),
    })
    const dave = uniqueId('dave')
    await seedUser(dave)
    try {
      await expect(svc.eraseUser({ igUserId: dave, actor: 'test' })).rejects.toMatchObject({
        statusCode: 503,
      })
      expect(
        (await createGdprRepository(pool, { pseudonymSecret: TEST_PSEUDONYM_SECRET }).countUserRows(dave))
          .conversation_messages,
      ).toBe(2)
    } finally {
      await dead.close().catch(() => {})
      await sut.eraseUser({ igUserId: dave, actor: 'test-cleanup' })
    }
  }, 20_000)
})

describe('DELETE /admin/users/:igUserId', () => {
  let app: FastifyInstance
  const token = 'test-admin-token'

  beforeAll(async () => {
    app = Fastify()
    // The gateway's admin scope: its real bearer hook (onRequest, so 401 comes before validation).
    await app.register(
      async (admin) => {
        admin.addHook('onRequest', adminAuthHook(token))
        await admin.register(createUsersRoutes({ gdpr: sut }), { deps: {} as AppDeps })
      },
      { prefix: '/admin' },
    )
    await app.ready()
  })
  afterAll(async () => {
    await app?.close()
  })

  describe('when the token is missing', () => {
    it('answers 401 before looking at the id (even an invalid one)', async () => {
      const ok = await app.inject({ method: 'DELETE', url: `/admin/users/${uniqueId('u')}` })
      expect(ok.statusCode).toBe(401)
      const bad = await app.inject({ method: 'DELETE', url: '/admin/users/bad%20id%21' })
      expect(bad.statusCode).toBe(401)
    })
  })

  describe('when authenticated', () => {
    it('answers 400 for an invalid id', async () => {
      const r = await app.inject({
        method: 'DELETE',
        url: '/admin/users/bad%20id%21',
        headers: { authorization: `Bearer ${token}` },
      })
      expect(r.statusCode).toBe(400)
    })

    it('erases the user and answers 200 with counts; a second call answers 200 with zeros', async () => {
      const carol = uniqueId('carol')
      await seedUser(carol)
      const headers = { authorization: `Bearer ${token}`, 'x-loopdm-actor': 'ops@example' }
      const first = await app.inject({ method: 'DELETE', url: `/admin/users/${carol}`, headers })
      expect(first.statusCode).toBe(200)
      const body = first.json()
      expect(body.erased).toBe(true)
      expect(body.counts.tables.conversation_messages).toBe(2)
      expect(body.userKey).toBe(pseudonymousUserKey(carol, TEST_PSEUDONYM_SECRET))
      const second = await app.inject({ method: 'DELETE', url: `/admin/users/${carol}`, headers })
      expect(second.statusCode).toBe(200)
      expect(second.json().erased).toBe(false)
      expect(second.json().counts.rows).toBe(0)
      const audit = await pool.query('select actor from gdpr_erasures where user_key = $1', [
        pseudonymousUserKey(carol, TEST_PSEUDONYM_SECRET),
      ])
      expect(audit.rows.map((r) => r.actor)).toEqual(['ops@example', 'ops@example'])
    })
  })
})
