import type { FastifyPluginAsync } from 'fastify'
import { TakeoverError } from '../../services/takeover.service.js'
import type { GatewayRouteOptions } from '../route-deps.js'
import { IG_USER_ID_PATTERN } from './users.routes.js'

/**
 * Human takeover (README "Human takeover"), under /admin behind the bearer hook:
 * - `POST /admin/users/:igUserId/pause` (optional body `{minutes}`, default HUMAN_TAKEOVER_MINUTES)
 * - `POST /admin/users/:igUserId/resume`
 * - `GET  /admin/users/:igUserId` → `{paused, until, reason, lastHumanReplyAt}`
 * - `POST /admin/users/:igUserId/reply` `{text, igAccountId?}` — send as a human (HUMAN_AGENT tag
 *   between 24 h and 7 days after the customer's last message; 409 after that) and pause the bot.
 */
const params = {
  type: 'object',
  required: ['igUserId'],
  properties: { igUserId: { type: 'string', pattern: IG_USER_ID_PATTERN } },
} as const

export const takeoverRoutes: FastifyPluginAsync<GatewayRouteOptions> = async (app, { deps }) => {
  const { takeover } = deps
  app.get<{ Params: { igUserId: string } }>('/users/:igUserId', { schema: { params } }, async (req) =>
    takeover.status(req.params.igUserId),
  )

  app.post<{ Params: { igUserId: string }; Body: { minutes?: number } | undefined }>(
    '/users/:igUserId/pause',
    {
      schema: {
        params,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { minutes: { type: 'integer', minimum: 1, maximum: 7 * 24 * 60 } },
        },
      },
    },
    async (req) => takeover.pause(req.params.igUserId, req.body?.minutes),
  )

  app.post<{ Params: { igUserId: string } }>('/users/:igUserId/resume', { schema: { params } }, async (req) =>
    takeover.resume(req.params.igUserId),
  )

  app.post<{
    Params: { igUserId: string }
    Body: { text: string; igAccountId?: string }
    Headers: { 'x-loopdm-actor'?: string }
  }>(
    '/users/:igUserId/reply',
    {
      schema: {
        params,
        body: {
          type: 'object',
          required: ['text'],
          additionalProperties: false,
          properties: {
            text: { type: 'string', minLength: 1, maxLength: 4000 },
            igAccountId: { type: 'string' },
          },
        },
      },
    },
    async (req, reply) => {
      try {
        return await takeover.replyAsHuman({
          igUserId: req.params.igUserId,
          igAccountId: req.body.igAccountId ?? 'me',
          text: req.body.text,
          actor: req.headers['x-loopdm-actor']?.trim() || 'admin-api',
        })
      } catch (err) {
        if (err instanceof TakeoverError)
          return reply
            .code(err.code === 'EMPTY_TEXT' ? 400 : 409)
            .send({ error: err.message, code: err.code })
        throw err
      }
    },
  )
}
