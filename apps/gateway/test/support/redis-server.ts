import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'

/**
 * A private `redis-server` child process on a free port (no persistence), which a test may stop
 * and start again — never the machine's Redis.
 */
export interface TestRedis {
  url: string
  port: number
  start(): Promise<void>
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      s.close(() => resolve(port))
    })
  })
}

export async function startTestRedis(): Promise<TestRedis> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const url = `redis://127.0.0.1:${port}`
  const r: TestRedis = {
    url,
    port,
    async start() {
      child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: 'ignore' },
      )
      const until = Date.now() + 10_000
      for (;;) {
        const c = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
        c.on('error', () => {})
        try {
          await c.connect()
          await c.ping()
          c.disconnect()
          return
        } catch {
          c.disconnect()
          if (Date.now() > until) throw new Error(`redis-server on ${port} did not start`)
          await new Promise((res) => setTimeout(res, 50))
        }
      }
    },
    async stop() {
      const c = child
      child = undefined
      if (!c || c.exitCode !== null) return
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve())
        c.kill('SIGKILL')
      })
    },
  }
  await r.start()
  return r
}
