import { createOpenAISdk } from '@loopdm/platform/openai'
import { DM_QUEUE } from '@loopdm/queues/contracts'
import type { FastifyPluginAsync } from 'fastify'
import type { AdminRouteOptions } from '../../app.js'
import { createDmJobsRepository } from '../../repositories/dm-jobs.repository.js'
import { defaultExportEraser, type ExportEraser } from '../../services/export-eraser.js'
import { createGdprService, type GdprService } from '../../services/gdpr.service.js'

/**
 * `DELETE /admin/users/:igUserId` — GDPR erase (see README "GDPR erase"). Mounted by the admin
 * plugin under /admin behind its bearer hook, which runs on `onRequest` — before this route's
 * validation — so a request without the token gets 401 before a bad id could get 400. Answers 200
 * with the counts; a second erase answers 200 with zeros. The optional `x-loopdm-actor` header
 * names the operator in the audit row (default `admin-api`).
 */
export interface UsersRoutesOptions {
  /** Default: built from the admin deps (pool, config, the `dm` queue). */
  gdpr?: Pick<GdprService, 'eraseUser'>
  /** This process's memory, so the user's queued embeddings are dropped too. */
  memory?: { forget(igUserId: string): number }
  /** Default: the exporter's hook (removes the user's lines from export files). */
  exportEraser?: ExportEraser
}

/** Instagram-scoped ids are digits; test and other channels' ids may use letters, `_`, `-`, `.`. */
export const IG_USER_ID_PATTERN = '^[A-Za-z0-9_.-]{1,128}$'

export function createUsersRoutes(opts: UsersRoutesOptions = {}): FastifyPluginAsync<AdminRouteOptions> {
  return async (app, { deps }) => {
    const gdpr =
      opts.gdpr ??
      createGdprService({
        db: deps.pool,
        config: deps.config,
        logger: deps.logger,
        dmJobs: createDmJobsRepository(deps.queues[DM_QUEUE]),
        exportEraser: opts.exportEraser ?? defaultExportEraser,
        memory: opts.memory,
        // Deletes the provider's copies of uploaded training files that held the user's lines.
        sdk: createOpenAISdk({ config: deps.config, logger: deps.logger }),
      })
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
