import { testConfig } from '@loopdm/testing/fixtures'
import { describe, expect, it } from 'vitest'
import { openAiFineTuneRefusal, shutdownDateOf, shutdownWarnings } from '../src/shutdowns.js'

const at = (iso: string) => new Date(`${iso}T12:00:00Z`)

describe('shutdowns', () => {
  describe('openAiFineTuneRefusal', () => {
    it('refuses a base past its shutdown and anything from the cutoff, naming the date and the other providers', () => {
      expect(openAiFineTuneRefusal('gpt-3.5-turbo-0125', at('2026-11-01'))).toMatch(
        /2026-10-23.*FT_PROVIDER=together.*FT_PROVIDER=vllm/,
      )
      expect(openAiFineTuneRefusal('gpt-4.1-mini-2025-04-14', at('2027-01-05'))).toBeNull()
      expect(openAiFineTuneRefusal('gpt-4.1-mini-2025-04-14', new Date('2027-01-06T00:00:00Z'))).toMatch(
        /2027-01-06/,
      )
    })
  })

  describe('shutdownWarnings', () => {
    const openai = testConfig({ FT_PROVIDER: 'openai' })
    it('warns about the cutoff from 30 days ahead, not earlier, and only for FT_PROVIDER=openai', () => {
      expect(shutdownWarnings(openai, null, at('2026-12-06'))).toEqual([])
      const w = shutdownWarnings(openai, null, at('2026-12-10'))
      expect(w).toEqual([expect.objectContaining({ kind: 'cutoff', date: '2027-01-06', daysLeft: 27 })])
      expect(w[0]?.message).toMatch(/FT_PROVIDER=together/)
      expect(shutdownWarnings(testConfig({ FT_PROVIDER: 'vllm' }), null, at('2026-12-10'))).toEqual([])
    })

    it("warns when the active fine-tuned model's base shuts down within 30 days: its policy will die", () => {
      const model = 'ft:gpt-3.5-turbo-0125:shop::abc123'
      expect(shutdownDateOf(model)).toBe('2026-10-23')
      const vllm = testConfig({ FT_PROVIDER: 'vllm' })
      expect(shutdownWarnings(vllm, model, at('2026-09-01'))).toEqual([])
      const w = shutdownWarnings(vllm, model, at('2026-10-01'))
      expect(w).toEqual([expect.objectContaining({ kind: 'active', date: '2026-10-23' })])
      expect(w[0]?.message).toMatch(/stops answering/)
    })

    it('warns about FT_BASE_MODEL shutting down', () => {
      const old = testConfig({ FT_BASE_MODEL: 'gpt-3.5-turbo-0125' })
      expect(shutdownWarnings(old, null, at('2026-10-10')).map((w) => w.kind)).toEqual(['base'])
    })
  })
})
