import { type FakeGraph, startFakeGraph } from '@loopdm/testing/fake-graph'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { classifyGraphError, createGraphSender, GraphSendError } from '../src/services/graph-sender.js'
import { splitReply } from '../src/services/split-reply.js'

/** The Send API's documented error bodies (Graph API error codes; Instagram messaging errors). */
describe('Send API error classification', () => {
  it.each([
    [400, { code: 4, message: 'Application request limit reached' }, 'rate_limit'],
    [400, { code: 17, message: 'User request limit reached' }, 'rate_limit'],
    [400, { code: 32, message: 'Page request limit reached' }, 'rate_limit'],
    [400, { code: 613, message: 'Calls to this api have exceeded the rate limit.' }, 'rate_limit'],
    [403, { code: 1, is_transient: true, message: 'An unknown error occurred' }, 'rate_limit'],
    [400, { code: 190, error_subcode: 463, type: 'OAuthException', message: 'Session has expired' }, 'auth'],
    [
      400,
      { code: 10, error_subcode: 2534022, message: 'This message is sent outside of allowed window.' },
      'outside_window',
    ],
    [400, { code: 100, message: 'Invalid parameter' }, 'permanent'],
    [500, { code: 2, message: 'Service temporarily unavailable' }, 'transient'],
    [429, undefined, 'rate_limit'],
  ] as const)('HTTP %s %j → %s', (status, error, kind) => {
    expect(classifyGraphError(status, error)).toBe(kind)
  })
})

describe('createGraphSender against the fake Graph API', () => {
  let graph: FakeGraph
  beforeAll(async () => {
    graph = await startFakeGraph()
  })
  afterAll(async () => {
    await graph?.close()
  })
  beforeEach(() => graph.reset())
  const sender = (sendPath?: string) =>
    createGraphSender({ graphBaseUrl: graph.baseUrl, accessToken: 'tok', sendPath })

  it('posts to /me/messages by default and to IG_SEND_PATH with {igAccountId} when set', async () => {
    await sender().send({ igAccountId: '1784', recipientId: 'u1', text: 'hi' })
    await sender('/{igAccountId}/messages').send({ igAccountId: '1784', recipientId: 'u1', text: 'hi' })
    expect(graph.sends.map((s) => s.igAccountId)).toEqual(['me', '1784'])
  })

  it('a 200 whose body carries `error` is a failure, not a send', async () => {
    graph.failNext(1, 200, { error: { code: 100, message: 'Invalid parameter' } })
    const err = await sender()
      .send({ igAccountId: 'me', recipientId: 'u1', text: 'hi' })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GraphSendError)
    expect(err).toMatchObject({ kind: 'permanent', status: 200, metaCode: 100 })
  })

  it('carries the Meta code and subcode', async () => {
    graph.failNext(1, 400, { error: { code: 10, error_subcode: 2534022 } })
    const err = await sender()
      .send({ igAccountId: 'me', recipientId: 'u1', text: 'hi' })
      .catch((e: unknown) => e)
    expect(err).toMatchObject({
      kind: 'outside_window',
      metaCode: 10,
      metaSubcode: 2534022,
      retryable: false,
    })
  })

  it.each([
    ['Cyrillic', 'Да, рубашка есть в размерах S, M и L; доставка по России занимает 3–5 дней. '],
    ['CJK', '是的，这件衬衫有S、M和L码，两天内发货。'],
    ['emoji', '👕✨🙌🏽 '],
  ])('a long %s reply is split so that Meta accepts every part (1000-byte limit)', async (_n, unit) => {
    const text = unit.repeat(Math.ceil(2600 / Buffer.byteLength(unit)))
    // Characters alone would fit: the limit is in bytes.
    expect(text.length).toBeLessThan(Buffer.byteLength(text))
    const s = sender()
    for (const part of splitReply(text))
      await s.send({ igAccountId: 'me', recipientId: 'u-bytes', text: part })
    expect(graph.failures).toEqual([])
    const got = graph.sendsTo('u-bytes')
    expect(got.length).toBeGreaterThanOrEqual(3)
    for (const g of got) expect(Buffer.byteLength(g.text)).toBeLessThanOrEqual(1000)
    expect(
      got
        .map((g) => g.text)
        .join('')
        .replace(/\s/g, ''),
    ).toBe(text.replace(/\s/g, ''))
  })

  it('the fake refuses a text over 1000 bytes like Meta does (so the test above can fail)', async () => {
    const err = await sender()
      .send({ igAccountId: 'me', recipientId: 'u1', text: 'я'.repeat(501) })
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ kind: 'permanent', metaCode: 100 })
  })
})
