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
import { ChunkReader, cstring, OutputTracker, SYNC } from './wire-reader.js'
import { StatementNames } from './wire-statements.js'

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
  if (!/copy/i.test(sql)) return false
  const stripped = sql.replace(/--[^\n]*/g, ' ').replace(/\/\*[\s\S]*?\*\//g, ' ')
  return stripped.split(';').some((stmt) => /^\s*\(?\s*copy\b/i.test(stmt) && /\bfrom\s+stdin\b/i.test(stmt))
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

type Phase = 'startup' | 'sasl-initial' | 'sasl-final' | 'ready'

/** Serves one socket; a fresh instance per connection. */
class WireConnection {
  private readonly reader = new ChunkReader()
  private readonly tracker = new OutputTracker()
  private readonly scram: ScramExchange
  private readonly statements: StatementNames
  private readonly secretKey = randomInt(1, 2 ** 31 - 1)
  private unregister: (() => void) | undefined
  private phase: Phase = 'startup'
  private startup: Uint8Array | undefined
  private skipUntilSync = false
  private closed = false
  private chain = Promise.resolve()

  constructor(
    private readonly socket: net.Socket,
    private readonly id: number,
    private readonly ctx: ConnectionContext,
  ) {
    this.scram = new ScramExchange(ctx.secret)
    this.statements = new StatementNames(`c${id}_`)
    socket.on('data', (chunk) => {
      this.reader.push(chunk)
      this.chain = this.chain
        .then(() => this.drain())
        .catch(() => {
          socket.destroy()
        })
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      const cleanup = () => this.cleanup()
      this.chain = this.chain.then(cleanup, cleanup)
    })
  }

  private fail(code: string, message: string): void {
    this.closed = true
    if (this.socket.writable) this.socket.end(errorResponse(code, message))
    else this.socket.destroy()
  }

  private write(b: Uint8Array): void {
    if (!this.closed && this.socket.writable) this.socket.write(b)
  }

  private async exec(msg: Uint8Array, onData: (d: Uint8Array) => void): Promise<void> {
    const { db } = this.ctx
    await db.runExclusive(() => db.execProtocolRawStream(msg, { onRawData: onData }))
  }

  /**
   * Runs `msgs` (whole messages, in order) in ONE engine call: the engine reads every message of
   * the buffer (PGlite's execProtocolRawSync loops until its input is consumed), so a query's
   * Parse/Bind/Describe/Execute/Sync cost one call and one write instead of five. Postgres's own
   * rules still hold inside: after an error the engine skips to the Sync.
   */
  private async run(msgs: Buffer[], boundary: boolean): Promise<void> {
    const { db, lock } = this.ctx
    await lock.acquire(this.id)
    this.tracker.readyStatus = 0
    const msg = msgs.length === 1 ? (msgs[0] as Buffer) : Buffer.concat(msgs)
    this.socket.cork()
    try {
      await this.exec(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), (d) => {
        this.tracker.feed(d)
        this.write(Buffer.from(d))
      })
    } finally {
      this.socket.uncork()
      // Idle ReadyForQuery after a Sync or simple Query: the unit Postgres treats as atomic.
      if (boundary && this.tracker.readyStatus === 0x49 && !db.isInTransaction()) lock.release(this.id)
    }
  }

  private async finishStartup(): Promise<void> {
    const { db, lock } = this.ctx
    await lock.acquire(this.id)
    const out: Buffer[] = []
    try {
      await this.exec(this.startup as Uint8Array, (d) => out.push(Buffer.from(d)))
    } finally {
      if (!db.isInTransaction()) lock.release(this.id)
    }
    this.unregister = this.ctx.registerKey(this.id, this.secretKey)
    this.write(withKeyData(Buffer.concat(out), backendKeyData(this.id, this.secretKey)))
    this.phase = 'ready'
  }

  private onStartupPacket(): 'more' | 'next' | 'stop' {
    const { reader } = this
    if (reader.length < 8) return 'more'
    const len = reader.int32At(0)
    if (len < 8 || len > MAX_STARTUP_LENGTH) {
      this.fail('08P01', `invalid length of startup packet: ${len}`)
      return 'stop'
    }
    if (reader.length < len) return 'more'
    const packet = reader.take(len)
    const code = packet.readInt32BE(4)
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      this.write(Buffer.from('N'))
      return 'next'
    }
    if (code === CANCEL_REQUEST) {
      if (len === 16) this.ctx.cancel(packet.readInt32BE(8), packet.readInt32BE(12))
      this.closed = true
      this.socket.end()
      return 'stop'
    }
    if (code !== PROTOCOL_3) {
      this.fail('0A000', `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: server supports 3.0`)
      return 'stop'
    }
    this.startup = new Uint8Array(packet)
    this.write(authenticationSasl())
    this.phase = 'sasl-initial'
    return 'next'
  }

  private async onAuth(type: number, body: Buffer): Promise<boolean> {
    const initial = this.phase === 'sasl-initial'
    const payload = type === 0x70 ? saslPayload(body, initial) : undefined
    const reply =
      payload === undefined ? undefined : initial ? this.scram.first(payload) : this.scram.final(payload)
    if (!reply) {
      this.fail('28P01', 'password authentication failed for user "postgres"')
      return false
    }
    this.write(reply)
    if (initial) this.phase = 'sasl-final'
    else await this.finishStartup()
    return true
  }

  /** True for a Query or Parse that runs COPY … FROM STDIN (refused before it reaches the engine). */
  private isCopyIn(type: number, msg: Buffer): boolean {
    if (type !== 0x51 && type !== 0x50) return false
    // Query: the SQL is the body; Parse: statement name, then the SQL.
    const sql = type === 0x51 ? cstring(msg, 5)[0] : cstring(msg, cstring(msg, 5)[1])[0]
    return isCopyFromStdin(sql)
  }

  private refuseCopyIn(type: number): void {
    this.write(errorResponse('0A000', 'COPY FROM STDIN is not supported by the embedded server', 'ERROR'))
    if (type === 0x51) this.write(backendMessage('Z', Buffer.from(this.ctx.db.isInTransaction() ? 'T' : 'I')))
    else this.skipUntilSync = true
  }

  /**
   * Takes every whole message buffered and runs them in batches that end at a Sync or a simple
   * Query (the engine lock is released only there); what precedes a missing Sync runs at once
   * and keeps the lock, as before.
   */
  private async drain(): Promise<void> {
    const { reader } = this
    const batch: Buffer[] = []
    const flush = async (boundary: boolean) => {
      if (batch.length === 0) return
      const msgs = batch.splice(0)
      await this.run(msgs, boundary)
    }
    while (!this.closed) {
      if (this.phase === 'startup') {
        if (this.onStartupPacket() === 'next') continue
        return
      }
      if (reader.length < 5) break
      const type = reader.byteAt(0)
      const len = reader.int32At(1)
      if (len < 4 || len > MAX_MESSAGE_LENGTH) {
        await flush(false)
        this.fail('08P01', `invalid message length ${len} for message type ${type}`)
        return
      }
      if (reader.length < len + 1) break
      const msg = reader.take(len + 1)
      if (this.phase !== 'ready') {
        if (!(await this.onAuth(type, msg.subarray(5)))) return
        continue
      }
      if (type === 0x58) {
        // Terminate
        await flush(false)
        this.closed = true
        this.socket.end()
        return
      }
      if (this.skipUntilSync && type !== 0x53) continue
      this.skipUntilSync = false
      if (this.isCopyIn(type, msg)) {
        // What came before it is answered first, in order.
        await flush(false)
        this.refuseCopyIn(type)
        continue
      }
      batch.push(this.statements.rewrite(type, msg))
      // 'S' Sync ends an extended-protocol sequence, 'Q' is a whole simple query.
      if (type === 0x53 || type === 0x51) await flush(true)
    }
    // A client that went away meanwhile gets nothing more run for it (cleanup resets the engine).
    if (!this.closed) await flush(false)
  }

  private async cleanup(): Promise<void> {
    const { db, lock } = this.ctx
    this.closed = true
    this.unregister?.()
    lock.forget(this.id)
    const close = this.statements.closeAll()
    const owner = lock.isOwner(this.id)
    if (!owner && !close) return
    // Its prepared statements go with it; they wait for the engine like any message.
    if (!owner) await lock.acquire(this.id)
    // The client left mid-sequence or mid-transaction: leave the engine clean for the next one.
    try {
      // Raw protocol only: db.exec inside runExclusive would wait on the lock we hold.
      await db.runExclusive(async () => {
        if (owner) {
          await db.execProtocolRawStream(SYNC, { onRawData: () => {} })
          if (db.isInTransaction()) await db.execProtocolRawStream(ROLLBACK, { onRawData: () => {} })
        }
        if (close) await db.execProtocolRawStream(close, { onRawData: () => {} })
      })
    } catch {
      // The engine is shared: a failure here must not take the server down.
    } finally {
      lock.release(this.id)
    }
  }
}

export function handleConnection(socket: net.Socket, id: number, ctx: ConnectionContext): void {
  new WireConnection(socket, id, ctx)
}
