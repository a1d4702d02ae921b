import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DM_JOB, DM_JOB_OPTIONS, DM_QUEUE, dmJobId } from '@loopdm/queues/contracts'
import { uniqueId } from '@loopdm/testing/fixtures'
import { Job, type Queue } from 'bullmq'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MemoryPort } from '../src/services/memory.port.js'
import {
  buildTestGateway,
  igUser,
  TEST_ADMIN_TOKEN,
  TEST_IG_ACCOUNT,
  type TestGateway,
} from './support/test-gateway.js'

/**
 * A GDPR erase racing the reply worker, on a real gateway (Redis, embedded Postgres, openai-local,
 * fake Graph API): whatever the interleaving, nothing of the user is left once the erase answers
 * and their jobs have run — a reply being written is finished and erased, a queued DM is dropped.
 */
describe('GDPR erase while the user’s DMs are being answered', () => {
  let sut: TestGateway
  let queue: Queue
  let exportDir: string
  let release: () => void = () => {}
  let held = false
  beforeAll(async () => {
    exportDir = mkdtempSync(join(tmpdir(), 'loopdm-gdpr-inflight-'))
    // Recall of a DM containing "hold" waits until the test releases it: a reply caught mid-way.
    const gate = new Promise<void>((r) => {
      release = r
    })
    const memory: MemoryPort = {
      async recall({ text }) {
        if (text.includes('hold')) {
          held = true
          await gate
        }
        return { messages: [], recalled: 0 }
      },
      afterStore() {},
    }
    sut = await buildTestGateway({
      env: { EXPORT_DIR: exportDir },
      // Every gateway mounts the admin erase route (DELETE /admin/users/:igUserId).
      gateway: { memory },
    })
    queue = sut.gateway.queues[DM_QUEUE]
  })
  afterAll(async () => {
    release()
    await sut?.close()
    rmSync(exportDir, { recursive: true, force: true })
  })

  const erase = (user: string) =>
    sut.gateway.app.inject({
      method: 'DELETE',
      url: `/admin/users/${user}`,
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    })
  const finished = async (mid: string) => {
    await expect
      .poll(async () => (await Job.fromId(queue, dmJobId(mid)))?.finishedOn ?? 0, { timeout: 20_000 })
      .toBeGreaterThan(0)
    return Job.fromId(queue, dmJobId(mid))
  }
  const leftOf = async (user: string) => {
    const r = await sut.pool.query<{ turns: number; outbox: number }>(
      `select (select count(*)::int from conversation_messages where ig_user_id = $1) as turns,
              (select count(*)::int from outbox where ig_user_id = $1) as outbox`,
      [user],
    )
    return r.rows[0]
  }

  describe('when a reply is half-way written and another DM of the user waits behind it', () => {
    it('finishes that reply first, then erases everything; the waiting DM is never stored', async () => {
      const user = igUser()
      const first = await sut.dm({ user, text: 'hold on: my address is 5 Elm Street' })
      await expect.poll(() => held, { timeout: 10_000 }).toBe(true)
      const second = await sut.dm({ user, text: 'and my phone is 0176 1234567' })
      expect([first.status, second.status]).toEqual([200, 200])

      let erased = false
      const pending = erase(user).then((res) => {
        erased = true
        return res
      })
      // The erase waits for the user's reply lock while the first reply is being written.
      await new Promise((r) => setTimeout(r, 400))
      expect(erased).toBe(false)
      release()
      const res = await pending
      expect(res.statusCode, res.body).toBe(200)

      await finished(first.mid)
      await finished(second.mid)
      expect(await leftOf(user)).toEqual({ turns: 0, outbox: 0 })
    }, 40_000)
  })

  describe('when a DM is still queued at the erase', () => {
    it('scrubs the job; the worker then completes it without storing or answering', async () => {
      const user = igUser()
      const mid = uniqueId('mid-queued')
      await sut.gateway.worker?.pause()
      try {
        const { status } = await sut.dm({ user, mid, text: 'please delete me, my email is a@b.co' })
        expect(status).toBe(200)
        const res = await erase(user)
        expect(res.statusCode, res.body).toBe(200)
        expect(res.json().counts.jobs).toBe(1)
        const job = await Job.fromId(queue, dmJobId(mid))
        expect(job?.data).toEqual({ erased: true })
      } finally {
        sut.gateway.worker?.resume()
      }
      expect((await finished(mid))?.returnvalue).toBe('erased')
      expect(sut.graph.sendsTo(user)).toHaveLength(0)
      expect(await leftOf(user)).toEqual({ turns: 0, outbox: 0 })
    }, 40_000)
  })

  describe('when a job the erase did not reach still carries a DM that arrived before it', () => {
    it('drops that DM, and answers a DM that arrived after the erase as usual', async () => {
      const user = igUser()
      const res = await erase(user)
      expect(res.statusCode).toBe(200)
      const erasedAt = new Date(res.json().at as string).getTime()
      const payload = (mid: string, receivedAt: number) => ({
        mid,
        igUserId: user,
        igAccountId: TEST_IG_ACCOUNT,
        text: 'is the blue scarf in stock?',
        attachments: [],
        timestamp: receivedAt,
        receivedAt,
      })
      const before = uniqueId('mid-before')
      const after = uniqueId('mid-after')
      await queue.add(DM_JOB.message, payload(before, erasedAt - 1000), {
        ...DM_JOB_OPTIONS,
        jobId: dmJobId(before),
      })
      expect((await finished(before))?.returnvalue).toBe('erased')
      expect(await leftOf(user)).toEqual({ turns: 0, outbox: 0 })

      await queue.add(DM_JOB.message, payload(after, Date.now()), {
        ...DM_JOB_OPTIONS,
        jobId: dmJobId(after),
      })
      expect((await finished(after))?.returnvalue).toBe('answered')
      expect(await leftOf(user)).toEqual({ turns: 2, outbox: 1 })
      expect(
        sut.logs.some((l) => l.msg === 'dm dropped: its sender was erased (GDPR) after it arrived'),
      ).toBe(true)
    }, 40_000)
  })
})
