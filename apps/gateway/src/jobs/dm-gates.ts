import type { DmMessagePayload } from '@loopdm/queues/contracts'
import { UnrecoverableError } from 'bullmq'
import type { GatewayMetrics } from '../metrics.js'
import type { OutboxRepository, OutboxRow } from '../repositories/outbox.repository.js'
import { GraphSendError } from '../services/graph-sender.js'
import { type SendGate, SendHeldError } from '../services/send-gate.js'
import { STANDARD_WINDOW_MS, type TakeoverService } from '../services/takeover.service.js'

/**
 * What is checked before paying for a completion, and what a failed send means — kept out of the
 * reply pipeline so its call sites stay one line each.
 */
export interface GateDeps {
  conversations: { isDeleted(mid: string): Promise<boolean> }
  takeover?: Pick<TakeoverService, 'heldUntil'>
  sendGate?: Pick<SendGate, 'status' | 'block'>
  logger: import('@loopdm/platform/logger').Logger
  metrics?: GatewayMetrics
  now?: () => number
}

export type GateOutcome = 'deleted' | 'held' | 'outside-window'

/**
 * null → answer it. Unsent by the customer → `deleted`; a human has the conversation → `held`
 * (stored, not answered); older than Meta's 24-hour window → `outside-window` (the bot may not
 * reply; no completion is paid for). The Send API refusing our token → throws SendHeldError.
 */
export async function gateBeforeAnswer(p: DmMessagePayload, deps: GateDeps): Promise<GateOutcome | null> {
  const now = deps.now?.() ?? Date.now()
  if (await deps.conversations.isDeleted(p.mid)) {
    deps.logger.info({ mid: p.mid }, 'dm not answered: the customer unsent it')
    return 'deleted'
  }
  const until = await deps.takeover?.heldUntil(p.igUserId)
  if (until) {
    deps.metrics?.dmHeld.inc({ reason: 'takeover' })
    deps.logger.info({ mid: p.mid, until: new Date(until).toISOString() }, 'dm held: human takeover')
    return 'held'
  }
  if (now - p.timestamp > STANDARD_WINDOW_MS) {
    deps.metrics?.dmSkipped.inc({ reason: 'outside_window' })
    deps.logger.info(
      { mid: p.mid, ageHours: Math.round((now - p.timestamp) / 3600_000) },
      'dm not answered: older than the 24-hour messaging window',
    )
    return 'outside-window'
  }
  await assertSendOpen(deps)
  return null
}

export async function assertSendOpen(deps: Pick<GateDeps, 'sendGate' | 'metrics'>): Promise<void> {
  const s = await deps.sendGate?.status()
  if (s?.blocked) {
    deps.metrics?.dmHeld.inc({ reason: 'send_blocked' })
    throw new SendHeldError(`sending is blocked: ${s.reason}`)
  }
}

/**
 * A failed send of one part. Rate limits and transient errors: the attempt is recorded and the
 * job retried with backoff (the last attempt marks the part failed). 190: the gateway blocks
 * sending and the reply is held (SendHeldError). Outside the 24-hour window and other permanent
 * errors: the part is failed at once (UnrecoverableError), counted by kind.
 */
export async function onSendFailure(
  err: unknown,
  row: OutboxRow,
  deps: GateDeps & { outbox: Pick<OutboxRepository, 'markAttemptFailed'> },
  finalAttempt: boolean,
): Promise<never> {
  const message = (err as Error).message
  const kind = err instanceof GraphSendError ? err.kind : 'transient'
  if (kind === 'auth') {
    await deps.outbox.markAttemptFailed(row.id, message, false)
    await deps.sendGate?.block(message)
    deps.metrics?.sends.inc({ result: 'held' })
    throw new SendHeldError(message)
  }
  const retryable = kind === 'rate_limit' || kind === 'transient'
  const final = !retryable || finalAttempt
  await deps.outbox.markAttemptFailed(row.id, message, final)
  deps.metrics?.sends.inc({
    result: kind === 'outside_window' ? 'outside_window' : final ? 'failed' : 'retry',
  })
  deps.logger.warn({ mid: row.mid, part: row.part, err: message, kind, final }, 'reply send failed')
  if (!retryable) throw new UnrecoverableError(message)
  throw err
}
