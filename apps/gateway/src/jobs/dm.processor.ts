import type { CanaryReplyInput } from '@loopdm/models/canary-runs'
import { systemPromptOf } from '@loopdm/models/policy'
import type { ActiveModel } from '@loopdm/models/registry'
import type { Logger } from '@loopdm/platform/logger'
import type { OpenAI } from '@loopdm/platform/openai'
import type { DmMessagePayload, DmReactionPayload } from '@loopdm/queues/contracts'
import type { Lease } from '@loopdm/redis/lock'
import { UnrecoverableError } from 'bullmq'
import type { GatewayMetrics } from '../metrics.js'
import { type ConversationRepository, replyMessageId } from '../repositories/conversation.repository.js'
import type { DmOrderRepository } from '../repositories/dm-order.repository.js'
import { isSettled, type OutboxRepository, type OutboxRow } from '../repositories/outbox.repository.js'
import type { SignalsRepository } from '../repositories/signals.repository.js'
import type { CanaryRoute } from '../services/canary-split.js'
import { type DeliveryOptions, deliverParts, expireReply, isTooOld } from '../services/delivery.js'
import type { ExemplarService } from '../services/exemplars.js'
import type { GraphSender } from '../services/graph-sender.js'
import { imageUrlOf } from '../services/instagram-webhook.js'
import { turnText, usableImageUrls, userMessage } from '../services/media-description.js'
import type { MemoryPort } from '../services/memory.port.js'
import type { ModelRouter } from '../services/model-router.js'
import type { SendGate } from '../services/send-gate.js'
import type { Shadow } from '../services/shadow.js'
import { splitReply } from '../services/split-reply.js'
import type { TakeoverService } from '../services/takeover.service.js'
import { completeWithImageFallback } from './complete-with-images.js'
import { assertSendOpen, type GateOutcome, gateBeforeAnswer } from './dm-gates.js'

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
  /** Send timeout and "maybe sent" policy; default DEFAULT_DELIVERY. */
  delivery?: DeliveryOptions
  /** Human takeover: a paused customer's DMs are stored, not answered. */
  takeover?: Pick<TakeoverService, 'heldUntil' | 'humanReplied'>
  /** The canary split (issue 19): which arm answers a customer, and the per-reply record. */
  canary?: CanaryPort
  /** Shadow answers (issue 19): offered each delivered reply; never waits, never throws. */
  shadow?: Pick<Shadow, 'offer'>
  /** The Send API's token block (code 190): replies are held while it lasts. */
  sendGate?: Pick<SendGate, 'status' | 'block'>
  now?: () => number
}

export interface CanaryPort {
  route(igUserId: string, active: ActiveModel | null): CanaryRoute | null
  recordReply(r: CanaryReplyInput): Promise<void>
}

export interface ReplyRunOptions {
  /** How long to wait for the user's lock before LockTimeoutError; default the repository's. */
  lockWaitMs?: number
}

export type ReplyOutcome =
  | 'answered'
  | 'already-answered'
  | 'failed-before'
  | 'erased'
  | 'expired'
  | GateOutcome

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
  run: ReplyRunOptions = {},
): Promise<ReplyOutcome> {
  // Captured once: an in-flight reply finishes on the model it started with (and its canary arm).
  const active = routed(payload.igUserId, deps)
  return deps.order.withUserLock(
    payload.igUserId,
    async (lease) => {
      const erasedAt = await deps.erasures.lastErasedAt(payload.igUserId)
      const erased = (p: DmMessagePayload) => erasedAt !== null && p.receivedAt <= erasedAt
      for (const mid of await deps.order.pendingBefore(payload.igUserId, payload.mid)) {
        const earlier = await deps.loadPayload(mid)
        if (earlier && !earlier.failed && !erased(earlier.payload))
          await answerEarlier(earlier.payload, active, deps, lease)
        await deps.order.done(payload.igUserId, [mid])
      }
      if (erased(payload)) {
        await deps.order.done(payload.igUserId, [payload.mid])
        deps.logger.info({ mid: payload.mid }, 'dm dropped: its sender was erased (GDPR) after it arrived')
        return 'erased'
      }
      if (isTooOld(payload, deps)) {
        await expireReply(payload, deps)
        await deps.order.done(payload.igUserId, [payload.mid])
        return 'expired'
      }
      const turn = await storeUserTurn(payload, deps)
      const outcome = await answer(payload, turn.id, active, deps, lease)
      await deps.order.done(payload.igUserId, [payload.mid])
      return outcome
    },
    { waitMs: run.lockWaitMs },
  )
}

/**
 * An earlier pending message of the same user, answered first to keep arrival order. Its
 * permanent failure is its own (its part is `failed`, its own job reports it): it must not fail
 * the later message. A retryable failure (provider or Graph API down) delays the later message
 * too — it would fail the same way, and order is kept — without spending anything but time.
 */
async function answerEarlier(p: DmMessagePayload, active: ActiveModel | null, deps: DmDeps, lease: Lease) {
  if (isTooOld(p, deps)) return expireReply(p, deps)
  try {
    const turn = await storeUserTurn(p, deps)
    await answer(p, turn.id, active, deps, lease)
  } catch (err) {
    if (!(err instanceof UnrecoverableError)) throw err
    deps.logger.warn(
      { mid: p.mid, err: err.message },
      'earlier pending dm failed permanently; answering the later one',
    )
  }
}

