import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A fake of the provider's HTTP API for the evaluator's unit-level tests: chat completions answered
 * by a per-test function of (model, messages), and deterministic hashed n-gram embeddings. A real
 * HTTP server on 127.0.0.1, port 0 (only outbound HTTP is ever faked).
 */
export type Responder = (
  model: string,
  messages: Array<{ role: string; content: string }>,
) => string | { status: number; message?: string }

export interface FakeOpenAI {
  baseURL: string
  calls: Array<{ path: string; model?: string }>
  setResponder(r: Responder): void
  close(): Promise<void>
}

export function embedText(text: string, dims = 1536): number[] {
  const v = new Array<number>(dims).fill(0)
  const t = ` ${text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}€ ]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()} `
  const grams: string[] = t.trim().split(' ')
  for (let i = 0; i + 3 <= t.length; i++) grams.push(t.slice(i, i + 3))
  for (const g of grams) {
    const h = createHash('md5').update(g).digest()
    const idx = h.readUInt32LE(0) % dims
    v[idx] = (v[idx] as number) + ((h[4] as number) & 1 ? 1 : -1)
  }
  const n = Math.sqrt(v.reduce((a, b) => a + b * b, 0)) || 1
  return v.map((x) => x / n)
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>
}

export async function startFakeOpenAI(responder: Responder): Promise<FakeOpenAI> {
  let respond = responder
  const calls: FakeOpenAI['calls'] = []
  const server: Server = createServer(async (req, res) => {
    const send = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(json))
    }
    try {
      const b = await body(req)
      const path = (req.url ?? '').replace(/\?.*$/, '')
      calls.push({ path, model: typeof b.model === 'string' ? b.model : undefined })
      if (path === '/v1/chat/completions') {
        const model = String(b.model)
        const out = respond(model, b.messages as Array<{ role: string; content: string }>)
        if (typeof out !== 'string') {
          return send(out.status, {
            error: {
              message: out.message ?? 'error',
              type: 'invalid_request_error',
              param: null,
              code: null,
            },
          })
        }
        return send(200, {
          id: 'chatcmpl-fake',
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model,
          choices: [{ index: 0, message: { role: 'assistant', content: out }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
        })
      }
      if (path === '/v1/embeddings') {
        const input = Array.isArray(b.input) ? (b.input as string[]) : [String(b.input)]
        const data = input.map((t, index) => {
          const vec = embedText(t)
          const embedding =
            b.encoding_format === 'base64'
              ? Buffer.from(new Float32Array(vec).buffer).toString('base64')
              : vec
          return { object: 'embedding', index, embedding }
        })
        return send(200, {
          object: 'list',
          data,
          model: b.model,
          usage: { prompt_tokens: 1, total_tokens: 1 },
        })
      }
      send(404, {
        error: { message: `no route ${path}`, type: 'invalid_request_error', param: null, code: null },
      })
    } catch (err) {
      send(500, { error: { message: (err as Error).message, type: 'server_error', param: null, code: null } })
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    calls,
    setResponder(r) {
      respond = r
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}
