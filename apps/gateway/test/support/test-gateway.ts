import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import { captureLogger } from '@loopdm/testing/capture-logger'
import { type FakeGraph, startFakeGraph } from '@loopdm/testing/fake-graph'
import { testConfig, testPool } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { waitFor } from '@loopdm/testing/wait'
import { dmWebhookBody as baseDmWebhookBody, igUser, newMid } from '@loopdm/testing/webhook'
import type { LightMyRequestResponse } from 'fastify'
import { createGateway, type Gateway, type GatewayOptions } from '../../src/compose.js'
import {
  createOutboxRepository,
  isDelivered,
  type OutboxRow,
} from '../../src/repositories/outbox.repository.js'
import { signBody } from '../../src/services/signature.js'

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
  const { logger, lines: logs } = captureLogger({ name: 'gateway', echo: !!process.env.GATEWAY_TEST_LOGS })
  const pool = await testPool(8)
  const gateway = createGateway({
    config,
    logger,
    pool,
    workerConcurrency: opts.workerConcurrency,
    worker: opts.worker,
    ...opts.gateway,
  })
  let url: string | undefined
  try {
    // start() returns once the producer Redis connection is ready: a webhook right after gets 200, not 503.
    await gateway.start()
    if (opts.listen) url = await gateway.app.listen({ port: 0, host: '127.0.0.1' })
    else await gateway.app.ready()
  } catch (err) {
    await gateway.close().catch(() => {})
    await pool.end().catch(() => {})
    if (!opts.graph) await graph.close()
    if (!opts.openai) await openai.close()
    throw err
  }
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
      const m = mid ?? newMid()
      const res = await postWebhook(dmWebhookBody({ user, text, imageUrl, mid: m }))
      return { mid: m, status: res.statusCode }
    },
    waitForReplies: (mids, timeoutMs = 20_000) =>
      waitFor(
        async () => {
          const rows = await Promise.all(mids.map((m) => outbox.findByMid(m)))
          return rows.every((r) => r.length > 0 && r.every(isDelivered)) && rows.map((r) => r[0] as OutboxRow)
        },
        { what: `replies to ${mids.length} mids`, timeoutMs },
      ),
    async close() {
      await gateway.close()
      await pool.end()
      if (!opts.graph) await graph.close()
      if (!opts.openai) await openai.close()
    },
  }
}

/** A webhook body with one message event from `user` to the test account (default). */
export function dmWebhookBody(
  args: Omit<Parameters<typeof baseDmWebhookBody>[0], 'account'> & { account?: string },
) {
  return baseDmWebhookBody({ ...args, account: args.account ?? TEST_IG_ACCOUNT })
}

export { igUser }
