import { waitFor } from '@loopdm/testing/wait'
import { UnrecoverableError } from 'bullmq'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { processDmMessage } from '../src/jobs/dm.processor.js'
import type { GatewayMetrics } from '../src/metrics.js'
import { gatewayForSuite } from './support/suite-gateway.js'
import { buildTestGateway, dmWebhookBody, igUser, type TestGateway } from './support/test-gateway.js'

/**
 * Issue 17, "a DM is answered once the world recovers": retries are time-based (no attempt is
 * spent on provider/send errors or on a busy user lock), a DM past DM_MAX_AGE_MS is recorded
 * expired, the redrive sweep moves delayed DMs forward once the provider answers, and an earlier
 * pending message's failure stays its own. Time constants are configured down to milliseconds.
 */

const counter = async (m: GatewayMetrics, name: 'dmExpired' | 'dmRedriven') =>
  (await m[name].get()).values.reduce((a, v) => a + v.value, 0)
/**
 * The job once completed: BullMQ counts the successful run as its one attempt made. It is read
 * again after its state says completed: a copy read just before it completed still says 0.
 */
const completedJob = (sut: TestGateway, mid: string) =>
  waitFor(
    async () => {
      const j = await sut.gateway.queues.dm.getJob(`dm-${mid}`)
      if (!j || (await j.getState()) !== 'completed') return undefined
      return sut.gateway.queues.dm.getJob(`dm-${mid}`)
    },
    { what: `job of ${mid} completed` },
  )
const sendsWith = async (m: GatewayMetrics, result: string) =>
  (await m.sends.get()).values.find((v) => v.labels.result === result)?.value ?? 0

describe('dm retries', () => {
  describe('when the provider is down for longer than the old 8-attempt horizon', () => {
    let sut: TestGateway
    gatewayForSuite(
      {
        env: {
          OPENAI_MAX_RETRIES: '0',
          DM_RETRY_BASE_DELAY_MS: '20',
          DM_RETRY_MAX_DELAY_MS: '150',
          DM_REDRIVE_INTERVAL_MS: '0',
        },
      },
      (g) => {
        sut = g
      },
    )

    it('keeps the job delayed without spending attempts and answers it once the provider is back', async () => {
      const user = igUser()
      sut.openai.faults.failNext(100_000, 503, { paths: '/chat/completions' })
      const { mid, status } = await sut.dm({ user, text: 'is the blue one back?' })
      expect(status).toBe(200)
      const job = await waitFor(
        async () => {
          const j = await sut.gateway.queues.dm.getJob(`dm-${mid}`)
          return j && (j.attemptsStarted ?? 0) > 12 && j
        },
        { what: 'more tries than the old 8 attempts', timeoutMs: 60_000 },
      )
      expect(job.attemptsMade).toBe(0)
      expect(await job.getState()).not.toBe('failed')
      expect(sut.graph.sendsTo(user)).toHaveLength(0)
      sut.openai.faults.reset()
      await sut.waitForReplies([mid], 30_000)
      // Only the successful run counts as an attempt: the outage spent none.
      expect((await completedJob(sut, mid)).attemptsMade).toBe(1)
      const rows = await sut.outbox.findByMid(mid)
      expect(sut.graph.sendsTo(user)).toHaveLength(rows.length)
      // Meta re-delivers the same mid: the completed job id still de-duplicates it.
      const again = await sut.postWebhook(dmWebhookBody({ user, mid, text: 'is the blue one back?' }))
      expect(again.statusCode).toBe(200)
      expect(sut.graph.sendsTo(user)).toHaveLength(rows.length)
      expect(sut.logs.some((l) => l.msg === 'job failed')).toBe(false)
      expect(JSON.stringify(sut.logs)).not.toContain('is the blue one back?')
    })

    it('retries 5xx from the Graph API by time and never re-sends a delivered part', async () => {
      const user = igUser()
      sut.graph.failNext(15, 503)
      const { mid } = await sut.dm({ user, text: 'hello there' })
      await sut.waitForReplies([mid], 60_000)
      const rows = await sut.outbox.findByMid(mid)
      expect(rows.every((r) => r.status === 'sent')).toBe(true)
      expect(sut.graph.sendsTo(user)).toHaveLength(rows.length)
      expect((await completedJob(sut, mid)).attemptsMade).toBe(1)
    })

    it('delays a job whose user lock is busy instead of spending an attempt on the wait', async () => {
      const user = igUser()
      let release!: () => void
      const released = new Promise<void>((r) => {
        release = r
      })
      let held!: () => void
      const holding = new Promise<void>((r) => {
        held = r
      })
      const holder = sut.gateway.dmDeps.order.withUserLock(user, async () => {
        held()
        await released
      })
      await holding
      const { mid } = await sut.dm({ user, text: 'anyone there?' })
      await waitFor(
        async () => ((await sut.gateway.queues.dm.getJob(`dm-${mid}`))?.attemptsStarted ?? 0) >= 2,
        { what: 'the busy-lock job to be delayed and tried again', timeoutMs: 30_000 },
      )
      release()
      await holder
      await sut.waitForReplies([mid], 30_000)
      const job = await completedJob(sut, mid)
      expect(job.attemptsMade).toBe(1)
      expect(job.attemptsStarted).toBeGreaterThanOrEqual(2)
      expect(sut.graph.sendsTo(user)).toHaveLength((await sut.outbox.findByMid(mid)).length)
    })
  })

  describe('when the DM gets older than DM_MAX_AGE_MS before the provider answers', () => {
    let sut: TestGateway
    gatewayForSuite(
      {
        env: {
          OPENAI_MAX_RETRIES: '0',
          DM_MAX_AGE_MS: '1500',
          DM_RETRY_BASE_DELAY_MS: '20',
          DM_RETRY_MAX_DELAY_MS: '200',
          DM_REDRIVE_INTERVAL_MS: '0',
        },
      },
      (g) => {
        sut = g
      },
    )

    it('records it expired (row, metric, warn log with the mid) and never answers it', async () => {
      const user = igUser()
      sut.openai.faults.failNext(100_000, 503, { paths: '/chat/completions' })
      const { mid } = await sut.dm({ user, text: 'my secret question' })
      const rows = await waitFor(
        async () => {
          const r = await sut.outbox.findByMid(mid)
          return r[0]?.status === 'expired' && r
        },
        { what: 'the DM to expire', timeoutMs: 30_000 },
      )
      expect(rows).toHaveLength(1)
      expect(await counter(sut.gateway.metrics, 'dmExpired')).toBe(1)
      const line = sut.logs.find((l) => l.mid === mid && String(l.msg).startsWith('dm expired'))
      expect(line?.level).toBe(40)
      expect((await completedJob(sut, mid)).returnvalue).toBe('expired')
      sut.openai.faults.reset()
      // A late re-run (e.g. a redrive) does not answer an expired DM either.
      const payload = await sut.gateway.dmDeps.loadPayload(mid)
      expect(await processDmMessage(payload!.payload, sut.gateway.dmDeps)).toBe('expired')
      expect(sut.graph.sendsTo(user)).toHaveLength(0)
      expect(JSON.stringify(sut.logs)).not.toContain('my secret question')
    })
  })

  describe('when the provider recovers while DMs wait out a long backoff', () => {
    let sut: TestGateway
    gatewayForSuite(
      {
        env: {
          OPENAI_MAX_RETRIES: '0',
          // One failure parks the DM for a minute; only the redrive sweep can bring it back sooner.
          DM_RETRY_BASE_DELAY_MS: '60000',
          DM_RETRY_MAX_DELAY_MS: '60000',
          DM_REDRIVE_INTERVAL_MS: '0',
        },
      },
      (g) => {
        sut = g
      },
    )

    it('redrives the delayed DM as soon as the health probe succeeds, not before', async () => {
      const user = igUser()
      sut.openai.faults.failNext(100_000, 503)
      const { mid } = await sut.dm({ user, text: 'do you ship to Austria?' })
      await waitFor(async () => (await sut.gateway.queues.dm.getJob(`dm-${mid}`))?.isDelayed(), {
        what: 'the DM to be delayed',
        timeoutMs: 30_000,
      })
      // The provider (the probe) is still down: nothing moves.
      expect(await sut.gateway.redrive.sweep()).toBe(0)
      expect(await sut.gateway.queues.dm.getJob(`dm-${mid}`).then((j) => j?.isDelayed())).toBe(true)
      sut.openai.faults.reset()
      expect(await sut.gateway.redrive.sweep()).toBeGreaterThanOrEqual(1)
      await sut.waitForReplies([mid], 30_000)
      expect(await counter(sut.gateway.metrics, 'dmRedriven')).toBeGreaterThanOrEqual(1)
      expect(sut.graph.sendsTo(user)).toHaveLength((await sut.outbox.findByMid(mid)).length)
    })
  })
})

