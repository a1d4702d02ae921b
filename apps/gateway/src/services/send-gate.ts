import { createHash } from 'node:crypto'
import type { Logger } from '@loopdm/platform/logger'
import type { Redis } from '@loopdm/redis/client'
import type { GatewayMetrics } from '../metrics.js'

/**
 * The Send API refused our token (code 190: expired or revoked). Sending stops — replies are held,
 * not failed — until IG_ACCESS_TOKEN is replaced: the block is stored in Redis under a fingerprint
 * of the token (`<prefix>:send-blocked:<sha256 prefix>`), so every gateway with the same token holds
 * too, and a gateway started with a new token is not blocked. `/readyz` names it.
 */
export class SendHeldError extends Error {
  override name = 'SendHeldError'
  readonly code = 'SEND_HELD'
}

export interface SendGateStatus {
  blocked: boolean
  reason: string | null
  since: string | null
}

export function createSendGate(opts: {
  redis: Redis
  prefix: string
  accessToken: string | undefined
  logger: Logger
  metrics?: GatewayMetrics
}) {
  const { redis, logger } = opts
  const fp = opts.accessToken
    ? createHash('sha256').update(opts.accessToken).digest('hex').slice(0, 16)
    : null
  const key = fp ? `${opts.prefix}:send-blocked:${fp}` : null
  let cached: SendGateStatus = { blocked: false, reason: null, since: null }
  opts.metrics?.sendBlocked.set(0)

  const gate = {
    async block(reason: string): Promise<void> {
      if (!key) return
      const since = new Date().toISOString()
      cached = { blocked: true, reason, since }
      opts.metrics?.sendBlocked.set(1)
      logger.error(
        { reason },
        'Send API refused IG_ACCESS_TOKEN (code 190): replies are held until the token is replaced (npm run ig:refresh-token)',
      )
      // 60 days: a long-lived token's life; a replaced token has another fingerprint anyway.
      await redis.set(key, JSON.stringify({ reason, since }), 'EX', 60 * 24 * 3600)
    },

    async status(): Promise<SendGateStatus> {
      if (!key) return cached
      try {
        const raw = await redis.get(key)
        const v = raw ? (JSON.parse(raw) as { reason: string; since: string }) : null
        cached = v
          ? { blocked: true, reason: v.reason, since: v.since }
          : { blocked: false, reason: null, since: null }
      } catch {
        // Redis down: keep the last known state.
      }
      opts.metrics?.sendBlocked.set(cached.blocked ? 1 : 0)
      return cached
    },
  }
  return gate
}

export type SendGate = ReturnType<typeof createSendGate>
