import { describe, expect, it } from 'vitest'
import { WaitTimeoutError, waitFor } from './wait.js'

describe('waitFor', () => {
  describe('when the condition becomes truthy', () => {
    it('resolves with the first truthy value', async () => {
      let n = 0
      const sut = await waitFor(() => (++n >= 3 ? `done after ${n}` : null), {
        what: 'n to reach 3',
        intervalMs: 1,
      })
      expect(sut).toBe('done after 3')
    })
  })

  describe('when the deadline passes first', () => {
    it('throws a WaitTimeoutError naming what it waited for', async () => {
      const sut = waitFor(() => false, { what: 'a reply to mid.x', timeoutMs: 20, intervalMs: 5 })
      await expect(sut).rejects.toBeInstanceOf(WaitTimeoutError)
      await expect(sut).rejects.toThrow('timed out after 20 ms waiting for a reply to mid.x')
    })
  })

  describe('when the check throws', () => {
    it('rejects with that error at once', async () => {
      let calls = 0
      const sut = waitFor(
        () => {
          calls++
          throw new Error('boom')
        },
        { what: 'nothing', timeoutMs: 1000 },
      )
      await expect(sut).rejects.toThrow('boom')
      expect(calls).toBe(1)
    })
  })
})
