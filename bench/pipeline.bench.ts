/**
 * Reply-pipeline overhead per DM, excluding model time: processDmMessage with the real
 * repositories (embedded Postgres), the per-user lock and order in Redis, the outbox and a
 * fake Graph API on loopback; the completion (openai-local) is timed and subtracted. Baseline: one
 * `select 1` round trip on the same pool, so the ratio reads as "round trips' worth".
 */
import { processDmMessage } from '@loopdm/gateway/jobs/dm.processor'
import type { ModelRouter } from '@loopdm/gateway/services/model-router'
import { startBenchGateway } from './gateway-env.js'
import { type BenchRow, percentile, timeMany } from './harness.js'

const N = 300

export default async function pipelineBench(): Promise<BenchRow[]> {
  const gw = await startBenchGateway({ worker: false })
  try {
    const deps = gw.gateway.dmDeps
    let modelMs = 0
    const real = deps.router
    const timed = {
      complete: async (args: Parameters<ModelRouter['complete']>[0]) => {
        const t = performance.now()
        try {
          return await real.complete(args)
        } finally {
          modelMs += performance.now() - t
        }
      },
    } as unknown as ModelRouter
    const run = `${process.pid}-${Date.now()}`
    const overhead: number[] = []
    const model: number[] = []
    for (let i = 0; i < N + 20; i++) {
      const payload = {
        mid: `mid.pbench.${run}.${i}`,
        igUserId: `pbench-user-${i % 25}`,
        igAccountId: '17841400000000000',
        text: `Hi, is the linen shirt in size M back in stock? (${i})`,
        attachments: [],
        timestamp: Date.now(),
        receivedAt: Date.now(),
      }
      await deps.order.noteArrival(payload.igUserId, [payload.mid])
      modelMs = 0
      const t = performance.now()
      const outcome = await processDmMessage(payload, { ...deps, router: timed })
      const total = performance.now() - t
      if (outcome !== 'answered') throw new Error(`DM ${i} was ${outcome}`)
      // The first 20 warm the JIT, pools and scripts.
      if (i >= 20) {
        overhead.push(total - modelMs)
        model.push(modelMs)
      }
    }
    overhead.sort((a, b) => a - b)
    model.sort((a, b) => a - b)
    if (gw.graph.sends.length < N) throw new Error(`only ${gw.graph.sends.length} sends for ${N} DMs`)
    const rt = await timeMany(500, () => gw.pool.query('select 1'))
    return [
      {
        name: 'reply pipeline overhead p50 (excl. model)',
        value: percentile(overhead, 50),
        baseline: percentile(rt, 50),
        unit: 'ms',
        better: 'lower',
        target: 'value < 15 ms',
        note: `p99 ${percentile(overhead, 99).toFixed(1)} ms; model p50 ${percentile(model, 50).toFixed(1)} ms (openai-local); ${N} DMs; baseline = one db round trip`,
      },
    ]
  } finally {
    await gw.close()
  }
}
