import type { FastifyPluginAsync } from 'fastify'
import type { GdprService } from '../../services/gdpr.service.js'
import type { GatewayRouteOptions } from '../route-deps.js'

/**
 * `DELETE /admin/users/:igUserId` — GDPR erase (see README "GDPR erase"). Mounted by the admin
 * plugin under /admin behind its bearer hook, which runs on `onRequest` — before this route's
 * validation — so a request without the token gets 401 before a bad id could get 400. Answers 200
 * with the counts; a second erase answers 200 with zeros. The optional `x-loopdm-actor` header
 * names the operator in the audit row (default `admin-api`).
 */
export interface UsersRoutesOptions {
  /** Default: the gateway's GDPR service (`deps.gdpr`, built by compose.ts). */
  gdpr?: Pick<GdprService, 'eraseUser'>
}

/** Instagram-scoped ids are digits; test and other channels' ids may use letters, `_`, `-`, `.`. */
export const IG_USER_ID_PATTERN = '^[A-Za-z0-9_.-]{1,128}$'

export function createUsersRoutes(opts: UsersRoutesOptions = {}): FastifyPluginAsync<GatewayRouteOptions> {
  return async (app, { deps }) => {
    const gdpr = opts.gdpr ?? deps.gdpr
    app.delete<{ Params: { igUserId: string }; Headers: { 'x-loopdm-actor'?: string } }>(
      '/users/:igUserId',
      {
        schema: {
          params: {
            type: 'object',
            required: ['igUserId'],
            properties: { igUserId: { type: 'string', pattern: IG_USER_ID_PATTERN } },
          },
          headers: {
            type: 'object',
            properties: { 'x-loopdm-actor': { type: 'string', maxLength: 200 } },
          },
        },
      },
      async (req) => {
        const actor = req.headers['x-loopdm-actor']?.trim() || 'admin-api'
        const r = await gdpr.eraseUser({ igUserId: req.params.igUserId, actor })
        return {
          erased: !r.empty,
          erasureId: r.erasureId,
          userKey: r.userKey,
          at: r.at.toISOString(),
          counts: r.counts,
        }
      },
    )
  }
}

/** The route as every gateway mounts it (in ADMIN_ROUTES), over `deps.gdpr`. */
export const usersRoutes: FastifyPluginAsync<GatewayRouteOptions> = createUsersRoutes()
