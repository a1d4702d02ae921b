import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { UnavailableError } from '@loopdm/platform/errors'
import { newMid } from '@loopdm/testing/webhook'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signBody } from '../src/services/signature.js'
import {
  buildTestGateway,
  dmWebhookBody,
  igUser,
  TEST_APP_SECRET,
  type TestGateway,
} from './support/test-gateway.js'

/**
 * A TCP proxy to the machine's Redis that holds back the connection named `name` (ioredis sends
 * CLIENT SETNAME first) for `delayMs`: the other connections are up long before that one is ready.
 */
async function slowRedisProxy(
  name: string,
  delayMs: number,
): Promise<{ url: string; close(): Promise<void> }> {
  const target = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    sockets.add(client)
    client.once('data', (first) => {
      client.pause()
      setTimeout(
        () => {
          const upstream = connect(Number(target.port || 6379), target.hostname)
          sockets.add(upstream)
          upstream.on('error', () => client.destroy())
          client.on('error', () => upstream.destroy())
          upstream.write(first)
          client.pipe(upstream).pipe(client)
          client.resume()
        },
        first.includes(name) ? delayMs : 0,
      )
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  return {
    url: `redis://127.0.0.1:${port}${target.pathname}`,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise((r) => server.close(r))
    },
  }
}

describe('gateway start-up', () => {
  describe("when the producer's Redis connection is slow to come up", () => {
    let proxy: Awaited<ReturnType<typeof slowRedisProxy>>
    let sut: TestGateway
    beforeAll(async () => {
      proxy = await slowRedisProxy('gateway-producer', 1500)
      sut = await buildTestGateway({ env: { REDIS_URL: proxy.url }, worker: false, listen: true })
    })
    afterAll(async () => {
      await sut?.close()
      await proxy?.close()
    })

    it('answers 200 to a webhook posted the moment it reports started, and the job is in Redis', async () => {
      const mid = newMid()
      const body = JSON.stringify(dmWebhookBody({ user: igUser(), mid, text: 'first message after boot' }))
      const res = await fetch(`${sut.url}/webhook`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'x-hub-signature-256': signBody(body, TEST_APP_SECRET),
        },
      })
      expect(res.status).toBe(200)
      expect(await (await sut.gateway.queues.dm.getJob(`dm-${mid}`))?.getState()).toBe('waiting')
    })
  })

  describe('when Redis never answers', () => {
    it('fails start() within the bound with an error naming the producer connection and its URL', async () => {
      const started = Date.now()
      const err = await buildTestGateway({
        env: { REDIS_URL: 'redis://:s3cret@127.0.0.1:1' },
        worker: false,
        gateway: { redisReadyTimeoutMs: 600 },
      }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(UnavailableError)
      expect((err as Error).message).toMatch(/producer Redis connection to redis:\/\/:\*\*\*@127\.0\.0\.1:1/)
      expect((err as Error).message).toMatch(/not ready after 600 ms/)
      expect((err as Error).message).not.toContain('s3cret')
      expect(Date.now() - started).toBeLessThan(8000)
    })
  })
})
