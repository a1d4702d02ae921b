/**
 * Webhook throughput and ack latency. The real route (signature, parse, Instagram shape, per-user
 * order + BullMQ enqueue in Redis before the 200) against a bare Fastify route that only verifies
 * the signature and parses, in the same run, with the same pre-signed bodies (unique mids).
 */
import autocannon from 'autocannon'
import Fastify from 'fastify'
import { signBody, verifySignature } from '../apps/gateway/src/services/signature.js'
import { BENCH_SECRET, startBenchGateway } from './gateway-env.js'
import type { BenchRow } from './harness.js'

const DURATION_S = 5
const CONNECTIONS = 64

function bodies(n: number): Array<{ body: string; sig: string }> {
  const out: Array<{ body: string; sig: string }> = []
  for (let i = 0; i < n; i++) {
    const body = JSON.stringify({
      object: 'instagram',
      entry: [
        {
          id: '17841400000000000',
          time: 1_700_000_000_000,
          messaging: [
            {
              sender: { id: `bench-user-${i % 500}` },
              recipient: { id: '17841400000000000' },
              timestamp: 1_700_000_000_000 + i,
              message: {
                mid: `mid.bench.${process.pid}.${i}`,
                text: `How much is shipping to Vienna? #${i}`,
              },
            },
          ],
        },
      ],
    })
    out.push({ body, sig: signBody(body, BENCH_SECRET) })
  }
  return out
}

async function load(
  url: string,
  pool: Array<{ body: string; sig: string }>,
  opts: { rate?: number; seconds: number },
) {
  let i = 0
  const res = await autocannon({
    url: `${url}/webhook`,
    method: 'POST',
    connections: opts.rate ? 8 : CONNECTIONS,
    duration: opts.seconds,
    ...(opts.rate ? { overallRate: opts.rate } : {}),
    requests: [
      {
        setupRequest: (req) => {
          const b = pool[i++ % pool.length] as { body: string; sig: string }
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

export default async function webhookBench(): Promise<BenchRow[]> {
  const pool = bodies(200_000)
  const base = await bare()
  const gw = await startBenchGateway({ worker: false })
  try {
    // Warm both (JIT, Redis scripts loaded).
    await load(base.url, pool, { seconds: 1 })
    await load(gw.url, pool, { seconds: 1 })
    const bareRun = await load(base.url, pool, { seconds: DURATION_S })
    const realRun = await load(gw.url, pool, { seconds: DURATION_S })
    const bareLat = await load(base.url, pool, { seconds: DURATION_S, rate: 500 })
    const realLat = await load(gw.url, pool, { seconds: DURATION_S, rate: 500 })
    const enqueued = await gw.gateway.queues.dm.getJobCountByTypes('waiting', 'prioritized', 'delayed')
    return [
      {
        name: 'webhook req/s (signed, enqueued vs bare)',
        value: realRun.requests.average,
        baseline: bareRun.requests.average,
        unit: 'req/s',
        better: 'higher',
        target: 'ratio ≥ 0.4',
        note: `${enqueued} jobs durably in Redis; ${CONNECTIONS} connections, ${DURATION_S}s each`,
      },
      {
        name: 'webhook ack p99 at 500 req/s',
        value: realLat.latency.p99,
        baseline: bareLat.latency.p99,
        unit: 'ms',
        better: 'lower',
        target: 'value < 25 ms',
        note: `p50 ${realLat.latency.p50} ms (bare ${bareLat.latency.p50} ms); ${realLat.requests.total} requests`,
      },
    ]
  } finally {
    await gw.close()
    await base.close()
  }
}
