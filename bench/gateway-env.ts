/**
 * A real gateway for the gateway benchmarks: embedded Postgres (port 0, in-memory, migrated), the
 * machine's Redis under a unique queue prefix, openai-local in-process, a fake Graph API, and
 * logs at warn. `close()` removes the benchmark's Redis keys.
 */
import { randomBytes } from 'node:crypto'
import { runMigrations } from '@loopdm/db/migrate'
import { createPool, type Pool, refreshVectorType } from '@loopdm/db/pool'
import { createGateway, type Gateway, type GatewayOptions } from '@loopdm/gateway/compose'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/openai-local/server'
import { loadConfig } from '@loopdm/platform/config'
import { createLogger } from '@loopdm/platform/logger'
import { type FakeGraph, startFakeGraph } from '@loopdm/testing/fake-graph'
import { Redis } from 'ioredis'
import { startPgProcess } from './pg-process.js'

export const BENCH_SECRET = 'bench-app-secret'

export interface BenchGateway {
  gateway: Gateway
  pool: Pool
  openai: OpenAILocal
  graph: FakeGraph
  url: string
  close(): Promise<void>
}

export async function startBenchGateway(opts: Partial<GatewayOptions> = {}): Promise<BenchGateway> {
  const embedded = await startPgProcess()
  const pool = createPool({ connectionString: embedded.url, max: 8 })
  await runMigrations(pool)
  await refreshVectorType(pool)
  const openai = await startOpenAILocal({ port: 0 })
  const graph = await startFakeGraph()
  const prefix = `bench-${randomBytes(4).toString('hex')}`
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  const config = loadConfig({
    NODE_ENV: 'production',
    DATABASE_URL: embedded.url,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    MODEL_CHANNEL: `${prefix}:model:active`,
    IG_APP_SECRET: BENCH_SECRET,
    IG_VERIFY_TOKEN: 'bench',
    IG_ACCESS_TOKEN: 'bench-token',
    IG_GRAPH_BASE_URL: graph.baseUrl,
    OPENAI_BASE_URL: openai.baseURL,
    ADMIN_TOKEN: 'bench-admin',
    LOG_LEVEL: 'warn',
  })
  const logger = createLogger({ level: 'warn', name: 'gateway-bench' })
  const gateway = createGateway({ config, logger, pool, ...opts })
  await gateway.start()
  const url = await gateway.app.listen({ port: 0, host: '127.0.0.1' })
  return {
    gateway,
    pool,
    openai,
    graph,
    url,
    async close() {
      await gateway.close()
      const r = new Redis(redisUrl)
      let cursor = '0'
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
        cursor = next
        if (keys.length) await r.unlink(...keys)
      } while (cursor !== '0')
      r.disconnect()
      await pool.end()
      await graph.close()
      await openai.close()
      await embedded.close()
    },
  }
}