describe('an earlier pending message', () => {
  let sut: TestGateway
  beforeAll(async () => {
    // No worker: the test runs M2's job itself, so M1 is answered inside it.
    sut = await buildTestGateway({ worker: false })
  })
  afterAll(async () => {
    await sut?.close()
  })

  const twoDms = async () => {
    const user = igUser()
    const m1 = await sut.dm({ user, text: 'first question' })
    const m2 = await sut.dm({ user, text: 'second question' })
    const p2 = await sut.gateway.dmDeps.loadPayload(m2.mid)
    return { user, m1: m1.mid, m2: m2.mid, p2: p2!.payload }
  }

  describe('when answering it inside the later job fails permanently (Graph 400)', () => {
    it('fails only the earlier message; the later one is answered', async () => {
      const { user, m1, m2, p2 } = await twoDms()
      sut.graph.failNext(1, 400)
      expect(await processDmMessage(p2, sut.gateway.dmDeps)).toBe('answered')
      expect((await sut.outbox.findByMid(m1))[0]?.status).toBe('failed')
      const later = await sut.outbox.findByMid(m2)
      expect(later.every((r) => r.status === 'sent')).toBe(true)
      expect(sut.graph.sendsTo(user)).toHaveLength(later.length)
      expect(
        sut.logs.some((l) => l.mid === m1 && String(l.msg).startsWith('earlier pending dm failed')),
      ).toBe(true)
    })
  })

  describe('when answering it inside the later job fails retryably (Graph 500)', () => {
    it('delays the later job (a retryable error, never Unrecoverable) and keeps arrival order', async () => {
      const { user, m1, m2, p2 } = await twoDms()
      sut.graph.failNext(1, 500)
      const err = await processDmMessage(p2, sut.gateway.dmDeps).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(Error)
      expect(err).not.toBeInstanceOf(UnrecoverableError)
      expect(await sut.outbox.findByMid(m2)).toHaveLength(0)
      expect(await processDmMessage(p2, sut.gateway.dmDeps)).toBe('answered')
      const first = await sut.outbox.findByMid(m1)
      const second = await sut.outbox.findByMid(m2)
      const sends = sut.graph.sendsTo(user).map((s) => s.text)
      expect(sends).toEqual([...first, ...second].map((r) => r.text))
      expect(await sendsWith(sut.gateway.metrics, 'retry')).toBeGreaterThanOrEqual(1)
    })
  })
})
