import { approveCandidate, promoteModel, rejectCandidate, rollbackModel } from '@loopdm/models/promotion'
import { promotionLog } from '@loopdm/models/promotion-log'
import type { FastifyPluginAsync } from 'fastify'
import type { GatewayRouteOptions } from '../route-deps.js'
import { IdParams, ReasonActorBody } from './schemas.js'

/**
 * Promotion admin API (mounted under /admin behind the bearer hook):
 * - `POST /admin/models/:id/promote` — registry id or model id; probes first (422 if not callable)
 * - `POST /admin/models/rollback` — back to the previously active model
 * - `POST /admin/candidates/:id/approve` — approve a gated candidate, i.e. promote it
 * - `POST /admin/candidates/:id/reject` — reject it with a reason
 * The same under the policy names (a policy is what answers DMs, packages/models/src/policy.ts):
 * `POST /admin/policies/:id/promote`, `/admin/policies/rollback`, `/admin/policies/:id/approve`,
 * `/admin/policies/:id/reject`; `:id` is a registry id or key (`exemplars:…`, `ft:…`, a model id).
 * `GET /admin/promotions[?limit=100&checks=false]` — the promotion log: promotions (`kind:
 * "promotion"`, their fields unchanged) interleaved by time with canary starts, checks and
 * decisions (`kind: "canary-…"`, with arms, statistic and numbers), newest first
 * (packages/models/src/promotion-log.ts).
 * Bodies are optional: `{ "reason": "…", "actor": "…" }`. Every change reaches all gateways via
 * the registry + the hot-swap channel (packages/models/src/promotion.ts). The routes receive
 * `deps.promotion` (pool, producer connection, the process's OpenAI SDK for the probe, registry).
 */

const LogQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    checks: { type: 'boolean', default: true },
  },
} as const

type Body = { reason?: string; actor?: string } | null | undefined

export const promotionRoutes: FastifyPluginAsync<GatewayRouteOptions> = async (app, { deps }) => {
  const actorOf = (b: Body) => b?.actor ?? 'admin-api'

  app.get<{ Querystring: { limit: number; checks: boolean } }>(
    '/promotions',
    { schema: { querystring: LogQuery } },
    async (req) => ({
      promotions: await promotionLog(deps.pool, { limit: req.query.limit, checks: req.query.checks }),
    }),
  )

  for (const prefix of ['/models', '/policies'])
    app.post<{ Params: { id: string }; Body: Body }>(
      `${prefix}/:id/promote`,
      { schema: { params: IdParams, body: ReasonActorBody } },
      async (req) => {
        const actor = actorOf(req.body)
        return promoteModel({
          ...deps.promotion,
          ref: req.params.id,
          actor,
          reason: req.body?.reason ?? `manual promotion by ${actor}`,
        })
      },
    )

  for (const path of ['/models/rollback', '/policies/rollback'])
    app.post<{ Body: Body }>(path, { schema: { body: ReasonActorBody } }, async (req) =>
      rollbackModel({ ...deps.promotion, actor: actorOf(req.body), reason: req.body?.reason }),
    )

  for (const prefix of ['/candidates', '/policies'])
    app.post<{ Params: { id: string }; Body: Body }>(
      `${prefix}/:id/approve`,
      { schema: { params: IdParams, body: ReasonActorBody } },
      async (req) =>
        approveCandidate({
          ...deps.promotion,
          ref: req.params.id,
          actor: actorOf(req.body),
          reason: req.body?.reason,
        }),
    )

  for (const prefix of ['/candidates', '/policies'])
    app.post<{ Params: { id: string }; Body: Body }>(
      `${prefix}/:id/reject`,
      { schema: { params: IdParams, body: ReasonActorBody } },
      async (req) =>
        rejectCandidate({
          db: deps.promotion.db,
          registry: deps.registry,
          ref: req.params.id,
          actor: actorOf(req.body),
          reason: req.body?.reason,
        }),
    )
}
