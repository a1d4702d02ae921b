import { SHADOW_MESSAGE } from '@loopdm/models/hotswap'
import { createShadowRepository, startShadow } from '@loopdm/models/shadow-runs'
import { ConflictError } from '@loopdm/platform/errors'
import type { FastifyPluginAsync } from 'fastify'
import type { GatewayRouteOptions } from '../route-deps.js'
import { IdParams } from './schemas.js'

/**
 * Shadow admin API (issue 19), under /admin behind the bearer hook:
 * - `POST /admin/candidates/:id/shadow {sample, actor?}` (also `/admin/policies/:id/shadow`):
 *   the candidate also answers `sample` (a fraction in (0, 1]) of live DMs in the background,
 *   never sent (probed first; 409 when a shadow already runs; 400 naming a bad field).
 * - `GET /admin/shadow`: the live (or last given `?run=`) shadow, its answer count, mean scores,
 *   cost, today's shadow spend against SHADOW_MAX_USD and its latest answers.
 * - `POST /admin/shadow/stop`: ends the live shadow.
 */
const StartBody = {
  type: 'object',
  required: ['sample'],
  additionalProperties: false,
  properties: {
    sample: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
    actor: { type: 'string', minLength: 1, maxLength: 100 },
  },
} as const
const RunQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { run: { type: 'integer', minimum: 1 } },
} as const

export const shadowRoutes: FastifyPluginAsync<GatewayRouteOptions> = async (app, { deps }) => {
  const repo = createShadowRepository(deps.pool)
  /** Tells every gateway to re-read the shadow run; a lost hint only waits for their reconcile. */
  const hintShadow = () =>
    deps.redis
      .publish(deps.config.models.channel, SHADOW_MESSAGE)
      .catch((err: Error) => deps.logger.warn({ err: err.message }, 'shadow hint not published'))

  for (const prefix of ['/candidates', '/policies'])
    app.post<{ Params: { id: string }; Body: { sample: number; actor?: string } }>(
      `${prefix}/:id/shadow`,
      { schema: { params: IdParams, body: StartBody } },
      async (req, reply) => {
        const run = await startShadow({
          ...deps.promotion,
          ref: req.params.id,
          sample: req.body.sample,
          actor: req.body.actor ?? 'admin-api',
        })
        // This gateway starts at once; the others on the hint (or within MODEL_RECONCILE_INTERVAL_MS).
        await deps.canary.shadow.refresh()
        await hintShadow()
        return reply.code(201).send({ run })
      },
    )

  app.get<{ Querystring: { run?: number } }>(
    '/shadow',
    { schema: { querystring: RunQuery } },
    async (req) => {
      const run = req.query.run ? await repo.byId(req.query.run) : await repo.live()
      return {
        run,
        summary: run ? await repo.summary(run.id) : null,
        spentTodayUsd: await repo.spentTodayUsd(),
        maxUsdPerDay: deps.config.rollout.shadow.maxUsdPerDay,
        answers: run ? await repo.answers(run.id, 20) : [],
      }
    },
  )

  app.post('/shadow/stop', async () => {
    const run = await repo.live()
    if (!run) throw new ConflictError('no shadow is running')
    await repo.stop(run.id)
    await deps.canary.shadow.refresh()
    await hintShadow()
    return { run: await repo.byId(run.id) }
  })
}
