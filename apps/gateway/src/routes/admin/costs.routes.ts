import { ValidationError } from '@loopdm/platform/errors'
import type { FastifyPluginAsync } from 'fastify'
import type { GatewayRouteOptions } from '../route-deps.js'

/** GET /admin/costs?since&until (ISO-8601; default: this calendar month so far, UTC) from `cost_ledger`. */
export const costsRoutes: FastifyPluginAsync<GatewayRouteOptions> = async (app, { deps }) => {
  app.get<{ Querystring: { since?: string; until?: string } }>(
    '/costs',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { since: { type: 'string' }, until: { type: 'string' } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              since: { type: 'string' },
              until: { type: 'string' },
              totalUsd: { type: 'number' },
              budgetUsdMonthly: { type: ['number', 'null'] },
              groups: { type: 'array', items: { type: 'object', additionalProperties: true } },
            },
          },
        },
      },
    },
    async (req) => {
      const now = new Date()
      const since =
        parseDate(req.query.since, 'since') ?? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1))
      const until = parseDate(req.query.until, 'until') ?? new Date(now.getTime() + 1000)
      if (since >= until) throw new ValidationError('since must be before until')
      const summary = await deps.costs.summary({ since, until })
      return { ...summary, budgetUsdMonthly: deps.config.finetune.budgetUsdMonthly ?? null }
    },
  )
}

function parseDate(v: string | undefined, name: string): Date | undefined {
  if (v === undefined) return undefined
  const d = new Date(v)
  if (Number.isNaN(d.getTime()))
    throw new ValidationError(`${name}: expected an ISO-8601 timestamp, got "${v}"`)
  return d
}
