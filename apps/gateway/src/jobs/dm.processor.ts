import type { ActiveModel } from '@loopdm/models/registry'
import type { Logger } from '@loopdm/platform/logger'
import type { OpenAI } from '@loopdm/platform/openai'
import type { DmMessagePayload, DmReactionPayload } from '@loopdm/queues/contracts'
import { UnrecoverableError } from 'bullmq'
import type { GatewayMetrics } from '../metrics.js'
import { type ConversationRepository, replyMessageId } from '../repositories/conversation.repository.js'
import type { DmOrderRepository } from '../repositories/dm-order.repository.js'
import { isDelivered, type OutboxRepository, type OutboxRow } from '../repositories/outbox.repository.js'
import type { SignalsRepository } from '../repositories/signals.repository.js'
import type { ExemplarService } from '../services/exemplars.js'
import { GraphSendError, type GraphSender } from '../services/graph-sender.js'
import { imageUrlOf } from '../services/instagram-webhook.js'
import type { MemoryPort } from '../services/memory.port.js'
import type { ModelRouter } from '../services/model-router.js'
import { splitReply } from '../services/split-reply.js'

/** What the reply pipeline needs; main.ts (or a test) builds it once. */
export interface DmDeps {
  conversations: ConversationRepository
  outbox: OutboxRepository
  signals: SignalsRepository
  order: DmOrderRepository
  /** GDPR: when the user was last erased (ms), so a DM that arrived before it is never stored. */
  erasures: { lastErasedAt(igUserId: string): Promise<number | null> }
  memory: MemoryPort
  /** Demonstrations of the active exemplar policy; default none (services/exemplars.ts). */
  exemplars?: ExemplarService
  router: ModelRouter
  /** The active model at this instant (ActiveModelHolder.current). */
  currentModel: () => ActiveModel | null
  /** Undefined when IG_ACCESS_TOKEN is unset: replies are recorded as `logged`, not sent. */
  sender: GraphSender | undefined
  /** Loads the payload of another message's job (for answering an earlier pending message). */
  loadPayload: (mid: string) => Promise<{ payload: DmMessagePayload; failed: boolean } | null>
  systemPrompt: string
  logger: Logger
  metrics?: GatewayMetrics
}

export interface AttemptInfo {
  /** True on the job's last attempt: a retryable send error then marks the part `failed`. */
  finalAttempt: boolean
}

export type ReplyOutcome = 'answered' | 'already-answered' | 'failed-before' | 'erased'

/**
 * The reply pipeline for one customer message, under the user's lock: answer every earlier
 * pending message of this user, then this one: store the user turn (idempotent) → memory recall →
 * model router → completion → outbox (pending parts) → send each undelivered part → store the
 * assistant turn. Re-running it for a mid whose parts are all delivered sends nothing. A message
 * that arrived before its sender was GDPR-erased is dropped (the erase holds the same lock, so it
 * either finds the reply complete and erases it, or ends before the message is looked at).
 */
export async function processDmMessage(
  payload: DmMessagePayload,
  deps: DmDeps,
  attempt: AttemptInfo = { finalAttempt: false },
): Promise<ReplyOutcome> {
  // Captured once: an in-flight reply finishes on the model it started with.
  const active = deps.currentModel()
  return deps.order.withUserLock(payload.igUserId, async () => {
    const erasedAt = await deps.erasures.lastErasedAt(payload.igUserId)
    const erased = (p: DmMessagePayload) => erasedAt !== null && p.receivedAt <= erasedAt
    for (const mid of await deps.order.pendingBefore(payload.igUserId, payload.mid)) {
      const earlier = await deps.loadPayload(mid)
      if (earlier && !earlier.failed && !erased(earlier.payload)) {
        const earlierTurn = await storeUserTurn(earlier.payload, deps)
        await answer(earlier.payload, earlierTurn.id, active, deps, { finalAttempt: false })
      }
      await deps.order.done(payload.igUserId, [mid])
    }
    if (erased(payload)) {
      await deps.order.done(payload.igUserId, [payload.mid])
      deps.logger.info({ mid: payload.mid }, 'dm dropped: its sender was erased (GDPR) after it arrived')
      return 'erased'
    }
    const turn = await storeUserTurn(payload, deps)
    const outcome = await answer(payload, turn.id, active, deps, attempt)
    await deps.order.done(payload.igUserId, [payload.mid])
    return outcome
  })
}

async function storeUserTurn(p: DmMessagePayload, deps: DmDeps) {
  const imageUrl = imageUrlOf(p)
  const turn = await deps.conversations.insertTurn({
    igMessageId: p.mid,
    igUserId: p.igUserId,
    role: 'user',
    content: p.text,
    hasImage: imageUrl !== undefined,
    imageUrl: imageUrl ?? null,
  })
  if (turn.inserted)
    deps.memory.afterStore({ id: turn.id, igUserId: p.igUserId, role: 'user', content: p.text })
  return turn
}

