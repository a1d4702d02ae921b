import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Server side of SCRAM-SHA-256 (RFC 5802/7677, as Postgres speaks it) for the embedded wire
 * server, plus the few backend messages the server writes itself. Channel binding is not offered
 * (the server is plain TCP on 127.0.0.1), so clients send `n,,` / `c=biws`.
 */

const ITERATIONS = 4096

export interface ScramSecret {
  salt: Buffer
  iterations: number
  storedKey: Buffer
  serverKey: Buffer
}

const hmac = (key: Buffer, data: string | Buffer) => createHmac('sha256', key).update(data).digest()
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest()

/** Derives the verifier once per server (PBKDF2 is deliberately slow). */
export function scramSecret(password: string): ScramSecret {
  const salt = randomBytes(16)
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, ITERATIONS, 32, 'sha256')
  return {
    salt,
    iterations: ITERATIONS,
    storedKey: sha256(hmac(salted, 'Client Key')),
    serverKey: hmac(salted, 'Server Key'),
  }
}

/** Backend message: type byte, int32 length (including itself), body. */
export function backendMessage(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head.write(type, 0, 'latin1')
  head.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n, 0)
  return b
}

/** AuthenticationSASL offering SCRAM-SHA-256 only. */
export function authenticationSasl(): Buffer {
  return backendMessage('R', Buffer.concat([int32(10), Buffer.from('SCRAM-SHA-256\0\0', 'latin1')]))
}

/** ErrorResponse with severity, SQLSTATE and message fields. */
export function errorResponse(code: string, message: string, severity = 'FATAL'): Buffer {
  const fields = `S${severity}\0V${severity}\0C${code}\0M${message}\0\0`
  return backendMessage('E', Buffer.from(fields, 'utf8'))
}

/** BackendKeyData: what a client sends back in a CancelRequest. */
export function backendKeyData(processId: number, secretKey: number): Buffer {
  return backendMessage('K', Buffer.concat([int32(processId), int32(secretKey)]))
}

/** Reads the client payload of a SASLInitialResponse (`initial`) or SASLResponse 'p' message body. */
export function saslPayload(body: Buffer, initial: boolean): string | undefined {
  if (!initial) return body.toString('utf8')
  const nul = body.indexOf(0)
  if (nul < 0 || body.subarray(0, nul).toString('latin1') !== 'SCRAM-SHA-256') return undefined
  if (body.length < nul + 5) return undefined
  const len = body.readInt32BE(nul + 1)
  if (len < 0 || body.length < nul + 5 + len) return undefined
  return body.subarray(nul + 5, nul + 5 + len).toString('utf8')
}

function attrs(msg: string): Map<string, string> {
  const m = new Map<string, string>()
  for (const part of msg.split(',')) {
    const eq = part.indexOf('=')
    if (eq === 1) m.set(part[0] as string, part.slice(2))
  }
  return m
}

/** One connection's exchange: client-first → server-first, client-final → server-final or failure. */
export class ScramExchange {
  private clientFirstBare = ''
  private serverFirst = ''
  private nonce = ''

  constructor(private readonly secret: ScramSecret) {}

  /** Returns AuthenticationSASLContinue, or undefined for a malformed client-first message. */
  first(clientFirst: string): Buffer | undefined {
    // gs2 header "n,," or "y,,": no channel binding, no authzid.
    const m = /^[ny],[^,]*,(.*)$/.exec(clientFirst)
    if (!m) return undefined
    this.clientFirstBare = m[1] as string
    const clientNonce = attrs(this.clientFirstBare).get('r')
    if (!clientNonce) return undefined
    this.nonce = clientNonce + randomBytes(18).toString('base64')
    this.serverFirst = `r=${this.nonce},s=${this.secret.salt.toString('base64')},i=${this.secret.iterations}`
    return backendMessage('R', Buffer.concat([int32(11), Buffer.from(this.serverFirst, 'utf8')]))
  }

  /** Returns AuthenticationSASLFinal when the proof matches the password, else undefined. */
  final(clientFinal: string): Buffer | undefined {
    const at = clientFinal.lastIndexOf(',p=')
    if (at < 0) return undefined
    const withoutProof = clientFinal.slice(0, at)
    const a = attrs(withoutProof)
    if (a.get('r') !== this.nonce) return undefined
    const proof = Buffer.from(clientFinal.slice(at + 3), 'base64')
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`
    const signature = hmac(this.secret.storedKey, authMessage)
    if (proof.length !== signature.length) return undefined
    const clientKey = Buffer.alloc(proof.length)
    for (let i = 0; i < proof.length; i++) clientKey[i] = (proof[i] as number) ^ (signature[i] as number)
    if (!timingSafeEqual(sha256(clientKey), this.secret.storedKey)) return undefined
    const serverSignature = hmac(this.secret.serverKey, authMessage).toString('base64')
    return backendMessage('R', Buffer.concat([int32(12), Buffer.from(`v=${serverSignature}`, 'utf8')]))
  }
}
