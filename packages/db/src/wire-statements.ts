import { backendMessage } from './wire-auth.js'
import { cstring, SYNC } from './wire-reader.js'

/** Postgres keeps a prepared statement's name to NAMEDATALEN − 1 bytes. */
const MAX_NAME_BYTES = 63

/**
 * A connection's named prepared statements in the shared engine. The engine is one backend
 * session, so two connections preparing the same name (node-pg's `name`, `@loopdm/db/pool`
 * `prepared`) would collide ("prepared statement … already exists"), and one could execute
 * another's. Each connection's names are rewritten to its own (`c<id>_<name>`, or `c<id>_#<n>`
 * when that would be too long) in Parse, Bind, Describe and Close; the unnamed statement is left
 * alone (the engine lock already keeps it to one connection's sequence). What a connection
 * prepared is closed when it goes away.
 */
export class StatementNames {
  private readonly names = new Map<string, string>()
  private next = 1

  constructor(private readonly prefix: string) {}

  private scoped(name: string): string {
    let s = this.names.get(name)
    if (s === undefined) {
      s = `${this.prefix}${name}`
      if (Buffer.byteLength(s) > MAX_NAME_BYTES) s = `${this.prefix}#${this.next++}`
      this.names.set(name, s)
    }
    return s
  }

  /** The message with its statement name scoped; the same buffer when it names none. */
  rewrite(type: number, msg: Buffer): Buffer {
    // Parse: name first. Bind: portal, then the statement. Describe/Close: 'S' + statement.
    let at: number
    if (type === 0x50) at = 5
    else if (type === 0x42) at = cstring(msg, 5)[1]
    else if ((type === 0x44 || type === 0x43) && msg[5] === 0x53) at = 6
    else return msg
    const [name, after] = cstring(msg, at)
    if (name === '') return msg
    const scoped = Buffer.from(this.scoped(name), 'utf8')
    const out = Buffer.concat([msg.subarray(0, at), scoped, msg.subarray(after - 1)])
    out.writeInt32BE(out.length - 1, 1)
    return out
  }

  /** Close + Sync for every statement this connection named; undefined when it named none. */
  closeAll(): Uint8Array | undefined {
    if (this.names.size === 0) return undefined
    const parts: Buffer[] = []
    for (const s of this.names.values())
      parts.push(backendMessage('C', Buffer.concat([Buffer.from('S'), Buffer.from(`${s}\0`, 'utf8')])))
    parts.push(Buffer.from(SYNC))
    this.names.clear()
    return new Uint8Array(Buffer.concat(parts))
  }
}
