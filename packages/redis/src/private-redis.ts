import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
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

export interface PrivateRedis {
  url: string
  port: number
  start(): Promise<void>
  stop(): Promise<void>
}

/**
 * A private `redis-server` child process on a free port (no persistence unless `persistDir`) that a
 * test or demo may stop (SIGKILL) and start again to inject a Redis outage — never the machine's Redis.
 */
export async function startPrivateRedis(
  opts: {
    /** Keep data across stop()/start(): an append-only file in this directory, fsynced on every write. */
    persistDir?: string
  } = {},
): Promise<PrivateRedis> {
  const port = await freePort()
  const persistence = opts.persistDir
    ? ['--dir', opts.persistDir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always']
    : ['--save', '', '--appendonly', 'no']
  const url = `redis://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  const r: PrivateRedis = {
    url,
    port,
    async start() {
      // Already running: a second redis-server could not bind the port, and stop() would then
      // lose track of the first one (left running after the test).
      if (child && child.exitCode === null && child.signalCode === null) return
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', ...persistence], {
        stdio: 'ignore',
      })
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
