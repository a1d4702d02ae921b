/**
 * Webhook throughput and ack latency. The real route (signature, parse, Instagram shape, per-user
 * order + BullMQ enqueue in Redis before the 200) against a bare Fastify route that only verifies
 * the signature and parses, in the same run, with the same deliveries (bench/webhook-delivery.ts,
 * each a new mid): throughput at 64 connections from autocannon in this process, then the ack
 * latency at a fixed 1,000 req/s (measured first) from a paced, open-loop generator in its own process.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import autocannon from 'autocannon'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { verifySignature } from '../apps/gateway/src/services/signature.js'
import { BENCH_SECRET, startBenchGateway } from './gateway-env.js'
import { type BenchRow, percentile } from './harness.js'
import { signedDelivery } from './webhook-delivery.js'

const DURATION_S = 4
const ROUNDS = 3
const POOL = 300_000
const CONNECTIONS = 64
/** The fixed-rate run for the ack latency (issue 20: p99 < 10 ms at 1,000 req/s): bench/webhook-paced.ts. */
const RATE = 1000

function bodies(n: number): Array<{ body: string; sig: string }> {
  return Array.from({ length: n }, (_, i) => signedDelivery(i, `mid.bench.${process.pid}`, BENCH_SECRET))
}

/** Where a target is in the pool: it never restarts, so every delivery to the gateway is a new mid. */
type Cursor = { i: number }

async function load(
  url: string,
  pool: Array<{ body: string; sig: string }>,
  cursor: Cursor,
  opts: { seconds: number },
) {
  const res = await autocannon({
    url: `${url}/webhook`,
    method: 'POST',
    connections: CONNECTIONS,
    duration: opts.seconds,
    requests: [
      {
        setupRequest: (req) => {
          const b = pool[cursor.i++ % pool.length] as { body: string; sig: string }
          return {
            ...req,
            body: b.body,
            headers: { 'content-type': 'application/json', 'x-hub-signature-256': b.sig },
          }
        },
      },
    ],
  })
  const non2xx = res.non2xx + res.errors + res.timeouts
  if (non2xx > 0) throw new Error(`${non2xx} failed requests (non-2xx/errors/timeouts) against ${url}`)
  return res
}

interface PacedResult {
  sent: number
  ok: number
  failed: number
  p50: number
  p99: number
  max: number
  dueP50: number
  dueP99: number
  lateMaxMs: number
}

/**
 * The fixed-rate run for the ack latency: an even RATE per second from a process of its own
 * (bench/webhook-paced.ts, open loop), so neither the load generator's work nor its garbage
 * collection lands on the server's event loop.
 */
function paced(url: string, seconds: number): Promise<PacedResult> {
  return new Promise((res, rej) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'webhook-paced.ts'), url, String(RATE), String(seconds)],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_WEBHOOK_SECRET: BENCH_SECRET } },
    )
    let out = ''
    child.stdout?.on('data', (d) => {
      out += d
    })
    child.once('exit', (code) => {
      const m = /RESULT (.+)/.exec(out)
      if (!m) return rej(new Error(`paced load generator exited ${code}: ${out}`))
      const r = JSON.parse(m[1] as string) as PacedResult
      if (r.failed > 0)
        rej(new Error(`${r.failed} of ${r.sent} paced deliveries to ${url} failed (non-200 or error)`))
      else res(r)
    })
  })
}

async function bare() {
  const app = Fastify({ logger: false })
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_r, body, done) => done(null, body))
  app.post('/webhook', async (req, reply) => {
    const raw = req.body as Buffer
    if (!verifySignature(raw, req.headers['x-hub-signature-256'], BENCH_SECRET)) return reply.code(401).send()
    JSON.parse(raw.toString('utf8'))
    return reply.code(200).send('EVENT_RECEIVED')
  })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { url, close: () => app.close() }
}

