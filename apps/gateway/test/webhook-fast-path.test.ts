import { describe, expect, it } from 'vitest'
import { MessageEventSchema, parseWebhook } from '../src/services/instagram-webhook.js'
import { plainMessageEvent } from '../src/services/webhook-fast-path.js'

const ev = (over: Record<string, unknown> = {}, message: Record<string, unknown> = {}) => ({
  sender: { id: '111' },
  recipient: { id: '17841400000000000' },
  timestamp: 1_700_000_000_000,
  ...over,
  message: { mid: 'mid.1', text: 'hi', ...message },
})

const variants: Array<[string, Record<string, unknown>]> = [
  ['plain text', ev()],
  ['numeric ids', ev({ sender: { id: 111, extra: 1 }, recipient: { id: 17841400000000000 } })],
  ['no timestamp', ev({ timestamp: undefined })],
  ['no text', ev({}, { text: undefined })],
  ['extra unknown fields', ev({ extra: true }, { seq: 4 })],
  ['empty mid', ev({}, { mid: '' })],
  ['numeric mid', ev({}, { mid: 7 })],
  ['text null', ev({}, { text: null })],
  ['text a number', ev({}, { text: 5 })],
  ['timestamp a string', ev({ timestamp: '1700000000000' })],
  ['empty sender id', ev({ sender: { id: '' } })],
  ['sender without id', ev({ sender: {} })],
  ['recipient null', ev({ recipient: null })],
  ['message an array', { ...ev(), message: [] }],
  ['echo', ev({}, { is_echo: true })],
  ['unsend', ev({}, { is_deleted: true })],
  ['is_echo null', ev({}, { is_echo: null })],
  ['attachments', ev({}, { attachments: [{ type: 'image', payload: { url: 'https://x/y.jpg' } }] })],
  ['quick reply', ev({}, { quick_reply: { payload: 'YES' } })],
  ['reply_to', ev({}, { reply_to: { mid: 'mid.0' } })],
  ['referral', ev({}, { referral: { ref: 'ad' } })],
]

describe('the webhook fast path for plain text messages', () => {
  it.each(variants)('decides %s as the schema does (same data, or leaves it to the schema)', (_name, raw) => {
    const body = JSON.parse(JSON.stringify(raw)) as object
    const fast = plainMessageEvent(body)
    const schema = MessageEventSchema.safeParse(body)
    if (fast) expect(fast).toEqual(schema.success ? schema.data : 'the schema refuses it')
    // Everything the schema accepts beyond the plain shape goes to the schema: the fast path only narrows.
    if (!schema.success) expect(fast).toBeUndefined()
  })

  it('takes the plain shape itself (the hot path) and leaves richer events to the schema', () => {
    expect(plainMessageEvent(ev())).toBeDefined()
    expect(plainMessageEvent(ev({}, { is_echo: true }))).toBeUndefined()
    expect(plainMessageEvent(ev({}, { attachments: [] }))).toBeUndefined()
  })

  it('parses a delivery of plain messages, malformed ones counted, as before', () => {
    const body = {
      object: 'instagram',
      entry: [
        {
          id: '17841400000000000',
          messaging: [
            ev(),
            ev({}, { mid: '' }),
            ev({ sender: { id: 222 } }, { mid: 'mid.2', text: undefined }),
          ],
        },
      ],
    }
    const out = parseWebhook(JSON.parse(JSON.stringify(body)), 42)
    expect(out.malformed).toBe(1)
    expect(out.messages).toEqual([
      {
        mid: 'mid.1',
        igUserId: '111',
        igAccountId: '17841400000000000',
        timestamp: 1_700_000_000_000,
        text: 'hi',
        attachments: [],
        receivedAt: 42,
      },
      {
        mid: 'mid.2',
        igUserId: '222',
        igAccountId: '17841400000000000',
        timestamp: 1_700_000_000_000,
        text: '',
        attachments: [],
        receivedAt: 42,
      },
    ])
  })

  it.each([
    ['a plain message', ev()],
    ['no timestamp (the arrival time)', ev({ timestamp: undefined })],
    ['a fractional timestamp', ev({ timestamp: 1_700_000_000_000.7 })],
    ['no text', ev({}, { text: undefined })],
    ['our own account as the sender', ev({ sender: { id: '17841400000000000' } })],
    ['sender and recipient the same', ev({ sender: { id: '5' }, recipient: { id: '5' } })],
    ['an account that is not the entry', ev({ sender: { id: '999' } })],
  ])('pushes %s exactly as the schema path does', (_name, raw) => {
    const delivery = (event: object) => ({
      object: 'instagram',
      entry: [{ id: '999', messaging: [JSON.parse(JSON.stringify(event))] }],
    })
    // `attachments: []` sends the same event down the schema path, with the same payload.
    const viaSchema = { ...raw, message: { ...raw.message, attachments: [] } }
    expect(plainMessageEvent(JSON.parse(JSON.stringify(viaSchema)))).toBeUndefined()
    expect(parseWebhook(delivery(raw), 42)).toStrictEqual(parseWebhook(delivery(viaSchema), 42))
  })
})
