import { describe, expect, it } from 'vitest'
import { parseWebhook, WebhookShapeError } from './instagram-webhook.js'
import { signBody, verifySignature } from './signature.js'

const ev = (o: Record<string, unknown>) => ({
  sender: { id: 'u1' },
  recipient: { id: 'acct' },
  timestamp: 5,
  ...o,
})

describe('parseWebhook', () => {
  it('extracts text and image messages, reactions, and skips echoes, reads, deliveries', () => {
    const out = parseWebhook(
      {
        object: 'instagram',
        entry: [
          {
            id: 'acct',
            messaging: [
              ev({ message: { mid: 'm1', text: 'hi' } }),
              ev({
                message: { mid: 'm2', attachments: [{ type: 'image', payload: { url: 'https://x/y.jpg' } }] },
              }),
              ev({ message: { mid: 'm3', text: 'echo', is_echo: true } }),
              ev({ read: { mid: 'm1' } }),
              ev({ delivery: { mids: ['m1'] } }),
              ev({ reaction: { mid: 'r1', action: 'react', reaction: 'love', emoji: '❤️' } }),
            ],
          },
        ],
      },
      100,
    )
    expect(out.messages.map((m) => [m.mid, m.text, m.attachments])).toEqual([
      ['m1', 'hi', []],
      ['m2', '', [{ type: 'image', url: 'https://x/y.jpg' }]],
    ])
    expect(out.messages[0]).toMatchObject({
      igUserId: 'u1',
      igAccountId: 'acct',
      timestamp: 5,
      receivedAt: 100,
    })
    expect(out.reactions).toEqual([
      {
        mid: 'r1',
        igUserId: 'u1',
        igAccountId: 'acct',
        action: 'react',
        reaction: 'love',
        emoji: '❤️',
        timestamp: 5,
      },
    ])
    expect(out.skipped).toBe(3)
  })

  it('rejects a non-Instagram shape with a clear message', () => {
    expect(() => parseWebhook({ object: 'page', entry: [] })).toThrow(WebhookShapeError)
    expect(() => parseWebhook([1, 2])).toThrow(/not an Instagram webhook/)
  })
})

describe('verifySignature', () => {
  it('accepts the right HMAC and rejects wrong, truncated, missing or unsigned', () => {
    const body = Buffer.from('{"a":1}')
    const sig = signBody(body, 's3cret')
    expect(verifySignature(body, sig, 's3cret')).toBe(true)
    expect(verifySignature(body, sig, 'other')).toBe(false)
    expect(verifySignature(body, sig.slice(0, 20), 's3cret')).toBe(false)
    expect(verifySignature(body, undefined, 's3cret')).toBe(false)
    expect(verifySignature(body, sig, undefined)).toBe(false)
  })
})
