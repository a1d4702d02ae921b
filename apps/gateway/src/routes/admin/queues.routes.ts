import { createBullBoard } from '@bull-board/api'
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter'
import { FastifyAdapter } from '@bull-board/fastify'
import type { FastifyPluginAsync } from 'fastify'
import type { GatewayRouteOptions } from '../route-deps.js'

/** Bull Board over every queue at /admin/queues (the caller's scope holds the auth hook). */
export const queuesBoard: FastifyPluginAsync<GatewayRouteOptions> = async (app, { deps }) => {
  const serverAdapter = new FastifyAdapter()
  createBullBoard({
    // bull-board's adapter is typed against its own bullmq copy; the runtime API is the same.
    queues: Object.values(deps.queues).map(
      (q) => new BullMQAdapter(q as unknown as ConstructorParameters<typeof BullMQAdapter>[0]),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Loop DM queues' } },
  })
  serverAdapter.setBasePath('/admin/queues')
  await app.register(serverAdapter.registerPlugin() as FastifyPluginAsync)
}
