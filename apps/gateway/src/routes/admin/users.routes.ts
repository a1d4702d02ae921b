import type { FastifyPluginAsync } from 'fastify'
import type { GdprService } from '../../services/gdpr.service.js'

/**
 * `DELETE /admin/users/:igUserId` — GDPR erase (see README "GDPR erase"). Register inside the
 * admin scope: its auth hook runs on `onRequest`, before this route's validation, so a request
 * without the token gets 401 before a bad id could get 400. Answers 200 with the counts; a second
 * erase answers 200 with zeros. The optional `x-loopdm-actor` header names the operator in the
 * audit row (default `admin-api`).
 */
export interface UsersRoutesOptions {
  gdpr: Pick<GdprService, 'eraseUser'>
}

/** Instagram-scoped ids are digits; test and other channels' ids may use letters, `_`, `-`, `.`. */
const ID_PATTERN = '^[A-Za-z0-9_.-]{1,128}$'

export const usersRoutes: FastifyPluginAsync<UsersRoutesOptions> = async (app, opts) => {
  app.delete<{ Params: { igUserId: string }; Headers: { 'x-loopdm-actor'?: string } }>(
    '/admin/users/:igUserId',
    {
      schema: {
        params: {
          type: 'object',
          required: ['igUserId'],
          properties: { igUserId: { type: 'string', pattern: ID_PATTERN } },
        },
        headers: {
          type: 'object',
          properties: { 'x-loopdm-actor': { type: 'string', maxLength: 200 } },
        },
      },
    },
    async (req) => {
      const actor = req.headers['x-loopdm-actor']?.trim() || 'admin-api'
      const r = await opts.gdpr.eraseUser({ igUserId: req.params.igUserId, actor })
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

export default usersRoutes
