import { type FakeGraph, startFakeGraph } from '@loopdm/testing/fake-graph'
import { testDatabaseUrl, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { type GatewayProc, sendDm, spawnGateway } from '@loopdm/testing/gateway-proc'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { waitFor } from '@loopdm/testing/wait'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { GatewayMetrics } from '../src/metrics.js'
import { createOutboxRepository } from '../src/repositories/outbox.repository.js'
import { buildTestGateway, igUser, type TestGateway } from './support/test-gateway.js'

/**
 * Issue 17, "at-least-once is honest": a part is recorded `sending` (timestamped, claimed) before
 * its POST. A gateway killed (-9) between the POST and markDelivered, or a POST that times out,
 * leaves it `sending`; the retry finds it older than the send timeout and settles it `unknown`
 * ("maybe sent": counted, logged, not re-sent) — or re-sends it with DM_RESEND_MAYBE_SENT.
 */

const sendsWith = async (m: GatewayMetrics, result: string) =>
  (await m.sends.get()).values.find((v) => v.labels.result === result)?.value ?? 0

const FAST = {
  DM_RETRY_BASE_DELAY_MS: '50',
  DM_RETRY_MAX_DELAY_MS: '200',
  DM_REDRIVE_INTERVAL_MS: '0',
}

describe('maybe-sent parts', () => {
  let openai: OpenAILocal
  let graph: FakeGraph
  beforeAll(async () => {
    openai = await startOpenAILocal({ port: 0, ftStepMs: 20 })
    graph = await startFakeGraph()
  })
  afterAll(async () => {
    await graph?.close()
    await openai?.close()
  })

  describe('when the gateway is killed (-9) between the POST and markDelivered', () => {
    let child: GatewayProc | undefined
    let sut: TestGateway | undefined
    afterAll(async () => {
      await child?.kill()
      await sut?.close()
    })

    it('does not re-send the part after the restart; it is counted unknown', async () => {
      const prefix = uniqueId('test-maybe')
      const shared = {
        DATABASE_URL: testDatabaseUrl(),
        REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
        QUEUE_PREFIX: prefix,
        MODEL_CHANNEL: `${prefix}:model:active`,
        OPENAI_BASE_URL: openai.baseURL,
        IG_GRAPH_BASE_URL: graph.baseUrl,
        IG_ACCESS_TOKEN: 'test-ig-access-token',
        MEMORY_ENABLED: 'false',
        // A killed gateway's job is taken over one second later.
        DM_JOB_LOCK_MS: '1000',
        ...FAST,
      }
      child = await spawnGateway('gw-killed', { ...shared, DM_SEND_TIMEOUT_MS: '30000' })
      const user = igUser()
      // Meta takes its time to answer: the gateway is killed while the POST is in flight.
      graph.setLatency(8000)
      const { mid, status } = await sendDm(child.url, { user, text: 'is it waterproof?' })
      expect(status).toBe(200)
      const pool = await testPool(2)
      const outbox = createOutboxRepository(pool)
      const sending = await waitFor(
        async () => {
          const rows = await outbox.findByMid(mid)
          return rows?.[0]?.status === 'sending' && rows
        },
        { what: 'the part claimed as sending', timeoutMs: 60_000 },
      )
      expect(sending[0]?.sendingAt).toBeInstanceOf(Date)
      // The part is claimed before its POST is written: kill only once the POST has reached Meta.
      await waitFor(() => graph.arrivedFor(user) === 1, {
        what: 'the POST arrived at Meta, unanswered',
        timeoutMs: 30_000,
      })
      expect(graph.sendsTo(user)).toHaveLength(0)
      await child.kill()
      // The POST did reach Meta (it answers after the crash): the customer has the message.
      await waitFor(() => graph.sendsTo(user).length === 1, {
        what: 'the in-flight POST delivered',
        timeoutMs: 30_000,
      })
      await pool.end()
      graph.setLatency(0)
      sut = await buildTestGateway({ env: { ...shared, DM_SEND_TIMEOUT_MS: '500' }, openai, graph })
      const rows = await waitFor(
        async () => {
          const r = await sut?.outbox.findByMid(mid)
          return r?.[0]?.status === 'unknown' && r
        },
        { what: 'the part settled as maybe sent', timeoutMs: 60_000 },
      )
      expect(rows).toHaveLength(1)
      await waitFor(
        async () =>
          (await sut?.gateway.queues.dm.getJob(`dm-${mid}`))?.getState().then((s) => s === 'completed'),
        { what: 'the job completed' },
      )
      expect(graph.sendsTo(user)).toHaveLength(1)
      expect(await sendsWith(sut.gateway.metrics, 'unknown')).toBe(1)
      const line = sut.logs.find((l) => l.mid === mid && String(l.msg).startsWith('reply part maybe sent'))
      expect(line?.level).toBe(40)
    }, 180_000)
  })

  describe('when a POST takes longer than DM_SEND_TIMEOUT_MS', () => {
    let sut: TestGateway
    beforeAll(async () => {
      sut = await buildTestGateway({ env: { ...FAST, DM_SEND_TIMEOUT_MS: '300' }, openai, graph })
    })
    afterAll(async () => {
      graph.setLatency(0)
      await sut?.close()
    })

    it('is aborted, settled unknown on the retry and not sent twice', async () => {
      const user = igUser()
      graph.setLatency(1500)
      const { mid } = await sut.dm({ user, text: 'can I pay by card?' })
      const rows = await waitFor(
        async () => {
          const r = await sut.outbox.findByMid(mid)
          return r.length > 0 && r.every((x) => x.status === 'unknown') && r
        },
        { what: 'the timed-out part settled unknown', timeoutMs: 30_000 },
      )
      await waitFor(() => graph.sendsTo(user).length === rows.length, { what: 'Meta got the slow POST' })
      await waitFor(
        async () =>
          (await sut.gateway.queues.dm.getJob(`dm-${mid}`))?.getState().then((s) => s === 'completed'),
        { what: 'the job completed' },
      )
      expect(graph.sendsTo(user)).toHaveLength(rows.length)
      expect(await sendsWith(sut.gateway.metrics, 'unknown')).toBe(rows.length)
    })
  })

  describe('when DM_RESEND_MAYBE_SENT=true and a POST times out', () => {
    let sut: TestGateway
    beforeAll(async () => {
      sut = await buildTestGateway({
        env: { ...FAST, DM_SEND_TIMEOUT_MS: '300', DM_RESEND_MAYBE_SENT: 'true' },
        openai,
        graph,
      })
    })
    afterAll(async () => {
      graph.setLatency(0)
      await sut?.close()
    })

    it('re-sends the part (at-least-once: the customer may get it twice)', async () => {
      const user = igUser()
      graph.setLatency(1500)
      const { mid } = await sut.dm({ user, text: 'do you have it in red?' })
      await waitFor(() => sut.logs.some((l) => l.mid === mid && l.msg === 'reply send failed'), {
        what: 'the first POST to time out',
        timeoutMs: 30_000,
      })
      graph.setLatency(0)
      const [row] = await sut.waitForReplies([mid], 30_000)
      expect(row?.status).toBe('sent')
      await waitFor(() => graph.sendsTo(user).length >= 2, { what: 'the slow and the re-sent POST' })
      expect(sut.logs.some((l) => l.mid === mid && String(l.msg).includes('re-sending'))).toBe(true)
    })
  })
})
