import { randomInt } from 'node:crypto'
import type net from 'node:net'
import type { PGlite } from '@electric-sql/pglite'
import {
  authenticationSasl,
  backendKeyData,
  backendMessage,
  errorResponse,
  ScramExchange,
  type ScramSecret,
  saslPayload,
} from './wire-auth.js'
import { ChunkReader, OutputTracker } from './wire-reader.js'

/**
 * One client connection of the embedded wire server: startup, SCRAM-SHA-256, then messages run on
 * the shared engine under the engine lock (see pglite-wire.ts for why).
 */

const PROTOCOL_3 = 196608
const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104
export const CANCEL_REQUEST = 80877102
/** Postgres refuses startup packets above 10 000 bytes (MAX_STARTUP_PACKET_LENGTH). */
const MAX_STARTUP_LENGTH = 10_000
/** Postgres's limit for one message (PQ_LARGE_MESSAGE_LIMIT is 1 GiB − 1). */
export const MAX_MESSAGE_LENGTH = 1024 * 1024 * 1024
const SYNC = new Uint8Array([0x53, 0, 0, 0, 4])
const ROLLBACK = new Uint8Array(backendMessage('Q', Buffer.from('rollback\0')))

export interface EngineLockLike {
  acquire(id: number): Promise<void>
  isOwner(id: number): boolean
  release(id: number): void
  forget(id: number): void
}

export interface ConnectionContext {
  db: PGlite
  lock: EngineLockLike
  secret: ScramSecret
  /** Registers the BackendKeyData key of a connection; returns an unregister function. */
  registerKey(processId: number, secretKey: number): () => void
  /** A CancelRequest arrived for (processId, secretKey). */
  cancel(processId: number, secretKey: number): void
}

/**
 * True when `sql` runs COPY … FROM STDIN. PGlite (0.5) aborts the whole process on the CopyData
 * that follows (`exit(1)`, found probing it), so it is refused before it reaches the engine.
 * COPY … TO STDOUT works and cannot interleave: its whole output comes out of one engine call.
 */
