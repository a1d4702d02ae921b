/**
 * Sends one message part through the Send API: `POST {graphBaseUrl}{sendPath}` (default
 * `/me/messages`, which works for Instagram Login and Facebook Login; `{igAccountId}` in
 * IG_SEND_PATH is replaced by our account id) with `{recipient:{id}, message:{text}}` and the
 * access token as bearer. Meta's errors are classified by their body, not only the HTTP status —
 * see `classifyGraphError`. A 200 whose body carries `error` is a failure, not a send.
 */
export interface GraphSenderOptions {
  graphBaseUrl: string
  accessToken: string
  /** Default `/me/messages`. */
  sendPath?: string
  /** Per-request timeout; default 10 000 ms. */
  timeoutMs?: number
  fetch?: typeof fetch
}

export interface SendArgs {
  igAccountId: string
  recipientId: string
  text: string
  /** A reply typed by a human: sent with the HUMAN_AGENT tag (allowed up to 7 days). Never the bot. */
  humanAgent?: boolean
}

export interface GraphSender {
  send(args: SendArgs): Promise<{ messageId: string | null }>
}

/**
 * `rate_limit` (codes 4, 17, 32, 613, `is_transient`, HTTP 429) and `transient` (5xx, network)
 * are retried with backoff; `auth` (190: token expired or revoked) holds replies until the token
 * is replaced; `outside_window` (10 / 2534022: the 24-hour window closed) and `permanent` are not
 * retried.
 */
export type GraphErrorKind = 'rate_limit' | 'auth' | 'outside_window' | 'permanent' | 'transient'

export class GraphSendError extends Error {
  override name = 'GraphSendError'
  readonly code: 'GRAPH_SEND_FAILED' = 'GRAPH_SEND_FAILED'
  constructor(
    message: string,
    readonly kind: GraphErrorKind,
    readonly status?: number,
    readonly metaCode?: number,
    readonly metaSubcode?: number,
  ) {
    super(message)
  }
  get retryable(): boolean {
    return this.kind === 'rate_limit' || this.kind === 'transient'
  }
}

interface MetaError {
  message?: string
  type?: string
  code?: number
  error_subcode?: number
  is_transient?: boolean
}

const RATE_LIMIT_CODES = new Set([4, 17, 32, 613])

/** Meta's error body → kind. `status` is the HTTP status (200 for an error in a 200 body). */
export function classifyGraphError(status: number, e: MetaError | undefined): GraphErrorKind {
  const code = e?.code
  if (code !== undefined && RATE_LIMIT_CODES.has(code)) return 'rate_limit'
  if (e?.is_transient === true) return 'rate_limit'
  if (code === 190 || status === 401) return 'auth'
  if (e?.error_subcode === 2534022 || code === 10) return 'outside_window'
  if (status === 429) return 'rate_limit'
  if (status >= 500 || code === 1 || code === 2) return 'transient'
  return 'permanent'
}

function parseJson(raw: string): { message_id?: string; error?: MetaError } | null {
  try {
    const j = JSON.parse(raw) as unknown
    return j && typeof j === 'object' ? (j as { message_id?: string; error?: MetaError }) : null
  } catch {
    return null
  }
}

export function createGraphSender(opts: GraphSenderOptions): GraphSender {
  const doFetch = opts.fetch ?? fetch
  const base = opts.graphBaseUrl.replace(/\/+$/, '')
  const path = opts.sendPath ?? '/me/messages'
  return {
    async send({ igAccountId, recipientId, text, humanAgent }) {
      const url = `${base}${path.replace('{igAccountId}', encodeURIComponent(igAccountId))}`
      const body = {
        recipient: { id: recipientId },
        message: { text },
        ...(humanAgent ? { messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' } : {}),
      }
      let res: Response
      try {
        res = await doFetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${opts.accessToken}` },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
        })
      } catch (err) {
        throw new GraphSendError(`Graph API unreachable: ${(err as Error).message}`, 'transient')
      }
      const raw = await res.text().catch(() => '')
      const j = parseJson(raw)
      if (!res.ok || j?.error) {
        const e = j?.error
        const kind = classifyGraphError(res.status, e)
        const detail = [
          e?.code !== undefined ? `code ${e.code}` : '',
          e?.error_subcode !== undefined ? `subcode ${e.error_subcode}` : '',
          e?.message ?? '',
        ]
          .filter(Boolean)
          .join(', ')
        throw new GraphSendError(
          `Graph API ${res.status} (${kind})${detail ? `: ${detail}` : ''}`,
          kind,
          res.status,
          e?.code,
          e?.error_subcode,
        )
      }
      return { messageId: j?.message_id ?? null }
    },
  }
}
