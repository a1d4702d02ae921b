import { UnavailableError } from '@loopdm/platform/errors'
import { assertRedis, closeRedis, createRedis, waitForReady } from '@loopdm/redis/client'
import { startPrivateRedis } from '@loopdm/redis/private-redis'
import { describe, expect, it } from 'vitest'

describe('assertRedis', () => {
  describe('when Redis answers', () => {
    it('resolves', async () => {
      await expect(assertRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')).resolves.toBeUndefined()
    })
  })

  describe('when nothing listens on the port', () => {
    it('fails with an error naming the URL and how to start Redis', async () => {
      const err = await assertRedis('redis://127.0.0.1:1', 500).catch((e) => e)
      expect(err).toBeInstanceOf(UnavailableError)
      expect(err.message).toMatch(/Redis at redis:\/\/127\.0\.0\.1:1 is unreachable/)
      expect(err.message).toMatch(/redis-server --daemonize yes/)
    })
  })
})

describe('createRedis', () => {
  describe('when a producer cannot reach Redis', () => {
    it('fails a command fast instead of queueing it', async () => {
      const sut = createRedis({ url: 'redis://127.0.0.1:1', role: 'producer' })
      const started = Date.now()
      await expect(sut.ping()).rejects.toThrow()
      expect(Date.now() - started).toBeLessThan(5000)
      sut.disconnect()
    })
  })
})

describe('waitForReady', () => {
  describe('when Redis answers', () => {
    it('resolves once the producer can take commands', async () => {
      const sut = createRedis({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', role: 'producer' })
      await waitForReady(sut)
      await expect(sut.ping()).resolves.toBe('PONG')
      await closeRedis(sut)
    })
  })

  describe('when nothing listens on the port', () => {
    it('rejects after the bound with an error naming the connection and the last error', async () => {
      const sut = createRedis({ url: 'redis://127.0.0.1:1', role: 'producer' })
      sut.on('error', () => {})
      const err = await waitForReady(sut, { timeoutMs: 300, what: 'the test producer' }).catch((e) => e)
      expect(err).toBeInstanceOf(UnavailableError)
      expect(err.message).toMatch(/the test producer not ready after 300 ms .*ECONNREFUSED/)
      await closeRedis(sut)
      expect(sut.status).not.toBe('ready')
    })
  })
})

describe('startPrivateRedis', () => {
  describe('when start() is called while it already runs', () => {
    it('keeps the one server, and stop() leaves nothing listening', async () => {
      const sut = await startPrivateRedis()
      await sut.start()
      await expect(assertRedis(sut.url, 1000)).resolves.toBeUndefined()
      await sut.stop()
      await expect(assertRedis(sut.url, 500)).rejects.toBeInstanceOf(UnavailableError)
    })
  })
})
