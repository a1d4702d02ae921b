import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { OpenAILocal } from '@loopdm/testing/openai-local'

/** A chat completion request as openai-local received it. */
export interface RecordedChat {
  model: string
  messages: Array<{ role: string; content: unknown }>
}

const readBody = async (req: IncomingMessage) => {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/**
 * A pass-through HTTP proxy in front of an openai-local that records every chat completion body
 * and embeddings input, so a test can assert what the gateway actually sent (the system prompt,
 * how many times a text was embedded …). Returned as an OpenAILocal whose URLs point at the proxy;
 * `close()` closes the proxy only.
 */
export async function recordingOpenAI(
  target: OpenAILocal,
): Promise<OpenAILocal & { chats: RecordedChat[]; embeddings: string[][] }> {
  const chats: RecordedChat[] = []
  /** The `input` of every embeddings request, as a list. */
  const embeddings: string[][] = []
  const server = createServer(async (req, res) => {
    try {
      const body = await readBody(req)
      if (req.method === 'POST' && req.url?.startsWith('/v1/chat/completions'))
        chats.push(JSON.parse(body.toString('utf8')) as RecordedChat)
      if (req.method === 'POST' && req.url?.startsWith('/v1/embeddings')) {
        const input = (JSON.parse(body.toString('utf8')) as { input: string | string[] }).input
        embeddings.push(Array.isArray(input) ? input : [input])
      }
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([k]) => !['host', 'content-length', 'connection'].includes(k)),
      ) as Record<string, string>
      const up = await fetch(`${target.url}${req.url}`, {
        method: req.method,
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
      })
      const out = Buffer.from(await up.arrayBuffer())
      res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' })
      res.end(out)
    } catch (err) {
      res.writeHead(502).end(String(err))
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    ...target,
    url,
    baseURL: `${url}/v1`,
    togetherBaseURL: `${url}/together/v1`,
    chats,
    embeddings,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