/** Samples a Redis PING every 5 ms until stopped; resolves its p50 and p99 in ms (the bare Redis round trip). */
function pingSampler() {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  const samples: number[] = []
  let running = true
  const loop = (async () => {
    while (running) {
      const t = performance.now()
      await redis.ping()
      samples.push(performance.now() - t)
      await new Promise((r) => setTimeout(r, 5))
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      redis.disconnect()
      samples.sort((a, b) => a - b)
      return { p50: percentile(samples, 50), p99: percentile(samples, 99) }
    },
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

export default async function webhookBench(): Promise<BenchRow[]> {
  const base = await bare()
  const gw = await startBenchGateway({ worker: false })
  try {
    // This machine is shared and noisy: rounds alternate bare/real and each figure is the median.
    const bareRps: number[] = []
    const realRps: number[] = []
    const bareP99: number[] = []
    const realP99: number[] = []
    const realP50: number[] = []
    const pingP99: number[] = []
    const pingP50: number[] = []
    // The ack latency first, before this process holds the throughput rounds' pre-signed bodies
    // (~200 MB of strings a production gateway never has, which would lengthen its GC pauses).
    // Warm both (JIT, Redis scripts loaded).
    await paced(base.url, 1)
    let acked = (await paced(gw.url, 1)).ok
    let late = 0
    const realDueP99: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const b = await paced(base.url, DURATION_S)
      bareP99.push(b.p99)
      const sampler = pingSampler()
      const r = await paced(gw.url, DURATION_S)
      acked += r.ok
      const ping = await sampler.stop()
      pingP99.push(ping.p99)
      pingP50.push(ping.p50)
      realP99.push(r.p99)
      realP50.push(r.p50)
      realDueP99.push(r.dueP99)
      late = Math.max(late, r.lateMaxMs, b.lateMaxMs)
    }
    // Throughput: large enough that the gateway never sees a mid twice (a re-delivery is a cheaper no-op).
    const pool = bodies(POOL)
    const bareAt: Cursor = { i: 0 }
    const realAt: Cursor = { i: 0 }
    await load(base.url, pool, bareAt, { seconds: 1 })
    acked += (await load(gw.url, pool, realAt, { seconds: 1 }))['2xx']
    for (let round = 0; round < ROUNDS; round++) {
      bareRps.push((await load(base.url, pool, bareAt, { seconds: DURATION_S })).requests.average)
      const real = await load(gw.url, pool, realAt, { seconds: DURATION_S })
      acked += real['2xx']
      realRps.push(real.requests.average)
    }
    // Every 200 means its job is in Redis (deliveries cut off in flight when a round ends may add a few more).
    const enqueued = await gw.gateway.queues.dm.getJobCountByTypes('waiting', 'prioritized', 'delayed')
    if (realAt.i <= POOL && enqueued < acked)
      throw new Error(`${acked} deliveries answered 200 but only ${enqueued} jobs are in Redis`)
    return [
      {
        name: 'webhook req/s (signed, enqueued vs bare)',
        value: median(realRps),
        baseline: median(bareRps),
        unit: 'req/s',
        better: 'higher',
        target: 'ratio ≥ 0.7',
        note: `median of ${ROUNDS} alternating ${DURATION_S}s rounds (real ${realRps.map(Math.round).join('/')}, bare ${bareRps.map(Math.round).join('/')}); ${CONNECTIONS} connections; ${enqueued} jobs durably in Redis for ${acked} deliveries answered 200 (${realAt.i} sent)${realAt.i > POOL ? ' (pool wrapped: some were re-deliveries)' : ''}`,
      },
      {
        name: `webhook ack p99 at ${RATE} req/s`,
        value: median(realP99),
        baseline: median(bareP99),
        unit: 'ms',
        better: 'lower',
        target: 'value < 10 ms',
        note: `median of ${ROUNDS} rounds of ${RATE * DURATION_S} deliveries sent evenly (one every ${1000 / RATE} ms, open loop, from a process of their own; latency from each write to its response): real p99 ${realP99.map((x) => x.toFixed(1)).join('/')} ms, bare ${bareP99.map((x) => x.toFixed(1)).join('/')} ms; real p50 ${median(realP50).toFixed(2)} ms; real p99 from each delivery's due time ${realDueP99.map((x) => x.toFixed(1)).join('/')} ms (the generator's own timer ran up to ${late.toFixed(1)} ms late); bare Redis round trip (PING) meanwhile p50 ${median(pingP50).toFixed(2)} ms, p99 ${pingP99.map((x) => x.toFixed(1)).join('/')} ms`,
      },
    ]
  } finally {
    await gw.close()
    await base.close()
  }
}
