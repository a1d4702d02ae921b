import { listFinetuneJobs } from '@loopdm/models/finetune-jobs'
import { rowToPolicy } from '@loopdm/models/registry'
import { shutdownWarnings } from '@loopdm/models/shutdowns'
import type { FastifyPluginAsync } from 'fastify'
import type { GatewayRouteOptions } from '../route-deps.js'

/**
 * GET /admin/models: the active model as THIS instance holds it (it may lag the registry by one
 * message or reconcile interval), the registry's view, the rollback target, candidates, every
 * registered model, the router's list (vision, base, active, candidates; open circuits) and the
 * recent fine-tuning jobs (failed ones with their reason).
 */
export const modelsRoutes: FastifyPluginAsync<GatewayRouteOptions> = async (app, { deps }) => {
  // `/admin/policies` is the same view under the policy name; `/admin/models` stays as the alias.
  for (const path of ['/models', '/policies'])
    app.get(
      path,
      {
        schema: {
          response: {
            200: {
              type: 'object',
              additionalProperties: true,
              properties: {
                active: {
                  type: ['object', 'null'],
                  properties: {
                    model: { type: 'string' },
                    version: { type: 'integer' },
                    since: { type: 'string' },
                    policy: { type: ['object', 'null'], additionalProperties: true },
                  },
                },
                policies: { type: 'array', items: { type: 'object', additionalProperties: true } },
                registryActive: { type: ['object', 'null'], additionalProperties: true },
                previous: { type: ['string', 'null'] },
                base: { type: 'string' },
                vision: { type: 'string' },
                candidates: { type: 'array', items: { type: 'object', additionalProperties: true } },
                models: { type: 'array', items: { type: 'object', additionalProperties: true } },
                routing: { type: 'array', items: { type: 'object', additionalProperties: true } },
                fineTunes: { type: 'array', items: { type: 'object', additionalProperties: true } },
                /** OpenAI cutoff / FT_BASE_MODEL / active model's base shutting down within 30 days. */
                shutdownWarnings: { type: 'array', items: { type: 'object', additionalProperties: true } },
              },
            },
          },
        },
      },
      async () => {
        const active = deps.holder.current()
        const [registryActive, previous, candidates, models, routing, fineTunes] = await Promise.all([
          deps.registry.findActive(),
          deps.registry.findPrevious(),
          deps.registry.listByStatus(['candidate', 'approved_pending']),
          deps.registry.list(),
          deps.router.getAllModels(active),
          // Recent fine-tuning jobs (tuner), failed ones with their reason.
          listFinetuneJobs(deps.pool, { limit: 20 }),
        ])
        return {
          active: active
            ? {
                model: active.model,
                version: active.version,
                since: active.since.toISOString(),
                policy: active.policy ?? null,
              }
            : null,
          // Every registry row as a policy (learner, serving model, endpoint, exemplar set, status).
          policies: models.map((m) =>
            rowToPolicy(m, m.model === registryActive?.model ? registryActive.version : 0),
          ),
          registryActive,
          previous,
          base: deps.config.models.base,
          vision: deps.config.models.vision,
          shutdownWarnings: shutdownWarnings(deps.config, active?.model ?? registryActive?.model, new Date()),
          candidates,
          models,
          routing,
          fineTunes,
        }
      },
    )
}
