/**
 * Sends one message part through the Instagram Graph API:
 * `POST {graphBaseUrl}/{igAccountId}/messages` with `{recipient:{id}, message:{text}}` and the
 * access token as bearer. 429 and 5xx (and network errors/timeouts) are retryable; other 4xx are not.
 */
export interface GraphSenderOptions {
  graphBaseUrl: string
  accessToken: string
  /** Per-request timeout; default 10 000 ms. */
  timeoutMs?: number
  fetch?: typeof fetch
}

export interface GraphSender {
  send(args: {
    igAccountId: string
    recipientId: string
    text: string
  }): Promise<{ messageId: string | null }>
}

export class GraphSendError extends Error {
  override name = 'GraphSendError'
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message)
  }
}

export function createGraphSender(opts: GraphSenderOptions): GraphSender {
  const doFetch = opts.fetch ?? fetch
  const base = opts.graphBaseUrl.replace(/\/+$/, '')
  return {
    async send({ igAccountId, recipientId, text }) {
      let res: Response
      try {
        res = await doFetch(`${base}/${encodeURIComponent(igAccountId)}/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${opts.accessToken}` },
          body: JSON.stringify({ recipient: { id: recipientId }, message: { text } }),
          signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
        })
      } catch (err) {
        throw new GraphSendError(`Graph API unreachable: ${(err as Error).message}`, true)
      }
      const raw = await res.text().catch(() => '')
      if (!res.ok) {
        let detail = ''
        try {
          const e = JSON.parse(raw) as { error?: { message?: string; code?: number } }
          detail = e.error?.message ? `: ${e.error.message}` : ''
        } catch {}
        const retryable = res.status === 429 || res.status >= 500
        throw new GraphSendError(`Graph API ${res.status}${detail}`, retryable, res.status)
      }
      try {
        const j = JSON.parse(raw) as { message_id?: string }
        return { messageId: j.message_id ?? null }
      } catch {
        return { messageId: null }
      }
    },
  }
}
