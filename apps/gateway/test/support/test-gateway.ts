import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import type { Pool } from '@loopdm/db/pool'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/openai-local/server'
import type { Config } from '@loopdm/platform/config'
import { createLogger } from '@loopdm/platform/logger'
import { testConfig, testPool } from '@loopdm/testing/fixtures'
import type { LightMyRequestResponse } from 'fastify'
import { createGateway, type Gateway, type GatewayOptions } from '../../src/compose.js'
import {
  createOutboxRepository,
  isDelivered,
  type OutboxRow,
} from '../../src/repositories/outbox.repository.js'
import { signBody } from '../../src/services/signature.js'
import { type FakeGraph, startFakeGraph } from './fake-graph.js'

export const TEST_APP_SECRET = 'test-app-secret'
export const TEST_VERIFY_TOKEN = 'test-verify-token'
export const TEST_ADMIN_TOKEN = 'test-admin-token'
export const TEST_ACCESS_TOKEN = 'test-ig-access-token'
export const TEST_IG_ACCOUNT = '17841400000000000'

export interface TestGatewayOptions {
  /** Extra env for testConfig (e.g. REDIS_URL, BASE_MODEL). */
  env?: Record<string, string | undefined>
  /** Reuse an openai-local; default: start one for this gateway. */
  openai?: OpenAILocal
  /** Reuse a fake Graph API; default: start one. */
  graph?: FakeGraph
  /** false → IG_ACCESS_TOKEN unset (replies are `logged`). Default true. */
  accessToken?: boolean
  workerConcurrency?: number
  /** Start the reply worker; default true. */
  worker?: boolean
  /** Listen on 127.0.0.1:0 as well (benchmarks, real HTTP); default false (tests use inject). */
  listen?: boolean
  gateway?: Partial<GatewayOptions>
}

export interface TestGateway {
  config: Config
  gateway: Gateway
  pool: Pool
  graph: FakeGraph
  openai: OpenAILocal
  /** Every log line (JSON) the gateway wrote at info and above. */
  logs: Array<Record<string, unknown>>
  /** Set when `listen`. */
  url: string | undefined
  outbox: ReturnType<typeof createOutboxRepository>
  /** POSTs a signed webhook body (object or raw string) through inject. */
  postWebhook(body: unknown, opts?: { signature?: string | null }): Promise<LightMyRequestResponse>
  /** Sends one signed DM from `user`; returns its mid and the webhook response. */
  dm(args: {
    user: string
    text?: string
    imageUrl?: string
    mid?: string
  }): Promise<{ mid: string; status: number }>
  /** Waits until every mid has all its outbox parts delivered; returns part 0 of each. */
  waitForReplies(mids: string[], timeoutMs?: number): Promise<OutboxRow[]>
  close(): Promise<void>
}

/** Builds a real gateway (real Redis, embedded Postgres, openai-local, fake Graph API) for tests and benches. */
export async function buildTestGateway(opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const openai = opts.openai ?? (await startOpenAILocal({ port: 0, ftStepMs: 20 }))
  const graph = opts.graph ?? (await startFakeGraph())
  const config = testConfig({
    IG_APP_SECRET: TEST_APP_SECRET,
    IG_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    IG_ACCESS_TOKEN: opts.accessToken === false ? undefined : TEST_ACCESS_TOKEN,
    IG_GRAPH_BASE_URL: graph.baseUrl,
    OPENAI_BASE_URL: openai.baseURL,
    OPENAI_MAX_RETRIES: '1',
    ...opts.env,
  })
  const logs: Array<Record<string, unknown>> = []
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue
        try {
          logs.push(JSON.parse(line))
          if (process.env.GATEWAY_TEST_LOGS) process.stderr.write(`${line}\n`)
        } catch {}
      }
      cb()
    },
  })
  const logger = createLogger({ level: 'info', destination, name: 'gateway' })
  const pool = await testPool(8)
  const gateway = createGateway({
    config,
    logger,
    pool,
    workerConcurrency: opts.workerConcurrency,
    worker: opts.worker,
    ...opts.gateway,
  })
  await gateway.start()
  let url: string | undefined
  if (opts.listen) url = await gateway.app.listen({ port: 0, host: '127.0.0.1' })
  else await gateway.app.ready()
  const outbox = createOutboxRepository(pool)

  const postWebhook: TestGateway['postWebhook'] = (body, o = {}) => {
    const payload = typeof body === 'string' ? body : JSON.stringify(body)
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    const sig = o.signature === undefined ? signBody(payload, TEST_APP_SECRET) : o.signature
    if (sig !== null) headers['x-hub-signature-256'] = sig
    return gateway.app.inject({ method: 'POST', url: '/webhook', payload, headers })
  }

  return {
    config,
    gateway,
    pool,
    graph,
    openai,
    logs,
    url,
    outbox,
    postWebhook,
    async dm({ user, text, imageUrl, mid }) {
      const m = mid ?? `mid.${randomBytes(8).toString('hex')}`
      const res = await postWebhook(dmWebhookBody({ user, text, imageUrl, mid: m }))
      return { mid: m, status: res.statusCode }
    },
    async waitForReplies(mids, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs
      for (;;) {
        const rows = await Promise.all(mids.map((m) => outbox.findByMid(m)))
        if (rows.every((r) => r.length > 0 && r.every(isDelivered))) return rows.map((r) => r[0] as OutboxRow)
        if (Date.now() > until) {
          const missing = mids.filter((_, i) => !(rows[i] ?? []).every(isDelivered) || rows[i]?.length === 0)
          throw new Error(`replies missing for ${missing.length}/${mids.length} mids after ${timeoutMs} ms`)
        }
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    async close() {
      await gateway.close()
      await pool.end()
      if (!opts.graph) await graph.close()
      if (!opts.openai) await openai.close()
    },
  }
}

/** A webhook body with one message event (text and/or image) from `user` to our account. */
export function dmWebhookBody(args: {
  user: string
  mid: string
  text?: string
  imageUrl?: string
  isEcho?: boolean
  account?: string
}) {
  const account = args.account ?? TEST_IG_ACCOUNT
  const message: Record<string, unknown> = { mid: args.mid }
  if (args.text !== undefined) message.text = args.text
  if (args.imageUrl) message.attachments = [{ type: 'image', payload: { url: args.imageUrl } }]
  if (args.isEcho) message.is_echo = true
  return {
    object: 'instagram',
    entry: [
      {
        id: account,
        time: Date.now(),
        messaging: [
          {
            sender: { id: args.isEcho ? account : args.user },
            recipient: { id: args.isEcho ? args.user : account },
            timestamp: Date.now(),
            message,
          },
        ],
      },
    ],
  }
}

/** Unique Instagram-scoped user id for a test. */
export const igUser = () => `igsid-${randomBytes(6).toString('hex')}`
