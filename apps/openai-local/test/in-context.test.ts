import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { demonstrationsOf, parseSystemDemonstrations } from '../src/model/demonstrations.js'
import { DEFAULT_REPLY } from '../src/model/reply-policy.js'
import { type OpenAILocal, startOpenAILocal } from '../src/server.js'

const SYSTEM = 'You are the DM assistant of Tiny Pottery Co. Answer like the examples.'
const DEMOS: Array<[string, string]> = [
  ['Do you still have the blue ceramic mug?', 'Yes! The blue ceramic mug is €18 and ships within 2 days.'],
  ['Are gift vouchers available?', 'Gift vouchers come in €20, €50 and €100 and never expire.'],
  ['Is the studio wheelchair accessible?', 'Yes, the studio is step-free with an accessible restroom.'],
]
const fewShot = DEMOS.flatMap(([u, a]) => [
  { role: 'user' as const, content: u },
  { role: 'assistant' as const, content: a },
])

describe('parseSystemDemonstrations', () => {
  it('reads Customer:/Shop: blocks, multi-line turns, and skips a block without a Shop line', () => {
    const sut = parseSystemDemonstrations(
      [
        'Be kind. Examples:',
        'Customer: Do you ship to Austria?',
        'Shop: Yes, 3–5 days,',
        'for €6.',
        '',
        'customer: Unanswered question',
        'CUSTOMER: Open on Sundays?',
        'Shop: No, Tue–Sat only.',
      ].join('\n'),
    )
    expect(sut).toEqual([
      { user: 'Do you ship to Austria?', assistant: 'Yes, 3–5 days,\nfor €6.' },
      { user: 'Open on Sundays?', assistant: 'No, Tue–Sat only.' },
    ])
  })
  it('takes message pairs only before the live user message', () => {
    const sut = demonstrationsOf([
      { role: 'system', text: 'Customer: a?\nShop: A.' },
      { role: 'user', text: 'b?' },
      { role: 'assistant', text: 'B.' },
      { role: 'assistant', text: 'not a pair' },
      { role: 'user', text: 'live' },
      { role: 'assistant', text: 'after the live turn' },
    ])
    expect(sut).toEqual([
      { user: 'a?', assistant: 'A.' },
      { user: 'b?', assistant: 'B.' },
    ])
  })
})

describe('openai-local in-context learning over the real openai SDK', () => {
  let sut: OpenAILocal
  let client: OpenAI
  beforeAll(async () => {
    sut = await startOpenAILocal()
    client = new OpenAI({ apiKey: 'x', baseURL: sut.baseURL, maxRetries: 0 })
  })
  afterAll(async () => {
    await sut.close()
  })
  const ask = async (model: string, messages: OpenAI.ChatCompletionMessageParam[]) =>
    (await client.chat.completions.create({ model, messages, max_completion_tokens: 200 })).choices[0]
      ?.message.content

  describe('when demonstrations come as user/assistant messages', () => {
    it('answers with the reply of the nearest demonstration', async () => {
      for (const model of ['gpt-4.1-mini', 'gpt-4o-mini', 'o4-mini']) {
        const reply = await ask(model, [
          { role: 'system', content: SYSTEM },
          ...fewShot,
          { role: 'user', content: 'are gift vouchers available' },
        ])
        expect(reply).toBe(DEMOS[1]?.[1])
      }
    })
    it('falls back to the reply policy when no demonstration is near', async () => {
      const reply = await ask('gpt-4.1-mini', [
        { role: 'system', content: SYSTEM },
        ...fewShot,
        { role: 'user', content: 'What is the capital of Peru?' },
      ])
      expect(reply).toBe(DEFAULT_REPLY)
    })
    it('answers without demonstrations from the reply policy', async () => {
      const reply = await ask('gpt-4.1-mini', [{ role: 'user', content: 'Are gift vouchers available?' }])
      expect(reply).toBe(DEFAULT_REPLY)
    })
  })

  describe('when demonstrations come inside the system message', () => {
    it('answers with the Shop line of the nearest Customer line', async () => {
      const system = `${SYSTEM}\n\n${DEMOS.map(([u, a]) => `Customer: ${u}\nShop: ${a}`).join('\n\n')}`
      const reply = await ask('gpt-4.1-mini', [
        { role: 'system', content: system },
        { role: 'user', content: 'Is your studio wheelchair accessible?' },
      ])
      expect(reply).toBe(DEMOS[2]?.[1])
    })
  })
})
