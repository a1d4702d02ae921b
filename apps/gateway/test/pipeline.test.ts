import { encodeActiveModelMessage } from '@loopdm/models/hotswap'
import { createRedis } from '@loopdm/redis/client'
import { FT_PAIRS, fineTuneModel } from '@loopdm/testing/fine-tune'
import { waitFor } from '@loopdm/testing/wait'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MemoryPort } from '../src/services/memory.port.js'
import { buildTestGateway, igUser, type TestGateway } from './support/test-gateway.js'

describe('reply pipeline', () => {
  let sut: TestGateway
  beforeAll(async () => {
    sut = await buildTestGateway({ workerConcurrency: 4 })
  })
  afterAll(async () => {
    await sut?.close()
  })

  describe('when the DM carries an image', () => {
    it('answers with the vision model and logs "Selected Model"', async () => {
      const user = igUser()
      const { mid } = await sut.dm({
        user,
        text: 'is this in stock?',
        imageUrl: 'https://example.com/shoe.jpg',
      })
      const [row] = await sut.waitForReplies([mid])
      expect(row?.model).toBe('gpt-4.1')
      const line = sut.logs.find(
        (l) => l.msg === 'Selected Model' && l.model === 'gpt-4.1' && l.reason === 'image',
      )
      expect(line).toBeDefined()
      expect(line?.level).toBe(30) // info
      const turn = await sut.pool.query(
        'select has_image, image_url from conversation_messages where ig_message_id = $1',
        [mid],
      )
      expect(turn.rows[0]).toEqual({ has_image: true, image_url: 'https://example.com/shoe.jpg' })
    })

    it('answers an image without text too', async () => {
      const user = igUser()
      const { mid } = await sut.dm({ user, imageUrl: 'https://example.com/only-image.jpg' })
      const [row] = await sut.waitForReplies([mid])
      expect(row?.model).toBe('gpt-4.1')
    })
  })

  describe('when a text DM arrives and no fine-tuned model is held', () => {
    it('answers with the base model (or the active one) and stores both turns', async () => {
      const user = igUser()
      const startedAt = new Date(Date.now() - 1000)
      const { mid } = await sut.dm({ user, text: 'how much is shipping?' })
      const [row] = await sut.waitForReplies([mid])
      const held = sut.gateway.holder.current()?.model
      expect(row?.model).toBe(held ?? 'gpt-4.1-mini')
      const turns = await sut.pool.query(
        'select role, model, embedding from conversation_messages where ig_user_id = $1 order by id',
        [user],
      )
      expect(turns.rows.map((r) => r.role)).toEqual(['user', 'assistant'])
      expect(turns.rows[1].model).toBe(row?.model)
      expect(turns.rows.every((r) => r.embedding === null)).toBe(true)
      // The completion's tokens went to the cost ledger.
      const ledger = await sut.pool.query(
        `select count(*)::int as n from cost_ledger where operation = 'chat' and purpose = 'reply' and model = $1 and created_at >= $2`,
        [row?.model, startedAt],
      )
      expect(ledger.rows[0].n).toBeGreaterThanOrEqual(1)
    })
  })

  describe('when the Graph API fails', () => {
    it('retries a 500 via the job and never re-sends a delivered part', async () => {
      const user = igUser()
      sut.graph.failNext(2, 500)
      const { mid } = await sut.dm({ user, text: 'hello?' })
      const rows = await sut.waitForReplies([mid], 30_000)
      const all = await sut.outbox.findByMid(mid)
      expect(all.every((r) => r.status === 'sent')).toBe(true)
      expect(all[0]?.attempts).toBe(3)
      expect(sut.graph.sendsTo(user)).toHaveLength(all.length)
      expect(rows[0]?.sentMid).toBeTruthy()
    })

    it('marks the part failed on a permanent 400 and does not retry it', async () => {
      const user = igUser()
      sut.graph.failNext(1, 400)
      const { mid } = await sut.dm({ user, text: 'hello again' })
      const status = await waitFor(
        async () => (await sut.outbox.findByMid(mid))[0]?.status === 'failed' && 'failed',
        { what: `outbox row of ${mid} to fail`, timeoutMs: 15_000 },
      )
      expect(status).toBe('failed')
      // The outbox row is marked before BullMQ records the failure: wait for the job, then re-read it.
      await waitFor(
        async () => (await sut.gateway.queues.dm.getJob(`dm-${mid}`))?.getState().then((s) => s === 'failed'),
        {
          what: `job of ${mid} failed`,
        },
      )
      const job = await sut.gateway.queues.dm.getJob(`dm-${mid}`)
      expect(job?.attemptsMade).toBe(1)
      expect(sut.graph.sendsTo(user)).toHaveLength(0)
    })
  })
})

