import { endCanary, startCanary } from '@loopdm/models/canary-control'
import { createCanaryRepository } from '@loopdm/models/canary-runs'
import { ConflictError } from '@loopdm/platform/errors'
import type { FastifyPluginAsync } from 'fastify'
import type { GatewayRouteOptions } from '../route-deps.js'
import { IdParams, ReasonActorBody } from './schemas.js'

/**
 * Canary admin API (issue 19), under /admin behind the bearer hook:
 * - `POST /admin/candidates/:id/canary {percent, minReplies, maxHours, margin?, actor?}` (also
 *   under `/admin/policies/:id/canary`): starts a canary of the candidate (probed first; 409 when
 *   one already runs or the policy is active/rejected/retired; 400 naming a bad field).
 * - `GET /admin/canary`: the live canary (arms, counts, rates, the test statistic and the decision
 *   so far, computed now), this gateway's split, the recent runs and the live run's log.
 * - `POST /admin/canary/stop {reason?, actor?}`: ends the live canary (candidate unchanged).
 */
const StartBody = {
  type: 'object',
  required: ['percent', 'minReplies', 'maxHours'],
  additionalProperties: false,
  properties: {
    percent: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
    minReplies: { type: 'integer', minimum: 1 },
    maxHours: { type: 'number', exclusiveMinimum: 0 },
    margin: { type: 'number', minimum: 0, maximum: 0.5 },
    actor: { type: 'string', minLength: 1, maxLength: 100 },
  },
} as const

interface Start {
  percent: number
  minReplies: number
  maxHours: number
  margin?: number
  actor?: string
}

export const canaryRoutes: FastifyPluginAsync<GatewayRouteOptions> = async (app, { deps }) => {
  const repo = createCanaryRepository(deps.pool)

  for (const prefix of ['/candidates', '/policies'])
    app.post<{ Params: { id: string }; Body: Start }>(
      `${prefix}/:id/canary`,
      { schema: { params: IdParams, body: StartBody } },
      async (req, reply) => {
        const b = req.body
        const run = await startCanary({
          ...deps.promotion,
          ref: req.params.id,
          percent: b.percent,
          minReplies: b.minReplies,
          maxHours: b.maxHours,
          margin: b.margin,
          actor: b.actor ?? 'admin-api',
        })
        return reply.code(201).send({ run })
      },
    )

  app.get('/canary', async () => {
    const snap = await deps.canary.checker.snapshot()
    const recent = await repo.recent(10)
    const events = snap ? await repo.events(snap.run.id, 50) : []
    return {
      live: snap
        ? {
            run: snap.run,
            arms: snap.decision.arms,
            counts: snap.counts,
            test: snap.decision.test,
            decision: snap.decision.decision,
            reason: snap.decision.reason,
            elapsedHours: snap.decision.elapsedHours,
            config: snap.decision.config,
          }
        : null,
      split: deps.canary.split.current(),
      recent,
      events,
    }
  })

  app.post<{ Body: { reason?: string; actor?: string } | null }>(
    '/canary/stop',
    { schema: { body: ReasonActorBody } },
    async (req) => {
      const run = await repo.live()
      if (!run) throw new ConflictError('no canary is running')
      const actor = req.body?.actor ?? 'admin-api'
      const reason = req.body?.reason ?? `stopped by ${actor}`
      await endCanary(deps.promotion, { run, status: 'stopped', decision: 'stop', reason, actor })
      return { run: await repo.byId(run.id) }
    },
  )
}
