import { describe, expect, it } from 'vitest'
import { parseWebhook } from './instagram-webhook.js'
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
    expect(out.echoes.map((e) => [e.mid, e.igUserId, e.igAccountId])).toEqual([['m3', 'acct', 'u1']])
    expect(out.skipped).toBe(2)
  })

  it('accepts any other well-formed JSON as nothing to do (Meta must get a 2xx)', () => {
    for (const body of [{ object: 'page', entry: [] }, [1, 2], { object: 'instagram' }, null]) {
      const out = parseWebhook(body)
      expect(out.messages).toEqual([])
      expect(out.skipped).toBe(1)
    }
  })

  it('skips one malformed event without losing the others of its batch', () => {
    const out = parseWebhook({
      object: 'instagram',
      entry: [
        { id: 'acct', messaging: [ev({ message: { text: 'no mid' } }), 7, ev({ message: { mid: 'ok' } })] },
      ],
    })
    expect(out.messages.map((m) => m.mid)).toEqual(['ok'])
    expect(out.malformed).toBe(2)
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