async function answer(
  p: DmMessagePayload,
  userTurnId: number,
  active: ActiveModel | null,
  deps: DmDeps,
  attempt: AttemptInfo,
): Promise<ReplyOutcome> {
  let rows = await deps.outbox.findByMid(p.mid)
  if (rows.length > 0 && rows.every(isDelivered)) {
    await storeAssistantTurn(p, rows, undefined, deps)
    return 'already-answered'
  }
  if (rows.some((r) => r.status === 'failed')) return 'failed-before'
  let fullText: string | undefined
  if (rows.length === 0) {
    const imageUrl = imageUrlOf(p)
    // Memory and the policy's demonstrations are looked up in parallel, each within its own budget.
    const [memory, demos] = await Promise.all([
      deps.memory.recall({ igUserId: p.igUserId, text: p.text, excludeIds: [userTurnId] }),
      deps.exemplars?.forReply({
        policy: active?.policy,
        text: p.text,
        hasImage: imageUrl !== undefined,
        mid: p.mid,
      }),
    ])
    deps.logger.info(
      { mid: p.mid, recalled: memory.recalled, exemplars: demos?.ids.length ?? 0 },
      'memory recalled',
    )
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'system', content: deps.systemPrompt },
      ...(demos?.messages ?? []),
      ...memory.messages,
      imageUrl
        ? {
            role: 'user',
            content: [
              ...(p.text ? [{ type: 'text' as const, text: p.text }] : []),
              { type: 'image_url' as const, image_url: { url: imageUrl } },
            ],
          }
        : { role: 'user', content: p.text || '(the customer sent an attachment)' },
    ]
    const completion = await deps.router.complete({
      messages,
      hasImage: imageUrl !== undefined,
      active,
      mid: p.mid,
    })
    fullText = completion.text
    if (demos)
      await deps.exemplars?.recordCost({ model: completion.model, demonstrations: demos, mid: p.mid })
    rows = await deps.outbox.insertParts({
      mid: p.mid,
      igUserId: p.igUserId,
      igAccountId: p.igAccountId,
      parts: splitReply(completion.text),
      model: completion.model,
    })
  }
  for (const row of rows) {
    if (isDelivered(row)) continue
    await deliver(row, p, deps, attempt)
  }
  await storeAssistantTurn(p, rows, fullText, deps)
  deps.metrics?.dmLatency.observe(
    { model: rows[0]?.model ?? 'unknown' },
    Math.max(0, Date.now() - p.receivedAt) / 1000,
  )
  return 'answered'
}

async function deliver(row: OutboxRow, p: DmMessagePayload, deps: DmDeps, attempt: AttemptInfo) {
  if (!deps.sender) {
    await deps.outbox.markDelivered(row.id, 'logged', null)
    deps.metrics?.sends.inc({ result: 'logged' })
    deps.logger.info(
      {
        mid: p.mid,
        igUserId: p.igUserId,
        part: row.part,
        parts: row.parts,
        chars: row.text.length,
        model: row.model,
      },
      'reply logged (no IG_ACCESS_TOKEN; not sent)',
    )
    return
  }
  try {
    const res = await deps.sender.send({
      igAccountId: row.igAccountId ?? p.igAccountId,
      recipientId: p.igUserId,
      text: row.text,
    })
    await deps.outbox.markDelivered(row.id, 'sent', res.messageId)
    deps.metrics?.sends.inc({ result: 'sent' })
  } catch (err) {
    const retryable = !(err instanceof GraphSendError) || err.retryable
    const final = !retryable || attempt.finalAttempt
    await deps.outbox.markAttemptFailed(row.id, (err as Error).message, final)
    deps.metrics?.sends.inc({ result: final ? 'failed' : 'retry' })
    deps.logger.warn({ mid: p.mid, part: row.part, err: (err as Error).message, final }, 'reply send failed')
    if (!retryable) throw new UnrecoverableError((err as Error).message)
    throw err
  }
}

async function storeAssistantTurn(
  p: DmMessagePayload,
  rows: OutboxRow[],
  fullText: string | undefined,
  deps: DmDeps,
) {
  const content = fullText ?? rows.map((r) => r.text).join('\n')
  const turn = await deps.conversations.insertTurn({
    igMessageId: replyMessageId(p.mid),
    igUserId: p.igUserId,
    role: 'assistant',
    content,
    model: rows[0]?.model ?? null,
  })
  if (turn.inserted) deps.memory.afterStore({ id: turn.id, igUserId: p.igUserId, role: 'assistant', content })
}

/** A reaction to a message: stored as a satisfaction signal with the model that wrote it, if ours. */
export async function processDmReaction(
  r: DmReactionPayload,
  deps: Pick<DmDeps, 'outbox' | 'conversations' | 'signals' | 'logger' | 'erasures'>,
  /** When the webhook took the reaction (the job's timestamp); default Meta's timestamp. */
  receivedAt: number = r.timestamp,
): Promise<boolean> {
  const erasedAt = await deps.erasures.lastErasedAt(r.igUserId)
  if (erasedAt !== null && receivedAt <= erasedAt) {
    deps.logger.info({ mid: r.mid }, 'reaction dropped: its sender was erased (GDPR) after it arrived')
    return false
  }
  const model =
    (await deps.outbox.findModelBySentMid(r.mid)) ?? (await deps.conversations.findModelByMessageId(r.mid))
  const stored = await deps.signals.insert({
    igUserId: r.igUserId,
    mid: r.mid,
    action: r.action,
    reaction: r.reaction,
    emoji: r.emoji,
    model,
    eventTs: r.timestamp,
  })
  deps.logger.info({ mid: r.mid, action: r.action, model, stored }, 'reaction recorded')
  return stored
}
