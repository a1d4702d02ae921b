import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { waitFor } from '@loopdm/testing/wait'
import { newMid } from '@loopdm/testing/webhook'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  fromCustomer,
  imagesOf,
  jobOutcome,
  metaBody,
  type RecordingProxy,
  startRecordingProxy,
  textOf,
} from './support/meta.js'
import { buildTestGateway, igUser, TEST_IG_ACCOUNT, type TestGateway } from './support/test-gateway.js'

/**
 * Meta's documented Instagram messaging webhook payloads (developers.facebook.com: Instagram
 * Platform → Webhooks → examples; Messenger Platform → message_edits), each replayed through the
 * real signed webhook: what is stored, answered or ignored.
 */
describe('Meta webhook events', () => {
  let openai: OpenAILocal
  let proxy: RecordingProxy
  let sut: TestGateway
  beforeAll(async () => {
    openai = await startOpenAILocal({ port: 0 })
    proxy = await startRecordingProxy(openai.baseURL)
    sut = await buildTestGateway({ openai, env: { OPENAI_BASE_URL: proxy.baseURL } })
  })
  afterAll(async () => {
    await sut?.close()
    await proxy?.close()
    await openai?.close()
  })

  const turn = async (mid: string) =>
    (
      await sut.pool.query(
        `select role, content, author, context, deleted_at as "deletedAt", has_image as "hasImage"
           from conversation_messages where ig_message_id = $1`,
        [mid],
      )
    ).rows[0] as
      | {
          role: string
          content: string
          author: string | null
          context: unknown
          deletedAt: Date | null
          hasImage: boolean
        }
      | undefined
  const post = async (events: unknown[]) => {
    const res = await sut.postWebhook(metaBody(events))
    expect(res.statusCode).toBe(200)
    return res
  }
  /** The last user message the model saw in a chat request that contains `needle`. */
  const chatWith = (needle: string) =>
    waitFor(
      () => {
        for (const c of proxy.chats) {
          const last = [...c.messages].reverse().find((m) => m.role === 'user')
          if (
            last &&
            (textOf(last.content).includes(needle) || imagesOf(last.content).some((u) => u.includes(needle)))
          )
            return { model: c.model, content: last.content }
        }
        return false
      },
      { what: `a chat request containing ${needle}` },
    )

  it('messages (text): stored and answered', async () => {
    const user = igUser()
    const mid = newMid()
    await post([fromCustomer(user, { message: { mid, text: 'Do you ship to Lyon?' } })])
    await sut.waitForReplies([mid])
    expect((await turn(mid))?.content).toBe('Do you ship to Lyon?')
    expect((await turn(`${mid}#reply`))?.author).toBe('bot')
  })

  it('messages with several image attachments: every image reaches the vision model', async () => {
    const user = igUser()
    const mid = newMid()
    const a = `https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=${mid}-a`
    const b = `https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=${mid}-b`
    await post([
      fromCustomer(user, {
        message: {
          mid,
          text: 'which of these two?',
          attachments: [
            { type: 'image', payload: { url: a } },
            { type: 'image', payload: { url: b } },
          ],
        },
      }),
    ])
    await sut.waitForReplies([mid])
    const chat = await chatWith(`${mid}-a`)
    expect(imagesOf(chat.content)).toEqual([a, b])
    expect(chat.model).toBe(sut.config.models.vision)
    expect((await turn(mid))?.hasImage).toBe(true)
  })

  it('an image the provider cannot download (400) is answered text-only instead of failing the DM', async () => {
    const user = igUser()
    const mid = newMid()
    const future = Math.floor(Date.now() / 1000 + 3600).toString(16)
    const url = `https://scontent.invalid/v/t51.2885-15/${mid}.jpg?oe=${future}`
    await post([
      fromCustomer(user, {
        message: { mid, text: 'price of this?', attachments: [{ type: 'image', payload: { url } }] },
      }),
    ])
    await sut.waitForReplies([mid])
    const tries = proxy.chats.filter((c) =>
      c.messages.some((m) => textOf(m.content).includes('price of this?')),
    )
    expect(tries.map((c) => imagesOf(c.messages.at(-1)?.content))).toEqual([[url], []])
  })

  it('an image whose CDN URL has expired (oe in the past) is never sent to the model', async () => {
    const user = igUser()
    const mid = newMid()
    const past = Math.floor(Date.now() / 1000 - 60).toString(16)
    const url = `https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=${mid}&oe=${past}`
    await post([
      fromCustomer(user, {
        message: { mid, text: 'and this one?', attachments: [{ type: 'image', payload: { url } }] },
      }),
    ])
    await sut.waitForReplies([mid])
    const tries = proxy.chats.filter((c) =>
      c.messages.some((m) => textOf(m.content).includes('and this one?')),
    )
    expect(tries).toHaveLength(1)
    expect(imagesOf(tries[0]?.messages.at(-1)?.content)).toEqual([])
    expect(textOf(tries[0]?.messages.at(-1)?.content)).toMatch(/sent a photo/)
  })

  it.each([
    ['video', { type: 'video', payload: { url: 'https://lookaside.fbsbx.com/v.mp4' } }, /sent a video/],
    ['audio', { type: 'audio', payload: { url: 'https://lookaside.fbsbx.com/a.mp4' } }, /voice message/],
    ['file', { type: 'file', payload: { url: 'https://lookaside.fbsbx.com/f.pdf' } }, /sent a file/],
    [
      'ig_reel',
      { type: 'ig_reel', payload: { reel_video_id: '1789', title: 'Linen in summer' } },
      /a reel: “Linen in summer”/,
    ],
    ['share', { type: 'share', payload: { url: 'https://www.instagram.com/p/xyz/' } }, /shared post/],
    [
      'story_mention',
      { type: 'story_mention', payload: { url: 'https://lookaside.fbsbx.com/s.jpg' } },
      /story that mentions/,
    ],
  ])(
    'messages with a %s attachment: answered with a textual description of it',
    async (_t, attachment, re) => {
      const user = igUser()
      const mid = newMid()
      await post([fromCustomer(user, { message: { mid, attachments: [attachment] } })])
      await sut.waitForReplies([mid])
      expect((await turn(mid))?.content).toMatch(re)
      const chat = await chatWith(textOf((await turn(mid))?.content ?? 'x'))
      expect(textOf(chat.content)).not.toMatch(/the customer sent an attachment\)$/)
    },
  )

  it('story replies, quick replies and ad referrals are stored with the turn and given to the model', async () => {
    const user = igUser()
    const [m1, m2, m3] = [newMid(), newMid(), newMid()]
    await post([
      fromCustomer(user, {
        message: {
          mid: m1,
          text: 'is this one in stock?',
          reply_to: { story: { url: 'https://lookaside.fbsbx.com/story.jpg', id: '1790' } },
        },
      }),
    ])
    await sut.waitForReplies([m1])
    await post([
      fromCustomer(user, { message: { mid: m2, text: 'Size M', quick_reply: { payload: 'SIZE_M' } } }),
    ])
    await sut.waitForReplies([m2])
    await post([
      fromCustomer(user, {
        message: {
          mid: m3,
          text: 'hi, saw your ad',
          referral: {
            ref: 'summer',
            ad_id: '6045',
            source: 'ADS',
            type: 'OPEN_THREAD',
            ads_context_data: { ad_title: 'Summer linen' },
          },
        },
      }),
    ])
    await sut.waitForReplies([m3])
    expect((await turn(m1))?.context).toEqual({
      replyTo: { storyId: '1790', storyUrl: 'https://lookaside.fbsbx.com/story.jpg' },
    })
    expect((await turn(m2))?.context).toEqual({ quickReply: 'SIZE_M' })
    expect((await turn(m3))?.context).toMatchObject({
      referral: { source: 'ADS', adId: '6045', adTitle: 'Summer linen' },
    })
    expect(textOf((await chatWith('is this one in stock?')).content)).toMatch(
      /replying to one of the shop’s stories/,
    )
    expect(textOf((await chatWith('Size M')).content)).toMatch(/quick reply “SIZE_M”/)
    expect(textOf((await chatWith('saw your ad')).content)).toMatch(/came from an ad \(“Summer linen”\)/)
  })

  it('messaging_postbacks (ice breaker tap): answered, with the title as text', async () => {
    const user = igUser()
    const mid = newMid()
    await post([
      fromCustomer(user, {
        postback: { mid, title: 'What are your opening hours?', payload: 'ICEBREAKER_HOURS' },
      }),
    ])
    await sut.waitForReplies([mid])
    expect((await turn(mid))?.content).toBe('What are your opening hours?')
    expect(sut.graph.sendsTo(user).length).toBeGreaterThan(0)
  })

  it('message_edit: the stored text is updated and never answered twice', async () => {
    const user = igUser()
    const mid = newMid()
    await post([fromCustomer(user, { message: { mid, text: 'do you have size S' } })])
    await sut.waitForReplies([mid])
    const sends = sut.graph.sendsTo(user).length
    const ts = Date.now()
    await post([
      fromCustomer(user, { timestamp: ts, message_edit: { mid, text: 'do you have size XS?', num_edit: 1 } }),
    ])
    expect(await jobOutcome(sut.gateway.queues.dm, `edit-${mid}-${ts}`)).toBe('edited')
    expect((await turn(mid))?.content).toBe('do you have size XS?')
    expect(sut.graph.sendsTo(user).length).toBe(sends)
  })

  it('is_deleted after the answer: the stored text is blanked', async () => {
    const user = igUser()
    const mid = newMid()
    await post([fromCustomer(user, { message: { mid, text: 'my phone is 0612345678' } })])
    await sut.waitForReplies([mid])
    const ts = Date.now()
    await post([fromCustomer(user, { timestamp: ts, message: { mid, is_deleted: true } })])
    await jobOutcome(sut.gateway.queues.dm, `delete-${mid}-${ts}`)
    const t = await turn(mid)
    expect(t?.content).toBe('')
    expect(t?.deletedAt).toBeInstanceOf(Date)
  })

  it('is_deleted before its message was processed: never stored with text, never answered', async () => {
    const user = igUser()
    const mid = newMid()
    const ts = Date.now()
    await post([fromCustomer(user, { timestamp: ts, message: { mid, is_deleted: true } })])
    await jobOutcome(sut.gateway.queues.dm, `delete-${mid}-${ts}`)
    await post([fromCustomer(user, { message: { mid, text: 'oops, wrong chat' } })])
    expect(await jobOutcome(sut.gateway.queues.dm, `dm-${mid}`)).toBe('deleted')
    expect((await turn(mid))?.content).toBe('')
    expect(sut.graph.sendsTo(user)).toHaveLength(0)
  })

  it('is_self test messages, messages from our own account and is_unsupported: never answered', async () => {
    const user = igUser()
    const [m1, m2, m3, ok] = [newMid(), newMid(), newMid(), newMid()]
    await post([
      fromCustomer(user, { message: { mid: m1, text: 'self test', is_self: true } }),
      fromCustomer(TEST_IG_ACCOUNT, { message: { mid: m2, text: 'from us' } }),
      fromCustomer(user, { message: { mid: m3, is_unsupported: true } }),
      fromCustomer(user, { message: { mid: ok, text: 'real one' } }),
    ])
    await sut.waitForReplies([ok])
    for (const m of [m1, m2, m3]) expect(await sut.gateway.queues.dm.getJob(`dm-${m}`)).toBeUndefined()
    expect(sut.graph.sendsTo(TEST_IG_ACCOUNT)).toHaveLength(0)
  })

  it('messaging_seen, messaging_referral, standby, changes[] and object "page": 200 and nothing else', async () => {
    const user = igUser()
    const before = await sut.gateway.queues.dm.count()
    await post([
      fromCustomer(user, { read: { mid: newMid() } }),
      fromCustomer(user, { referral: { ref: 'ig.me-ref', source: 'SHORTLINKS', type: 'OPEN_THREAD' } }),
    ])
    const standby = {
      object: 'instagram',
      entry: [
        {
          id: TEST_IG_ACCOUNT,
          time: Date.now(),
          standby: [fromCustomer(user, { message: { mid: newMid(), text: 'x' } })],
        },
      ],
    }
    const changes = {
      object: 'instagram',
      entry: [
        {
          id: '0',
          time: Date.now(),
          changes: [
            { field: 'messages', value: { event_type: 'test', message: { mid: 'x', text: 'test' } } },
          ],
        },
      ],
    }
    for (const body of [standby, changes, { object: 'page', entry: [{ id: '1', time: 1, messaging: [] }] }]) {
      expect((await sut.postWebhook(body)).statusCode).toBe(200)
    }
    expect(await sut.gateway.queues.dm.count()).toBe(before)
  })

  it('one malformed event does not fail the others of its batch', async () => {
    const user = igUser()
    const mid = newMid()
    await post([
      { sender: { id: user }, message: { text: 'no recipient, no mid' } },
      'not an object',
      fromCustomer(user, { reaction: { action: 'react' } }),
      fromCustomer(user, { message: { mid, text: 'still answered?' } }),
    ])
    await sut.waitForReplies([mid])
    expect(
      sut.logs.some((l) => l.msg === "webhook: events not in Meta's documented shape were skipped"),
    ).toBe(true)
  })
})
