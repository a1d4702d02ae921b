import type { FastifyPluginAsync } from 'fastify'
import { parseWebhook } from '../services/instagram-webhook.js'
import { safeEqual, verifySignature } from '../services/signature.js'
import type { GatewayRouteOptions } from './route-deps.js'

/**
 * Meta's webhook. GET: subscription verification. POST: HMAC-SHA256 of the raw body checked in
 * constant time (401, nothing stored), JSON parse (400), then every message, echo, edit, unsend and
 * reaction enqueued on `dm` before the 200 — no database round trip; Redis down → 503 so Meta
 * retries and no message is lost. Any other signed, well-formed JSON (another object, `changes[]`,
 * standby, a malformed event among good ones) gets 200: Meta unsubscribes apps that keep failing.
 */
export const webhookRoutes: FastifyPluginAsync<GatewayRouteOptions> = async (app, { deps }) => {
  const { appSecret, verifyToken } = deps.config.instagram
  if (!appSecret) deps.logger.warn('IG_APP_SECRET is unset: every webhook POST will be refused (401)')

  // The signature covers the raw bytes: keep the body as a Buffer in this scope.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

  // A callback hook, not an async one: no promise per request on the webhook's hot path.
  app.addHook('onResponse', (req, reply, done) => {
    deps.metrics.webhookRequests.inc({ method: req.method, status: String(reply.statusCode) })
    done()
  })

  app.get<{ Querystring: Record<string, string | undefined> }>(
    '/webhook',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            'hub.mode': { type: 'string' },
            'hub.verify_token': { type: 'string' },
            'hub.challenge': { type: 'string' },
          },
        },
      },
    },
    async (req, reply) => {
      const q = req.query
      const ok =
        q['hub.mode'] === 'subscribe' &&
        verifyToken !== undefined &&
        typeof q['hub.verify_token'] === 'string' &&
        safeEqual(q['hub.verify_token'], verifyToken)
      if (!ok) return reply.code(403).type('text/plain').send('Forbidden')
      return reply
        .code(200)
        .type('text/plain')
        .send(q['hub.challenge'] ?? '')
    },
  )

  app.post(
    '/webhook',
    {
      schema: {
        headers: { type: 'object', properties: { 'x-hub-signature-256': { type: 'string' } } },
        response: { '4xx': { type: 'object', properties: { error: { type: 'string' } } } },
      },
    },
    async (req, reply) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
      if (!verifySignature(raw, req.headers['x-hub-signature-256'], appSecret)) {
        return reply.code(401).send({ error: 'missing or invalid X-Hub-Signature-256' })
      }
      let json: unknown
      try {
        json = JSON.parse(raw.toString('utf8'))
      } catch {
        return reply.code(400).send({ error: 'malformed JSON body' })
      }
      const parsed = parseWebhook(json)
      if (parsed.malformed > 0)
        req.log.warn(
          { malformed: parsed.malformed },
          "webhook: events not in Meta's documented shape were skipped",
        )
      try {
        await deps.dmQueue.enqueue(parsed)
      } catch (err) {
        req.log.warn({ err: (err as Error).message }, 'webhook enqueue failed; answering 503 so Meta retries')
        return reply.code(503).header('retry-after', '5').send({ error: 'Service Unavailable' })
      }
      return reply.code(200).type('text/plain').send('EVENT_RECEIVED')
    },
  )
}
