import net from 'node:net'
import type { PGlite } from '@electric-sql/pglite'

/**
 * Serves one PGlite engine to many Postgres wire-protocol connections.
 *
 * PGlite is a single backend, so connections must take turns. pglite-socket's multiplexer takes
 * turns per protocol *message*: between one client's Parse and its Bind another client's Parse
 * can run and replace the unnamed statement ("bind message supplies 1 parameters, but prepared
 * statement "" requires 7"), or worse, bind one client's parameters to another's statement. Seen
 * under load with three gateways. Here a connection holds the engine from its first message until
 * a Sync (extended protocol) or a simple Query completes *and* no transaction is open — the unit
 * Postgres itself treats as atomic — so sequences and transactions never interleave.
 */

const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104
const CANCEL_REQUEST = 80877102
const SYNC = Buffer.from([0x53, 0, 0, 0, 4])

/** A simple-protocol Query message. */
function queryMessage(sql: string): Uint8Array {
  const body = Buffer.from(`${sql}\0`, 'utf8')
  const head = Buffer.alloc(5)
  head[0] = 0x51
  head.writeInt32BE(body.length + 4, 1)
  return new Uint8Array(Buffer.concat([head, body]))
}
const ROLLBACK = queryMessage('rollback')

/** A FIFO lock owned by one connection id at a time; re-entrant for its owner. */
class EngineLock {
  private owner: number | null = null
  private waiters: Array<{ id: number; resolve: () => void }> = []

  acquire(id: number): Promise<void> {
    if (this.owner === null || this.owner === id) {
      this.owner = id
      return Promise.resolve()
    }
    return new Promise((resolve) => this.waiters.push({ id, resolve }))
  }

  isOwner(id: number): boolean {
    return this.owner === id
  }

  release(id: number): void {
    if (this.owner !== id) return
    const next = this.waiters.shift()
    this.owner = next ? next.id : null
    next?.resolve()
  }

  /** Drops a closed connection's place in the queue. */
  forget(id: number): void {
    this.waiters = this.waiters.filter((w) => w.id !== id)
  }
}

export interface WireServer {
  port: number
  close(): Promise<void>
  stats(): { connections: number }
}

export async function serveWire(
  db: PGlite,
  opts: { host: string; port: number; maxConnections: number },
): Promise<WireServer> {
  const lock = new EngineLock()
  const sockets = new Set<net.Socket>()
  let nextId = 1

  const server = net.createServer((socket) => {
    if (sockets.size >= opts.maxConnections) {
      socket.end()
      return
    }
    sockets.add(socket)
    socket.setNoDelay(true)
    const id = nextId++
    let buf = Buffer.alloc(0)
    let started = false
    let closed = false
    let chain = Promise.resolve()

    const run = async (msg: Uint8Array, boundary: boolean) => {
      await lock.acquire(id)
      try {
        await db.runExclusive(() =>
          db.execProtocolRawStream(msg, {
            onRawData: (d) => {
              if (!closed && socket.writable) socket.write(Buffer.from(d))
            },
          }),
        )
      } finally {
        if (boundary && !db.isInTransaction()) lock.release(id)
      }
    }

    const drain = async () => {
      while (!closed) {
        if (!started) {
          if (buf.length < 8) return
          const len = buf.readInt32BE(0)
          const code = buf.readInt32BE(4)
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            buf = buf.subarray(8)
            socket.write('N')
            continue
          }
          if (code === CANCEL_REQUEST) {
            socket.end()
            return
          }
          if (buf.length < len) return
          const msg = new Uint8Array(buf.subarray(0, len))
          buf = buf.subarray(len)
          started = true
          await run(msg, true)
          continue
        }
        if (buf.length < 5) return
        const type = buf[0] as number
        const len = buf.readInt32BE(1) + 1
        if (buf.length < len) return
        const msg = new Uint8Array(buf.subarray(0, len))
        buf = buf.subarray(len)
        if (type === 0x58) {
          // Terminate
          socket.end()
          return
        }
        // 'S' Sync ends an extended-protocol sequence, 'Q' is a whole simple query.
        await run(msg, type === 0x53 || type === 0x51)
      }
    }

    const cleanup = async () => {
      if (closed) return
      closed = true
      sockets.delete(socket)
      lock.forget(id)
      if (!lock.isOwner(id)) return
      // The client left mid-sequence or mid-transaction: leave the engine clean for the next one.
      try {
        // Raw protocol only: db.exec inside runExclusive would wait on the lock we hold.
        await db.runExclusive(async () => {
          await db.execProtocolRawStream(new Uint8Array(SYNC), { onRawData: () => {} })
          if (db.isInTransaction()) await db.execProtocolRawStream(ROLLBACK, { onRawData: () => {} })
        })
      } catch {
        // The engine is shared: a failure here must not take the server down.
      } finally {
        lock.release(id)
      }
    }

    socket.on('data', (chunk) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      chain = chain.then(drain).catch(() => {
        socket.destroy()
      })
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      chain = chain.then(cleanup, cleanup)
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', () => {})
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    stats: () => ({ connections: sockets.size }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