export function isCopyFromStdin(sql: string): boolean {
  const stripped = sql.replace(/--[^\n]*/g, ' ').replace(/\/\*[\s\S]*?\*\//g, ' ')
  return stripped.split(';').some((stmt) => /^\s*\(?\s*copy\b/i.test(stmt) && /\bfrom\s+stdin\b/i.test(stmt))
}

const cstring = (b: Buffer, from: number): [string, number] => {
  const end = b.indexOf(0, from)
  return end < 0 ? ['', b.length] : [b.toString('utf8', from, end), end + 1]
}

/** The engine's startup reply with its fixed BackendKeyData swapped for this connection's. */
function withKeyData(out: Buffer, key: Buffer): Buffer {
  const parts: Buffer[] = []
  let i = 0
  while (i + 5 <= out.length) {
    const len = out.readInt32BE(i + 1) + 1
    parts.push(out[i] === 0x4b ? key : out.subarray(i, i + len))
    i += len
  }
  return Buffer.concat(parts)
}

export function handleConnection(socket: net.Socket, id: number, ctx: ConnectionContext): void {
  const { db, lock } = ctx
  const reader = new ChunkReader()
  const tracker = new OutputTracker()
  const scram = new ScramExchange(ctx.secret)
  const secretKey = randomInt(1, 2 ** 31 - 1)
  let unregister: (() => void) | undefined
  let phase: 'startup' | 'sasl-initial' | 'sasl-final' | 'ready' = 'startup'
  let startup: Uint8Array | undefined
  let skipUntilSync = false
  let closed = false
  let chain = Promise.resolve()

  const fail = (code: string, message: string) => {
    closed = true
    if (socket.writable) socket.end(errorResponse(code, message))
    else socket.destroy()
  }
  const write = (b: Uint8Array) => {
    if (!closed && socket.writable) socket.write(b)
  }

  const exec = async (msg: Uint8Array, onData: (d: Uint8Array) => void) => {
    await db.runExclusive(() => db.execProtocolRawStream(msg, { onRawData: onData }))
  }

  const run = async (msg: Uint8Array, boundary: boolean) => {
    await lock.acquire(id)
    tracker.readyStatus = 0
    try {
      await exec(msg, (d) => {
        tracker.feed(d)
        write(Buffer.from(d))
      })
    } finally {
      // Idle ReadyForQuery after a Sync or simple Query: the unit Postgres treats as atomic.
      if (boundary && tracker.readyStatus === 0x49 && !db.isInTransaction()) lock.release(id)
    }
  }

  const finishStartup = async () => {
    await lock.acquire(id)
    const out: Buffer[] = []
    try {
      await exec(startup as Uint8Array, (d) => out.push(Buffer.from(d)))
    } finally {
      if (!db.isInTransaction()) lock.release(id)
    }
    unregister = ctx.registerKey(id, secretKey)
    write(withKeyData(Buffer.concat(out), backendKeyData(id, secretKey)))
    phase = 'ready'
  }

  const onStartupPacket = (): 'more' | 'next' | 'stop' => {
    if (reader.length < 8) return 'more'
    const len = reader.int32At(0)
    if (len < 8 || len > MAX_STARTUP_LENGTH) {
      fail('08P01', `invalid length of startup packet: ${len}`)
      return 'stop'
    }
    if (reader.length < len) return 'more'
    const packet = reader.take(len)
    const code = packet.readInt32BE(4)
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      write(Buffer.from('N'))
      return 'next'
    }
    if (code === CANCEL_REQUEST) {
      if (len === 16) ctx.cancel(packet.readInt32BE(8), packet.readInt32BE(12))
      closed = true
      socket.end()
      return 'stop'
    }
    if (code !== PROTOCOL_3) {
      fail('0A000', `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: server supports 3.0`)
      return 'stop'
    }
    startup = new Uint8Array(packet)
    write(authenticationSasl())
    phase = 'sasl-initial'
    return 'next'
  }

  const onAuth = async (type: number, body: Buffer): Promise<boolean> => {
    const reply =
      type !== 0x70
        ? undefined
        : phase === 'sasl-initial'
          ? scram.first(saslPayload(body, true) ?? '')
          : scram.final(saslPayload(body, false) ?? '')
    if (!reply) {
      fail('28P01', 'password authentication failed for user "postgres"')
      return false
    }
    write(reply)
    if (phase === 'sasl-initial') phase = 'sasl-final'
    else await finishStartup()
    return true
  }

  const onMessage = async (type: number, msg: Buffer): Promise<void> => {
    if (skipUntilSync && type !== 0x53) return
    skipUntilSync = false
    if (type === 0x51 || type === 0x50) {
      // Query: the SQL is the body; Parse: statement name, then the SQL.
      const sql = type === 0x51 ? cstring(msg, 5)[0] : cstring(msg, cstring(msg, 5)[1])[0]
      if (isCopyFromStdin(sql)) {
        write(errorResponse('0A000', 'COPY FROM STDIN is not supported by the embedded server', 'ERROR'))
        if (type === 0x51) write(backendMessage('Z', Buffer.from(db.isInTransaction() ? 'T' : 'I')))
        else skipUntilSync = true
        return
      }
    }
    // 'S' Sync ends an extended-protocol sequence, 'Q' is a whole simple query.
    await run(new Uint8Array(msg), type === 0x53 || type === 0x51)
  }

  const drain = async () => {
    while (!closed) {
      if (phase === 'startup') {
        const step = onStartupPacket()
        if (step === 'next') continue
        return
      }
      if (reader.length < 5) return
      const type = reader.byteAt(0)
      const len = reader.int32At(1)
      if (len < 4 || len > MAX_MESSAGE_LENGTH) {
        fail('08P01', `invalid message length ${len} for message type ${type}`)
        return
      }
      if (reader.length < len + 1) return
      const msg = reader.take(len + 1)
      if (phase !== 'ready') {
        if (!(await onAuth(type, msg.subarray(5)))) return
        continue
      }
      if (type === 0x58) {
        // Terminate
        closed = true
        socket.end()
        return
      }
      await onMessage(type, msg)
    }
  }

  const cleanup = async () => {
    closed = true
    unregister?.()
    lock.forget(id)
    if (!lock.isOwner(id)) return
    // The client left mid-sequence or mid-transaction: leave the engine clean for the next one.
    try {
      // Raw protocol only: db.exec inside runExclusive would wait on the lock we hold.
      await db.runExclusive(async () => {
        await db.execProtocolRawStream(SYNC, { onRawData: () => {} })
        if (db.isInTransaction()) await db.execProtocolRawStream(ROLLBACK, { onRawData: () => {} })
      })
    } catch {
      // The engine is shared: a failure here must not take the server down.
    } finally {
      lock.release(id)
    }
  }

  socket.on('data', (chunk) => {
    reader.push(chunk)
    chain = chain.then(drain).catch(() => {
      socket.destroy()
    })
  })
  socket.on('error', () => {})
  socket.on('close', () => {
    chain = chain.then(cleanup, cleanup)
  })
}
