import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A fake Instagram Graph API on 127.0.0.1 (port 0): records every `POST /{ig-id}/messages` and
 * answers `{recipient_id, message_id}` like Meta, with fault knobs (fail the next N sends).
 */
export interface GraphSend {
  /** Arrival order at the fake, from 1. */
  seq: number
  igAccountId: string
  recipientId: string
  text: string
  authorization: string | undefined
  messageId: string
  /** `HUMAN_AGENT` when the send was tagged. */
  tag: string | undefined
  at: number
}

export interface FakeGraph {
  /** e.g. `http://127.0.0.1:PORT/v21.0` — pass as IG_GRAPH_BASE_URL. */
  baseUrl: string
  sends: GraphSend[]
  /** The next `n` sends answer `status` (429, 500 … or 400 for a permanent error), after
   *  letting `after` sends succeed first (default 0). `error` is Meta's error object to answer
   *  (e.g. `{code: 613}`, `{code: 190}`, `{code: 10, error_subcode: 2534022}`); by default code 4
   *  for 429, 2 for 5xx and 100 otherwise. Status 200 with an `error` answers an error body with 200. */
  failNext(
    n: number,
    status: number,
    opts?: {
      after?: number
      error?: {
        code?: number
        error_subcode?: number
        is_transient?: boolean
        message?: string
        type?: string
      }
    },
  ): void
  /** Called for every accepted send before it is answered (e.g. deliver the echo early, like Meta). */
  onSend(hook: ((send: GraphSend) => Promise<void> | void) | undefined): void
  /** Tokens refreshed through `GET /refresh_access_token`, in order. */
  refreshed: string[]
  /** Sends that were answered with an error, with the error code answered. */
  failures: Array<{ recipientId: string; status: number; code: number | undefined; at: number }>
  /** Delay every answer by `ms`. */
  setLatency(ms: number): void
  sendsTo(recipientId: string): GraphSend[]
  /**
   * How many message POSTs for `recipientId` have arrived whole, answered or not yet (counted
   * before the latency): a test that kills the sender "while the POST is in flight" waits for it.
   */
  arrivedFor(recipientId: string): number
  reset(): void
  close(): Promise<void>
}

export async function startFakeGraph(): Promise<FakeGraph> {
  const sends: GraphSend[] = []
  let failures = 0
  let passBeforeFailing = 0
  let failStatus = 500
  let failError: Record<string, unknown> | undefined
  let hook: ((send: GraphSend) => Promise<void> | void) | undefined
  const failuresLog: FakeGraph['failures'] = []
  const refreshed: string[] = []
  let latency = 0
  let seq = 0
  const arrived: string[] = []
  // Unique across fakes: message ids land in the shared database (outbox.sent_mid).
  const instance = randomBytes(4).toString('hex')
  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req)
    const m = req.method === 'POST' ? /^\/v[\d.]+\/([^/]+)\/messages$/.exec(req.url ?? '') : null
    let parsed: {
      recipient?: { id?: string }
      message?: { text?: string }
      messaging_type?: string
      tag?: string
    } = {}
    if (m) {
      try {
        parsed = JSON.parse(body)
      } catch {}
      arrived.push(parsed.recipient?.id ?? '')
    }
    if (latency) await new Promise((r) => setTimeout(r, latency))
    if (req.method === 'GET' && (req.url ?? '').startsWith('/refresh_access_token?')) {
      answerRefresh(new URL(req.url ?? '', 'http://x').searchParams, res, refreshed)
      return
    }
    if (!m) {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { message: 'Unknown path', code: 100 } }))
      return
    }
    // Meta's documented limit: message text is at most 1000 bytes of UTF-8.
    const text = parsed.message?.text ?? ''
    if (Buffer.byteLength(text, 'utf8') > 1000) {
      failuresLog.push({ recipientId: parsed.recipient?.id ?? '', status: 400, code: 100, at: Date.now() })
      res.writeHead(400, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          error: {
            message: '(#100) Length of param message[text] must be less than or equal to 1000',
            type: 'OAuthException',
            code: 100,
            fbtrace_id: 'fake',
          },
        }),
      )
      return
    }
    if (failures > 0 && passBeforeFailing > 0) passBeforeFailing--
    else if (failures > 0) {
      failures--
      const defaultCode = failStatus === 429 ? 4 : failStatus >= 500 ? 2 : 100
      const error = {
        message: `fake failure ${failStatus}`,
        type: 'OAuthException',
        code: defaultCode,
        ...failError,
      }
      failuresLog.push({
        recipientId: parsed.recipient?.id ?? '',
        status: failStatus,
        code: error.code as number | undefined,
        at: Date.now(),
      })
      res.writeHead(failStatus, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { ...error, fbtrace_id: 'fake' } }))
      return
    }
    const messageId = `fake_m_${instance}_${++seq}`
    sends.push({
      seq,
      igAccountId: decodeURIComponent(m[1] as string),
      recipientId: parsed.recipient?.id ?? '',
      text: parsed.message?.text ?? '',
      authorization: req.headers.authorization,
      messageId,
      tag: parsed.tag,
      at: Date.now(),
    })
    const last = sends[sends.length - 1] as GraphSend
    if (hook) await hook(last)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ recipient_id: parsed.recipient?.id, message_id: messageId }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseUrl: `http://127.0.0.1:${port}/v21.0`,
    sends,
    failures: failuresLog,
    refreshed,
    failNext(n, status, o = {}) {
      failures = n
      failStatus = status
      failError = o.error
      passBeforeFailing = o.after ?? 0
    },
    onSend(h) {
      hook = h
    },
    setLatency(ms) {
      latency = ms
    },
    sendsTo: (recipientId) => sends.filter((s) => s.recipientId === recipientId),
    arrivedFor: (recipientId) => arrived.filter((r) => r === recipientId).length,
    reset() {
      sends.length = 0
      arrived.length = 0
      failuresLog.length = 0
      hook = undefined
      failError = undefined
      failures = 0
      passBeforeFailing = 0
      latency = 0
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/**
 * Meta's `GET https://graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token&access_token=…`:
 * `{access_token, token_type: "bearer", expires_in}` (60 days); a token starting `expired` is refused
 * with 190 like Meta refuses an expired one.
 */
function answerRefresh(q: URLSearchParams, res: import('node:http').ServerResponse, log: string[]) {
  const token = q.get('access_token') ?? ''
  const fail = (message: string, code: number) => {
    res.writeHead(400, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ error: { message, type: 'OAuthException', code, fbtrace_id: 'fake' } }))
  }
  if (q.get('grant_type') !== 'ig_refresh_token') return fail('Unsupported grant_type', 100)
  if (!token || token.startsWith('expired'))
    return fail('Error validating access token: Session has expired', 190)
  log.push(token)
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(
    JSON.stringify({
      access_token: `refreshed-${log.length}-${token.slice(0, 8)}`,
      token_type: 'bearer',
      expires_in: 5_183_944,
    }),
  )
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}