describe('reply pipeline without IG_ACCESS_TOKEN', () => {
  let sut: TestGateway
  beforeAll(async () => {
    sut = await buildTestGateway({ accessToken: false })
  })
  afterAll(async () => {
    await sut?.close()
  })

  it('writes the reply to the outbox as logged and logs a line without the text', async () => {
    const user = igUser()
    const { mid } = await sut.dm({ user, text: 'secret words here' })
    const [row] = await sut.waitForReplies([mid])
    expect(row?.status).toBe('logged')
    expect(sut.graph.sends).toHaveLength(0)
    const line = sut.logs.find((l) => l.mid === mid && String(l.msg).startsWith('reply logged'))
    expect(line).toBeDefined()
    expect(JSON.stringify(sut.logs)).not.toContain('secret words here')
    expect(JSON.stringify(sut.logs)).not.toContain(row?.text)
  })
})

describe('per-user ordering', () => {
  let sut: TestGateway
  beforeAll(async () => {
    // Earlier DMs take longer in the pipeline (a slow memory recall): without per-user ordering a
    // later DM of the same user would overtake them in a worker running 4 jobs at once.
    const slowFirst: MemoryPort = {
      async recall({ text }) {
        const i = Number(/question (\d)/.exec(text)?.[1] ?? 3)
        await new Promise((r) => setTimeout(r, (3 - i) * 120))
        return { messages: [], recalled: 0 }
      },
      afterStore() {},
    }
    sut = await buildTestGateway({ workerConcurrency: 4, gateway: { memory: slowFirst } })
  })
  afterAll(async () => {
    await sut?.close()
  })

  describe('when 5 users send 20 DMs and the worker runs 4 jobs at once', () => {
    it('answers all 20 to the right recipients, each user in arrival order', async () => {
      {
        const users = Array.from({ length: 5 }, () => igUser())
        const sentOrder = new Map<string, string[]>()
        await Promise.all(
          users.map(async (user) => {
            for (let i = 0; i < 4; i++) {
              const { mid, status } = await sut.dm({ user, text: `question ${i} about order #${1000 + i}` })
              expect(status).toBe(200)
              sentOrder.set(user, [...(sentOrder.get(user) ?? []), mid])
            }
          }),
        )
        const allMids = [...sentOrder.values()].flat()
        expect(allMids).toHaveLength(20)
        await sut.waitForReplies(allMids, 60_000)
        for (const user of users) {
          const mids = sentOrder.get(user) ?? []
          const rows = await Promise.all(mids.map((m) => sut.outbox.findByMid(m)))
          // Every part went to this user and nowhere else.
          const sends = sut.graph.sendsTo(user)
          expect(sends).toHaveLength(rows.flat().length)
          expect(rows.flat().every((r) => r.igUserId === user && r.status === 'sent')).toBe(true)
          // The Graph API saw this user's replies in the order the DMs arrived.
          const seqOf = new Map(sends.map((s) => [s.messageId, s.seq]))
          const firstSeqPerMid = rows.map((parts) => seqOf.get(parts[0]?.sentMid ?? '') ?? -1)
          expect(firstSeqPerMid.every((s) => s > 0)).toBe(true)
          expect(firstSeqPerMid).toEqual([...firstSeqPerMid].sort((a, b) => a - b))
        }
      }
    })
  })
})

