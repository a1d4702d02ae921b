import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { waitFor } from '@loopdm/testing/wait'
import type { Queue } from 'bullmq'
import { TEST_IG_ACCOUNT } from './test-gateway.js'

/** Meta's envelope (Instagram Login): `{object:"instagram", entry:[{id:<our IG id>, time, messaging}]}`. */
export function metaBody(messaging: unknown[], account = TEST_IG_ACCOUNT) {
  return { object: 'instagram', entry: [{ id: account, time: Date.now(), messaging }] }
}

/** A `messaging[]` event from the customer to our account, as Meta documents it. */
export const fromCustomer = (user: string, fields: Record<string, unknown>, account = TEST_IG_ACCOUNT) => ({
  sender: { id: user },
  recipient: { id: account },
  timestamp: Date.now(),
  ...fields,
})

/** An echo: our account → the customer (`is_echo: true`), e.g. staff replying from the Instagram app. */
export const echoTo = (user: string, mid: string, text: string, account = TEST_IG_ACCOUNT) => ({
  sender: { id: account },
  recipient: { id: user },
  timestamp: Date.now(),
  message: { mid, text, is_echo: true },
})

/** Waits for a dm job to complete and returns its return value (the outcome). */
export async function jobOutcome(queue: Queue, jobId: string, timeoutMs = 20_000): Promise<unknown> {
  return waitFor(
    async () => {
      const job = await queue.getJob(jobId)
      if (!job) return false
      const state = await job.getState()
      if (state === 'failed') throw new Error(`job ${jobId} failed: ${job.failedReason}`)
      return state === 'completed' && { value: job.returnvalue }
    },
    { what: `job ${jobId} completed`, timeoutMs },
  ).then((r) => r.value)
}

/** A recording HTTP proxy in front of openai-local: every chat completion request body, in order. */
export interface RecordingProxy {
  baseURL: string
  chats: Array<{ model: string; messages: Array<{ role: string; content: unknown }> }>
  close(): Promise<void>
}

export async function startRecordingProxy(targetBaseURL: string): Promise<RecordingProxy> {
  const target = new URL(targetBaseURL)
  const chats: RecordingProxy['chats'] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      if (req.url?.endsWith('/chat/completions')) {
        try {
          chats.push(JSON.parse(body.toString('utf8')))
        } catch {}
      }
      const up = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers)
          r.pipe(res)
        },
      )
      up.on('error', () => {
        res.writeHead(502)
        res.end()
      })
      up.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    chats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** The text of a chat message content (string or parts). */
export const textOf = (content: unknown): string =>
  typeof content === 'string'
    ? content
    : Array.isArray(content)
      ? content
          .map((p: { type?: string; text?: string }) => (p.type === 'text' ? (p.text ?? '') : ''))
          .join('\n')
      : ''

export const imagesOf = (content: unknown): string[] =>
  Array.isArray(content)
    ? content
        .filter((p: { type?: string }) => p.type === 'image_url')
        .map((p: { image_url?: { url?: string } }) => p.image_url?.url ?? '')
    : []
