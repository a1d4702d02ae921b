import {
  decodeActiveModelMessage,
  decodeCanaryMessage,
  encodeActiveModelMessage,
  encodeCanaryMessage,
  isCanaryMessage,
} from '@loopdm/models/hotswap'
import { describe, expect, it } from 'vitest'

/** The canary split on the hot-swap channel: its own message type beside the active-model one. */
describe('canary messages', () => {
  const split = {
    runId: 7,
    model: 'ft:gpt-4.1-mini-2025-04-14:loopdm:shop:abc',
    percent: 10,
    salt: 'canary:3:1700000000000',
    policy: {
      id: 3,
      version: 0,
      learner: 'fine-tune' as const,
      servingModel: 'ft:gpt-4.1-mini-2025-04-14:loopdm:shop:abc',
      endpoint: null,
    },
  }

  it('round-trips a split and an end, and is told apart from an active-model message', () => {
    const start = encodeCanaryMessage({ seq: 12, split })
    expect(decodeCanaryMessage(start)).toEqual({
      type: 'canary',
      seq: 12,
      split: { ...split, policy: { ...split.policy } },
    })
    expect(decodeCanaryMessage(encodeCanaryMessage({ seq: 13, split: null }))).toMatchObject({
      seq: 13,
      split: null,
    })
    expect(isCanaryMessage(start)).toBe(true)
    expect(decodeActiveModelMessage(start)).toBeNull()
    const active = encodeActiveModelMessage({
      model: 'gpt-4.1-mini',
      version: 3,
      at: 'now',
      reason: '"type":"canary"',
    })
    expect(isCanaryMessage(active)).toBe(false)
    expect(decodeCanaryMessage(active)).toBeNull()
  })

  it('rejects a malformed split (percent out of range, garbage) without throwing', () => {
    expect(() => encodeCanaryMessage({ seq: 1, split: { ...split, percent: 150 } })).toThrow(/percent/)
    expect(decodeCanaryMessage('{"type":"canary","seq":1,"split":{"percent":0}}')).toBeNull()
    expect(decodeCanaryMessage('not json')).toBeNull()
    expect(isCanaryMessage('not json')).toBe(false)
  })
})
