/**
 * Hot swap: promotion → the new model in use on all three gateway processes (p99 over 20 swaps;
 * target < 50 ms), against a bare Redis PUBLISH → SUBSCRIBE round trip measured in the same run.
 * "In use" = each gateway's `active model swapped` log line (emitted right after the atomic swap)
 * read by this process; the figure includes the probe completion, the registry transaction and
 * the publish.
 */
import { randomBytes } from 'node:crypto'
import { startEmbeddedPostgres } from '@loopdm/db/embedded'
import { runMigrations } from '@loopdm/db/migrate'
import { createPool } from '@loopdm/db/pool'
import { promoteModel } from '@loopdm/models/promotion'
import { startOpenAILocal } from '@loopdm/openai-local/server'
import { loadConfig } from '@loopdm/platform/config'
import { createOpenAISdk } from '@loopdm/platform/openai'
import { createRedis } from '@loopdm/redis/client'
import { fineTuneModel } from '@loopdm/testing/fine-tune'
import { type GatewayProc, spawnGateway } from '@loopdm/testing/gateway-proc'
import { type BenchRow, percentile } from './harness.js'

const SWAPS = 20

export default async function hotswapBench(): Promise<BenchRow[]> {
  const id = randomBytes(4).toString('hex')
  const embedded = await startEmbeddedPostgres({ port: 0 })
  const pool = createPool({ connectionString: embedded.url, max: 4 })
  await runMigrations(pool)
  const openai = await startOpenAILocal({ port: 0, ftStepMs: 10 })
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  const env = {
    DATABASE_URL: embedded.url,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: `bench-${id}`,
    MODEL_CHANNEL: `bench-${id}:model:active`,
    OPENAI_BASE_URL: openai.baseURL,
    MEMORY_ENABLED: 'false',
    LOG_LEVEL: 'info',
  }
  const config = loadConfig({ ...env, OPENAI_API_KEY: 'k' })
  const redis = createRedis({ url: redisUrl })
  const sdk = createOpenAISdk({ config })
  let gws: GatewayProc[] = []
  try {
    const pairs = (t: string): Array<[string, string]> =>
      Array.from({ length: 10 }, (_, i) => [`q${i}`, `${t}${i}`])
    const models = await Promise.all([
      fineTuneModel(sdk, {
        suffix: `a${id}`,
        pairs: pairs('a'),
        system: null,
        timeoutMs: 60_000,
        intervalMs: 50,
      }),
      fineTuneModel(sdk, {
        suffix: `b${id}`,
        pairs: pairs('b'),
        system: null,
        timeoutMs: 60_000,
        intervalMs: 50,
      }),
    ])
    gws = await Promise.all(['b1', 'b2', 'b3'].map((n) => spawnGateway(n, env)))
    const swapMs: number[] = []
    const fromPublishMs: number[] = []
    for (let i = 0; i < SWAPS + 2; i++) {
      const model = models[i % 2] as string
      const from = gws.map((g) => g.logs.length)
      const t0 = performance.now()
      const p = await promoteModel({
        db: pool,
        redis,
        sdk,
        config,
        ref: model,
        actor: 'bench',
        reason: 'bench',
      })
      const tPublished = performance.now()
      const seen = await Promise.all(
        gws.map((g, k) =>
          g.waitForLog((l) => l.msg === 'active model swapped' && l.version === p.version, 10_000, from[k]),
        ),
      )
      // The first two swaps warm up connections and JIT.
      if (i >= 2) {
        swapMs.push(Math.max(...seen.map((e) => e.at)) - t0)
        fromPublishMs.push(Math.max(0, Math.max(...seen.map((e) => e.at)) - tPublished))
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    // Baseline: a bare PUBLISH → SUBSCRIBE round trip on the same Redis.
    const sub = createRedis({ url: redisUrl, role: 'subscriber' })
    const channel = `bench-${id}:baseline`
    await sub.subscribe(channel)
    const rtt: number[] = []
    for (let i = 0; i < SWAPS + 2; i++) {
      const t0 = performance.now()
      const got = new Promise<void>((r) => sub.once('message', () => r()))
      await redis.publish(channel, String(i))
      await got
      if (i >= 2) rtt.push(performance.now() - t0)
    }
    await sub.quit()
    swapMs.sort((a, b) => a - b)
    fromPublishMs.sort((a, b) => a - b)
    rtt.sort((a, b) => a - b)
    return [
      {
        name: `hot swap p99 over ${SWAPS} swaps, 3 gateways`,
        value: percentile(swapMs, 99),
        baseline: percentile(rtt, 99),
        unit: 'ms',
        better: 'lower',
        target: '< 50 ms',
        note: `p50 ${percentile(swapMs, 50).toFixed(1)} ms (probe + transaction + publish + swap); baseline = bare Redis PUBLISH→SUBSCRIBE`,
      },
      {
        name: 'hot swap p99, publish → in use on all 3',
        value: percentile(fromPublishMs, 99),
        baseline: percentile(rtt, 99),
        unit: 'ms',
        better: 'lower',
        target: '< 50 ms',
        note: `p50 ${percentile(fromPublishMs, 50).toFixed(1)} ms`,
      },
    ]
  } finally {
    await Promise.all(gws.map((g) => g.stop()))
    await redis.quit()
    await openai.close()
    await pool.end()
    await embedded.close()
  }
}
