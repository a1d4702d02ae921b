import type { Logger } from '@loopdm/platform/logger'
import type { DmChangePayload, DmEchoPayload } from '@loopdm/queues/contracts'
import type { GatewayMetrics } from '../metrics.js'
import type { ConversationRepository } from '../repositories/conversation.repository.js'
import type { DmOrderRepository } from '../repositories/dm-order.repository.js'
import type { OutboxRepository } from '../repositories/outbox.repository.js'
import type { SignalsRepository } from '../repositories/signals.repository.js'
import { turnText } from '../services/media-description.js'
import type { MemoryPort } from '../services/memory.port.js'
import type { TakeoverService } from '../services/takeover.service.js'

/**
 * Echoes, edits and unsends — the `dm` jobs that never produce an answer. Each runs under the
 * customer's lock, the one the reply pipeline holds while it sends: an echo that Meta delivers
 * before the Send API has answered therefore waits until the reply's `message_id` is recorded.
 */
export interface DmEventDeps {
  conversations: ConversationRepository
  outbox: OutboxRepository
  signals: SignalsRepository
  order: Pick<DmOrderRepository, 'withUserLock'>
  memory: Pick<MemoryPort, 'afterStore'>
  takeover: Pick<TakeoverService, 'humanReplied'>
  erasures: { lastErasedAt(igUserId: string): Promise<number | null> }
  logger: Logger
  metrics?: GatewayMetrics
}

/** A bot reply followed by a human reply within this time is a `takeover` signal about it. */
export const TAKEOVER_SIGNAL_WINDOW_MS = 30 * 60_000
/** How far back an echo is matched to an unanswered send by recipient + text. */
export const ECHO_MATCH_WINDOW_MS = 10 * 60_000

export type EchoOutcome = 'own' | 'human' | 'duplicate' | 'erased'

export async function processDmEcho(e: DmEchoPayload, deps: DmEventDeps): Promise<EchoOutcome> {
  return deps.order.withUserLock(e.igUserId, async () => {
    const erasedAt = await deps.erasures.lastErasedAt(e.igUserId)
    if (erasedAt !== null && e.receivedAt <= erasedAt) return 'erased'
    if (await isOwnEcho(e, deps)) {
      deps.logger.debug({ mid: e.mid }, 'echo of our own reply')
      return 'own'
    }
    const content = turnText(e)
    const turn = await deps.conversations.insertTurn({
      igMessageId: e.mid,
      igUserId: e.igUserId,
      role: 'assistant',
      content,
      author: 'human',
      createdAt: new Date(e.timestamp),
    })
    if (!turn.inserted) return 'duplicate'
    deps.memory.afterStore({ id: turn.id, igUserId: e.igUserId, role: 'assistant', content })
    const until = await deps.takeover.humanReplied(e.igUserId, e.timestamp)
    await recordTakeoverSignal(e, deps)
    deps.logger.info(
      { mid: e.mid, igUserId: e.igUserId, until: new Date(until).toISOString() },
      'human takeover: staff replied from Instagram; the bot pauses for this customer',
    )
    return 'human'
  })
}

/** Ours when the Graph API gave us this mid, or a recent part to this customer has this exact text. */
async function isOwnEcho(e: DmEchoPayload, deps: DmEventDeps): Promise<boolean> {
  if (await deps.outbox.hasSentMid(e.mid)) return true
  if (!e.text) return false
  return deps.outbox.claimUnmatchedPart({
    igUserId: e.igUserId,
    text: e.text,
    sentMid: e.mid,
    withinMs: ECHO_MATCH_WINDOW_MS,
  })
}

async function recordTakeoverSignal(e: DmEchoPayload, deps: DmEventDeps): Promise<void> {
  const last = await deps.outbox.lastSentTo(e.igUserId)
  if (!last) return
  const gap = e.timestamp - last.sentAt.getTime()
  if (gap < 0 || gap > TAKEOVER_SIGNAL_WINDOW_MS) return
  await deps.signals.insert({
    igUserId: e.igUserId,
    mid: last.sentMid,
    action: 'takeover',
    model: last.model,
    eventTs: e.timestamp,
  })
}

/** message_edit → the stored text is replaced (never a second answer); is_deleted → blanked. */
export async function processDmChange(c: DmChangePayload, deps: DmEventDeps): Promise<string> {
  return deps.order.withUserLock(c.igUserId, async () => {
    if (c.kind === 'delete') {
      await deps.conversations.markDeleted({ mid: c.mid, igUserId: c.igUserId })
      deps.metrics?.dmSkipped.inc({ reason: 'deleted' })
      deps.logger.info({ mid: c.mid }, 'customer unsent a message: its stored text is blanked')
      return 'deleted'
    }
    const edited = await deps.conversations.editText({ mid: c.mid, text: c.text ?? '' })
    deps.logger.info({ mid: c.mid, edited }, 'customer edited a message')
    return edited ? 'edited' : 'edit-unknown'
  })
}
