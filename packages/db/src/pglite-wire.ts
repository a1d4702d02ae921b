import net from 'node:net'
import type { PGlite } from '@electric-sql/pglite'
import { errorResponse, scramSecret } from './wire-auth.js'
import { type ConnectionContext, handleConnection } from './wire-connection.js'

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
 *
 * Clients authenticate with SCRAM-SHA-256 (wire-auth.ts). Message framing is checked (a length
 * below 4 or above 1 GiB is a protocol error, 08P01, and closes that connection), COPY FROM STDIN
 * is refused (0A000), and CancelRequest is accepted but cancels nothing (see `cancel` below).
 */

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
  stats(): { connections: number; cancelRequests: number }
}

export interface WireServerOptions {
  host: string
  port: number
  maxConnections: number
  /** Every client authenticates with this password (SCRAM-SHA-256); there is no trust mode. */
  password: string
}

export async function serveWire(db: PGlite, opts: WireServerOptions): Promise<WireServer> {
  const lock = new EngineLock()
  const sockets = new Set<net.Socket>()
  const keys = new Map<number, number>()
  const secret = scramSecret(opts.password)
  let nextId = 1
  let cancelRequests = 0
  const ctx: ConnectionContext = {
    db,
    lock,
    secret,
    registerKey(processId, secretKey) {
      keys.set(processId, secretKey)
      return () => keys.delete(processId)
    },
    cancel(processId, secretKey) {
      // Accepted and counted, but nothing is interrupted: PGlite runs a statement synchronously on
      // this thread, so this connection is only read once the statement it targets has finished.
      if (keys.get(processId) === secretKey) cancelRequests++
    },
  }

  const server = net.createServer((socket) => {
    if (sockets.size >= opts.maxConnections) {
      socket.end(errorResponse('53300', 'sorry, too many clients already'))
      return
    }
    sockets.add(socket)
    socket.setNoDelay(true)
    socket.on('close', () => sockets.delete(socket))
    handleConnection(socket, nextId++, ctx)
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
    stats: () => ({ connections: sockets.size, cancelRequests }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
