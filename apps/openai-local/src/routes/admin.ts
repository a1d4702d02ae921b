import type { FastifyInstance } from 'fastify'
import { invalidRequest } from '../errors.js'
import type { FaultStatus } from '../faults.js'
import type { RouteContext } from './context.js'

/**
 * `POST /_admin/faults` — the fault knobs over HTTP, for tests faulting a server in another process:
 * `{ failNext?, status?, retryAfterSec?, retryAfterMs?, paths?, latencyMs?, reset? }`.
 * `GET /_admin/faults` shows what is pending.
 */
export function adminRoutes(app: FastifyInstance, ctx: RouteContext) {
  app.get('/_admin/faults', async () => ctx.faults.snapshot())
  app.post('/_admin/faults', async (req) => {
    const b = (req.body ?? {}) as Record<string, unknown>
    if (b.reset === true) ctx.faults.reset()
    if (b.failNext !== undefined) {
      const n = Number(b.failNext)
      const status = Number(b.status ?? 429)
      if (!Number.isInteger(n) || n < 0) throw invalidRequest('failNext must be an integer ≥ 0', 'failNext')
      if (![403, 429, 500, 503].includes(status))
        throw invalidRequest('status must be 403, 429, 500 or 503', 'status')
      ctx.faults.failNext(n, status as FaultStatus, {
        ...(b.retryAfterSec !== undefined ? { retryAfterSec: Number(b.retryAfterSec) } : {}),
        ...(b.retryAfterMs !== undefined ? { retryAfterMs: Number(b.retryAfterMs) } : {}),
        ...(typeof b.paths === 'string' ? { paths: b.paths } : {}),
      })
    }
    if (b.latencyMs !== undefined) {
      const ms = Number(b.latencyMs)
      if (!Number.isFinite(ms) || ms < 0) throw invalidRequest('latencyMs must be a number ≥ 0', 'latencyMs')
      ctx.faults.setLatency(ms)
    }
    return ctx.faults.snapshot()
  })
}
