import type { FastifyPluginAsync } from 'fastify'
import type { GatewayRouteOptions } from '../route-deps.js'
import { adminAuthHook } from './auth.js'
import { canaryRoutes } from './canary.routes.js'
import { costsRoutes } from './costs.routes.js'
import { goldRoutes } from './gold.routes.js'
import { jobsRoutes } from './jobs.routes.js'
import { modelsRoutes } from './models.routes.js'
import { promotionRoutes } from './promotion.routes.js'
import { queuesBoard } from './queues.routes.js'
import { shadowRoutes } from './shadow.routes.js'
import { takeoverRoutes } from './takeover.routes.js'
import { usersRoutes } from './users.routes.js'

/**
 * Every JSON admin route, mounted under /admin behind the bearer hook. Adding one is one line here
 * (or pass it in `deps.adminRoutes`): the plugin receives `{ deps }` as options.
 */
export const ADMIN_ROUTES: FastifyPluginAsync<GatewayRouteOptions>[] = [
  modelsRoutes,
  costsRoutes,
  jobsRoutes,
  promotionRoutes,
  usersRoutes,
  takeoverRoutes,
  goldRoutes,
  canaryRoutes,
  shadowRoutes,
]

export const adminPlugin: FastifyPluginAsync<GatewayRouteOptions> = async (app, { deps }) => {
  // Bull Board in its own scope: bearer or basic auth (a browser can log in with the token).
  await app.register(
    async (board) => {
      board.addHook('onRequest', adminAuthHook(deps.config.gateway.adminToken, { allowBasic: true }))
      await board.register(queuesBoard, { deps })
    },
    { prefix: '/queues' },
  )
  await app.register(async (api) => {
    api.addHook('onRequest', adminAuthHook(deps.config.gateway.adminToken))
    for (const routes of [...ADMIN_ROUTES, ...(deps.adminRoutes ?? [])]) await api.register(routes, { deps })
  })
}
