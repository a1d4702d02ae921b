import type { Logger } from '@loopdm/platform/logger'
import type { Redis } from '@loopdm/redis/client'
import type { GatewayMetrics } from '../metrics.js'
import type { ConversationRepository } from '../repositories/conversation.repository.js'
import type { GraphSender } from './graph-sender.js'
import type { MemoryPort } from './memory.port.js'

/**
 * Human takeover: while a customer's conversation is paused the bot stores their DMs but does not
 * answer them. A pause lives in Redis (`<prefix>:takeover:<igUserId>`, TTL = until), so every
 * gateway sees it and it survives a restart. Started by a human reply (an echo the gateway did not
 * send; HUMAN_TAKEOVER_MINUTES from the last one), by `pause()` (admin, console) or by
 * `replyAsHuman()`.
 */
export type TakeoverReason = 'human-reply' | 'admin'

export interface TakeoverStatus {
  paused: boolean
  /** ISO time the pause ends, or null. */
  until: string | null
  reason: TakeoverReason | null
  /** ISO time of the last human reply to this customer, or null. */
  lastHumanReplyAt: string | null
}

export class TakeoverError extends Error {
  override name = 'TakeoverError'
  constructor(
    readonly code: 'OUTSIDE_HUMAN_AGENT_WINDOW' | 'NO_SENDER' | 'EMPTY_TEXT',
    message: string,
  ) {
    super(message)
  }
}

export interface TakeoverServiceOptions {
  redis: Redis
  prefix: string
  conversations: Pick<ConversationRepository, 'insertTurn' | 'lastHumanReplyAt' | 'lastCustomerTurnAt'>
  /** Undefined without IG_ACCESS_TOKEN: replyAsHuman then refuses (NO_SENDER). */
  sender: GraphSender | undefined
  memory: Pick<MemoryPort, 'afterStore'>
  /** HUMAN_TAKEOVER_MINUTES. */
  defaultMinutes: number
  logger: Logger
  metrics?: GatewayMetrics
  now?: () => number
}

/** Meta allows a HUMAN_AGENT-tagged reply up to 7 days after the customer's last message. */
export const HUMAN_AGENT_WINDOW_MS = 7 * 24 * 3600_000
/** The standard messaging window: a reply within 24 h of the customer's last message needs no tag. */
export const STANDARD_WINDOW_MS = 24 * 3600_000

export function createTakeoverService(opts: TakeoverServiceOptions) {
  const { redis, logger } = opts
  const now = opts.now ?? Date.now
  const key = (igUserId: string) => `${opts.prefix}:takeover:${igUserId}`

  async function read(igUserId: string): Promise<{ until: number; reason: TakeoverReason } | null> {
    const raw = await redis.get(key(igUserId))
    if (!raw) return null
    try {
      const v = JSON.parse(raw) as { until: number; reason: TakeoverReason }
      return v.until > now() ? v : null
    } catch {
      return null
    }
  }

  /** Pauses until `until` (ms), never shortening a longer pause that is already running. */
  async function holdUntil(igUserId: string, until: number, reason: TakeoverReason): Promise<number> {
    const current = await read(igUserId)
    const end = Math.max(until, current?.until ?? 0)
    const ttl = end - now()
    if (ttl > 0) await redis.set(key(igUserId), JSON.stringify({ until: end, reason }), 'PX', ttl)
    return end
  }

  const service = {
    /** When the pause of this customer ends (ms), or null when the bot may answer. */
    async heldUntil(igUserId: string): Promise<number | null> {
      return (await read(igUserId))?.until ?? null
    },

    async status(igUserId: string): Promise<TakeoverStatus> {
      const [p, last] = await Promise.all([read(igUserId), opts.conversations.lastHumanReplyAt(igUserId)])
      return {
        paused: p !== null,
        until: p ? new Date(p.until).toISOString() : null,
        reason: p?.reason ?? null,
        lastHumanReplyAt: last ? last.toISOString() : null,
      }
    },

    /** Pauses the bot for this customer for `minutes` (default HUMAN_TAKEOVER_MINUTES) from now. */
    async pause(igUserId: string, minutes = opts.defaultMinutes): Promise<TakeoverStatus> {
      const until = now() + minutes * 60_000
      // An explicit pause replaces the running one (an operator may shorten it).
      await redis.set(key(igUserId), JSON.stringify({ until, reason: 'admin' }), 'PX', minutes * 60_000)
      logger.info({ igUserId, until: new Date(until).toISOString() }, 'takeover: bot paused for customer')
      return service.status(igUserId)
    },

    async resume(igUserId: string): Promise<TakeoverStatus> {
      await redis.del(key(igUserId))
      logger.info({ igUserId }, 'takeover: bot resumed for customer')
      return service.status(igUserId)
    },

    /** A human replied at `at` (ms): pause HUMAN_TAKEOVER_MINUTES from it; returns the end (ms). */
    async humanReplied(igUserId: string, at: number): Promise<number> {
      const end = await holdUntil(igUserId, at + opts.defaultMinutes * 60_000, 'human-reply')
      opts.metrics?.takeovers.inc({ source: 'echo' })
      return end
    },

    /**
     * Sends `text` to the customer as a human (console, admin): within 24 h of the customer's last
     * message as a normal reply, up to 7 days with the HUMAN_AGENT tag, refused after that. Stores
     * the turn as `author = 'human'` (its echo is then a no-op) and pauses the bot.
     */
    async replyAsHuman(args: { igUserId: string; igAccountId: string; text: string; actor: string }) {
      const text = args.text.trim()
      if (!text) throw new TakeoverError('EMPTY_TEXT', 'reply text is empty')
      if (!opts.sender) throw new TakeoverError('NO_SENDER', 'IG_ACCESS_TOKEN is unset: cannot send')
      const last = await opts.conversations.lastCustomerTurnAt(args.igUserId)
      const age = last ? now() - last.getTime() : Number.POSITIVE_INFINITY
      if (age > HUMAN_AGENT_WINDOW_MS)
        throw new TakeoverError(
          'OUTSIDE_HUMAN_AGENT_WINDOW',
          `the customer ${args.igUserId} last wrote more than 7 days ago (or never): Meta allows no reply`,
        )
      const humanAgent = age > STANDARD_WINDOW_MS
      const sent = await opts.sender.send({
        igAccountId: args.igAccountId,
        recipientId: args.igUserId,
        text,
        humanAgent,
      })
      const turn = await opts.conversations.insertTurn({
        igMessageId: sent.messageId ?? `human:${args.igUserId}:${now()}`,
        igUserId: args.igUserId,
        role: 'assistant',
        content: text,
        author: 'human',
      })
      if (turn.inserted)
        opts.memory.afterStore({ id: turn.id, igUserId: args.igUserId, role: 'assistant', content: text })
      await holdUntil(args.igUserId, now() + opts.defaultMinutes * 60_000, 'human-reply')
      opts.metrics?.takeovers.inc({ source: 'console' })
      logger.info({ igUserId: args.igUserId, actor: args.actor, humanAgent }, 'takeover: human reply sent')
      return { messageId: sent.messageId, humanAgent, status: await service.status(args.igUserId) }
    },
  }
  return service
}

export type TakeoverService = ReturnType<typeof createTakeoverService>