/** The active model, or the candidate when a canary puts this customer on its arm (tagged with the arm). */
function routed(igUserId: string, deps: DmDeps): ActiveModel | null {
  const active = deps.currentModel()
  const r = deps.canary?.route(igUserId, active)
  if (!r) return active
  const canary = { runId: r.runId, arm: r.arm }
  return r.active ? { ...r.active, canary } : { model: '', version: 0, since: new Date(), canary }
}

async function storeUserTurn(p: DmMessagePayload, deps: DmDeps) {
  const imageUrl = imageUrlOf(p)
  const content = turnText(p)
  const turn = await deps.conversations.insertTurn({
    igMessageId: p.mid,
    igUserId: p.igUserId,
    role: 'user',
    content,
    hasImage: imageUrl !== undefined,
    imageUrl: imageUrl ?? null,
    context: p.context ?? (p.source === 'postback' ? { postback: true } : undefined),
  })
  if (turn.inserted) deps.memory.afterStore({ id: turn.id, igUserId: p.igUserId, role: 'user', content })
  return turn
}

async function answer(
  p: DmMessagePayload,
  userTurnId: number,
  active: ActiveModel | null,
  deps: DmDeps,
  lease: Lease,
): Promise<ReplyOutcome> {
  let rows = await deps.outbox.findByMid(p.mid)
  if (rows.some((r) => r.status === 'expired')) return 'expired'
  if (rows.length > 0 && rows.every(isSettled)) {
    await storeAssistantTurn(p, rows, undefined, deps)
    return 'already-answered'
  }
  if (rows.some((r) => r.status === 'failed')) return 'failed-before'
  let fullText: string | undefined
  let routeReason: string | undefined
  let messages: OpenAI.Chat.ChatCompletionMessageParam[] | undefined
  if (rows.length === 0) {
    const gated = await gateBeforeAnswer(p, deps)
    if (gated) return gated
    const images = usableImageUrls(p, deps.now?.())
    // Memory and the policy's demonstrations are looked up in parallel, each within its own budget.
    const [memory, demos] = await Promise.all([
      deps.memory.recall({ igUserId: p.igUserId, text: p.text, excludeIds: [userTurnId] }),
      deps.exemplars?.forReply({
        policy: active?.policy,
        igUserId: p.igUserId,
        text: p.text,
        hasImage: images.length > 0,
        mid: p.mid,
      }),
    ])
    deps.logger.info(
      { mid: p.mid, recalled: memory.recalled, exemplars: demos?.ids.length ?? 0 },
      'memory recalled',
    )
    const system = { role: 'system' as const, content: systemPromptOf(active?.policy, deps.systemPrompt) }
    // The conversation without the policy's own demonstrations: what a shadow candidate is asked.
    messages = [system, ...memory.messages, userMessage(p, images)]
    const prompt = [system, ...(demos?.messages ?? []), ...messages.slice(1)]
    const completion = await completeWithImageFallback(deps, { messages: prompt, images, active, p })
    // A holder that lost its lease while the model answered must not write a second reply.
    lease.assertHeld()
    fullText = completion.text
    routeReason = completion.reason
    if (demos)
      await deps.exemplars?.recordCost({ model: completion.model, demonstrations: demos, mid: p.mid })
    if (active?.canary)
      await deps.canary?.recordReply({
        ...active.canary,
        mid: p.mid,
        igUserId: p.igUserId,
        model: completion.model,
        routeReason: completion.reason,
        latencyMs: Math.max(0, Date.now() - p.receivedAt),
      })
    rows = await deps.outbox.insertParts({
      mid: p.mid,
      igUserId: p.igUserId,
      igAccountId: p.igAccountId,
      parts: splitReply(completion.text),
      model: completion.model,
    })
    // Refused: another completion for this mid was stored first; send that one, not ours.
    if (rows[0]?.text !== splitReply(completion.text)[0]) fullText = undefined
  }
  if (deps.sender) await assertSendOpen(deps)
  await deliverParts(rows, p, deps, lease)
  await storeAssistantTurn(p, rows, fullText, deps, routeReason, active)
  if (messages && fullText)
    deps.shadow?.offer({ mid: p.mid, igUserId: p.igUserId, messages, sentText: fullText })
  deps.metrics?.dmLatency.observe(
    { model: rows[0]?.model ?? 'unknown' },
    Math.max(0, Date.now() - p.receivedAt) / 1000,
  )
  return 'answered'
}

async function storeAssistantTurn(
  p: DmMessagePayload,
  rows: OutboxRow[],
  fullText: string | undefined,
  deps: DmDeps,
  routeReason?: string,
  active?: ActiveModel | null,
) {
  const content = fullText ?? rows.map((r) => r.text).join('\n')
  const turn = await deps.conversations.insertTurn({
    igMessageId: replyMessageId(p.mid),
    igUserId: p.igUserId,
    role: 'assistant',
    content,
    model: rows[0]?.model ?? null,
    author: 'bot',
    routeReason: routeReason ?? null,
    policyId: routeReason === 'active' ? (active?.policy?.id ?? null) : null,
    canaryArm: active?.canary?.arm ?? null,
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