describe('DM_CONCURRENCY', () => {
  let sut: TestGateway
  let inFlight = 0
  let maxInFlight = 0
  beforeAll(async () => {
    // Every recall takes a while, so DMs of different users overlap as far as the worker lets them.
    const slow: MemoryPort = {
      async recall() {
        maxInFlight = Math.max(maxInFlight, ++inFlight)
        await new Promise((r) => setTimeout(r, 150))
        inFlight--
        return { messages: [], recalled: 0 }
      },
      afterStore() {},
    }
    sut = await buildTestGateway({ env: { DM_CONCURRENCY: '2' }, gateway: { memory: slow } })
  })
  afterAll(async () => {
    await sut?.close()
  })

  it('bounds how many DMs one gateway answers at once', async () => {
    const sent = await Promise.all(
      Array.from({ length: 6 }, (_, i) => sut.dm({ user: igUser(), text: `hi ${i}` })),
    )
    const rows = await sut.waitForReplies(
      sent.map((s) => s.mid),
      30_000,
    )
    expect(rows.every((r) => r.status === 'sent')).toBe(true)
    expect(maxInFlight).toBe(2)
  })
})

describe('a reply longer than 1000 characters', () => {
  let sut: TestGateway
  beforeAll(async () => {
    sut = await buildTestGateway()
  })
  afterAll(async () => {
    await sut?.close()
  })

  it('is sent as ordered parts of ≤ 1000 chars, and a retry re-sends only the undelivered parts', async () => {
    const question = 'Can you explain your full returns and exchange policy?'
    const sentence = (i: number) =>
      `Point ${i}: items can be returned within thirty days in their original condition and packaging. `
    const long = [0, 1, 2]
      .map((p) =>
        Array.from({ length: 9 }, (_, i) => sentence(p * 9 + i))
          .join('')
          .trim(),
      )
      .join('\n\n')
    expect(long.length).toBeGreaterThan(2000)
    // A fine-tuned model on openai-local answers its trained prompt with the trained reply.
    const ft = await fineTuneModel(sut.openai.baseURL, {
      suffix: 'long',
      pairs: [...FT_PAIRS, [question, long]],
    })
    const publisher = createRedis({ url: sut.config.redis.url, role: 'worker' })
    try {
      await publisher.publish(
        sut.config.models.channel,
        encodeActiveModelMessage({
          model: ft,
          version: 1_000_000_000,
          at: new Date().toISOString(),
          reason: 'test',
        }),
      )
      await expect.poll(() => sut.gateway.holder.current()?.model).toBe(ft)
    } finally {
      publisher.disconnect()
    }

    const user = igUser()
    sut.graph.failNext(1, 503, { after: 1 }) // part 0 goes through, part 1 fails once
    const { mid } = await sut.dm({ user, text: question })
    await sut.waitForReplies([mid], 30_000)
    const rows = await sut.outbox.findByMid(mid)
    expect(rows.length).toBeGreaterThanOrEqual(3)
    expect(rows.every((r) => r.status === 'sent' && r.text.length <= 1000 && r.model === ft)).toBe(true)
    expect(rows.map((r) => r.attempts)).toEqual([1, 2, ...rows.slice(2).map(() => 1)])
    const sends = sut.graph.sendsTo(user)
    expect(sends.map((s) => s.text)).toEqual(rows.map((r) => r.text))
    // The trained reply (cut at the router's max_tokens) arrives whole, in order, across the parts.
    const assistant = await sut.pool.query(
      'select content from conversation_messages where ig_message_id = $1',
      [`${mid}#reply`],
    )
    const reply = String(assistant.rows[0].content).replace(/\s+/g, ' ')
    expect(reply.length).toBeGreaterThan(2000)
    expect(long.replace(/\s+/g, ' ').startsWith(reply.slice(0, 1500))).toBe(true)
    expect(
      sends
        .map((s) => s.text)
        .join(' ')
        .replace(/\s+/g, ' '),
    ).toBe(reply)
  })
})
