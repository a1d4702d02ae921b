import { type FakeGraph, startFakeGraph } from '@loopdm/testing/fake-graph'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { waitFor } from '@loopdm/testing/wait'
import { newMid } from '@loopdm/testing/webhook'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromCustomer, jobOutcome, metaBody } from './support/meta.js'
import { buildTestGateway, igUser, type TestGateway } from './support/test-gateway.js'

/** Send API faults as Meta documents them, injected at the fake Graph API, through the real pipeline. */
describe('Send API faults', () => {
  let sut: TestGateway
  let graph: FakeGraph
  let openai: OpenAILocal
  beforeAll(async () => {
    graph = await startFakeGraph()
    openai = await startOpenAILocal({ port: 0 })
    sut = await buildTestGateway({ graph, openai, gateway: { heldRetryMs: 300 } })
  })
  afterAll(async () => {
    await sut?.close()
    await graph?.close()
    await openai?.close()
  })

  const dm = async (g: TestGateway, user: string, text: string, timestamp = Date.now()) => {
    const mid = newMid()
    const res = await g.postWebhook(metaBody([fromCustomer(user, { timestamp, message: { mid, text } })]))
    expect(res.statusCode).toBe(200)
    return mid
  }
  const metric = async (g: TestGateway, line: string) => {
    const text = await g.gateway.metrics.registry.metrics()
    const hit = text.split('\n').find((l) => l.startsWith(line))
    return hit ? Number(hit.split(' ').pop()) : 0
  }

  it('613 (rate limit) as HTTP 400 is retried with backoff, then sent', async () => {
    const user = igUser()
    sut.graph.failNext(1, 400, {
      error: { code: 613, message: 'Calls to this api have exceeded the rate limit.' },
    })
    const mid = await dm(sut, user, 'hello, do you have linen shirts?')
    const [row] = await sut.waitForReplies([mid])
    expect(row).toMatchObject({ status: 'sent', attempts: 2 })
    expect(sut.graph.failures.filter((f) => f.recipientId === user).map((f) => f.code)).toEqual([613])
    expect(sut.graph.sendsTo(user).length).toBeGreaterThan(0)
  })

  it('10 / 2534022 (outside the 24-hour window) is permanent: not retried, counted separately', async () => {
    const user = igUser()
    const before = await metric(sut, 'loopdm_sends_total{result="outside_window"}')
    sut.graph.failNext(1, 400, {
      error: { code: 10, error_subcode: 2534022, message: 'This message is sent outside of allowed window.' },
    })
    const mid = await dm(sut, user, 'hello?')
    await waitFor(
      async () => (await sut.gateway.queues.dm.getJob(`dm-${mid}`))?.getState().then((s) => s === 'failed'),
      {
        what: 'the job failed for good',
      },
    )
    const [row] = await sut.outbox.findByMid(mid)
    expect(row).toMatchObject({ status: 'failed', attempts: 1 })
    expect(sut.graph.failures.filter((f) => f.recipientId === user)).toHaveLength(1)
    expect(await metric(sut, 'loopdm_sends_total{result="outside_window"}')).toBe(before + 1)
  })

  it('a customer message older than 24 h is skipped before any completion is paid for', async () => {
    const user = igUser()
    const before = await metric(sut, 'loopdm_dm_skipped_total{reason="outside_window"}')
    const mid = await dm(sut, user, 'are you open?', Date.now() - 25 * 3600_000)
    expect(await jobOutcome(sut.gateway.queues.dm, `dm-${mid}`)).toBe('outside-window')
    expect(await sut.outbox.findByMid(mid)).toEqual([])
    expect(sut.graph.sendsTo(user)).toHaveLength(0)
    expect(await metric(sut, 'loopdm_dm_skipped_total{reason="outside_window"}')).toBe(before + 1)
  })

  it('190 (token expired) holds replies, /readyz says why, and a replaced IG_ACCESS_TOKEN sends them', async () => {
    const user = igUser()
    const expired = {
      code: 190,
      error_subcode: 463,
      type: 'OAuthException',
      message: 'Error validating access token: Session has expired on Tuesday, 01-Dec-26 08:00:00 PST.',
    }
    // Every send fails while the old token is used.
    sut.graph.failNext(1000, 400, { error: expired })
    const mid = await dm(sut, user, 'hi, is the blue shirt back?')
    const ready = await waitFor(
      async () => {
        const r = await sut.gateway.app.inject({ url: '/readyz' })
        return r.statusCode === 503 && r.json()
      },
      { what: '/readyz reporting the token block' },
    )
    expect(ready.checks).toMatchObject({ db: true, redis: true, sending: false })
    expect(ready.sendBlocked.reason).toMatch(/IG_ACCESS_TOKEN.*190/)
    expect(await metric(sut, 'loopdm_send_blocked')).toBe(1)
    expect(sut.logs.some((l) => l.level === 50 && String(l.msg).includes('code 190'))).toBe(true)
    // Held, not failed: the part stays pending and the job waits.
    await waitFor(
      async () => (await sut.gateway.queues.dm.getJob(`dm-${mid}`))?.getState().then((s) => s === 'delayed'),
      {
        what: 'the held job delayed',
      },
    )
    const [row] = await sut.outbox.findByMid(mid)
    expect(row?.status).toBe('pending')
    // A held reply is not re-sent with the refused token: one failure, however long it waits.
    const tried = sut.graph.failures.filter((f) => f.recipientId === user).length
    expect(tried).toBe(1)

    // The operator replaces the token and restarts the gateway (same Redis, same database).
    const prefix = sut.config.redis.prefix
    await sut.close()
    graph.failNext(0, 200)
    sut = await buildTestGateway({
      graph,
      openai,
      env: { QUEUE_PREFIX: prefix, IG_ACCESS_TOKEN: 'refreshed-token' },
      gateway: { heldRetryMs: 300 },
    })
    const [sent] = await sut.waitForReplies([mid], 30_000)
    expect(sent?.status).toBe('sent')
    expect(graph.sendsTo(user).at(-1)?.authorization).toBe('Bearer refreshed-token')
    const r = await sut.gateway.app.inject({ url: '/readyz' })
    expect(r.statusCode).toBe(200)
    expect(r.json().checks.sending).toBe(true)
  })
})
