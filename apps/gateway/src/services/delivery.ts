import { LoopDmError } from '@loopdm/platform/errors'
import type { DmMessagePayload } from '@loopdm/queues/contracts'
import type { Lease } from '@loopdm/redis/lock'
import { UnrecoverableError } from 'bullmq'
import type { DmDeps } from '../jobs/dm.processor.js'
import { onSendFailure } from '../jobs/dm-gates.js'
import { isSettled, type OutboxRow } from '../repositories/outbox.repository.js'
import { GraphSendError } from './graph-sender.js'

/**
 * The send loop: every unsettled part of one reply, in order, each claimed (`pending → sending`
 * with the lease's fence, timestamped) before its POST. What the outbox can say afterwards is
 * exactly what the README's "Delivery guarantees" promise:
 * - `sent`: Meta answered 200 for this POST;
 * - back to `pending`: the POST failed in a way that proves nothing was delivered (refused
 *   connection, 429/5xx answer) — it is sent again on retry;
 * - left `sending`: the POST timed out or the process died after it — on retry, once the part has
 *   been `sending` for longer than the send timeout it is "maybe sent": `unknown`, counted
 *   (`loopdm_sends_total{result="unknown"}`) and not re-sent, unless DM_RESEND_MAYBE_SENT.
 */

/** Another holder's POST of this part may still be in flight: retry once its timeout is over. */
export class PartInFlightError extends LoopDmError {
  constructor(message: string) {
    super(message, { code: 'PART_IN_FLIGHT', statusCode: 503 })
  }
}

export interface DeliveryOptions {
  /** A DM older than this (since the webhook took it) is expired, not answered. Default 24 h. */
  maxAgeMs: number
  /** The Graph API request timeout: a part `sending` for longer is "maybe sent". Default 10 000. */
  sendTimeoutMs: number
  /** Re-send "maybe sent" parts (duplicates possible) instead of settling them `unknown`. */
  resendMaybeSent: boolean
}

export const DEFAULT_DELIVERY: DeliveryOptions = {
  maxAgeMs: 24 * 3600_000,
  sendTimeoutMs: 10_000,
  resendMaybeSent: false,
}

/** How old the customer's message is (since the webhook took it), in ms. */
export const dmAgeMs = (p: DmMessagePayload, now = Date.now()) => Math.max(0, now - p.receivedAt)

/** True when the DM is past DM_MAX_AGE_MS: Meta's window is over, it is expired instead of answered. */
export const isTooOld = (p: DmMessagePayload, deps: Pick<DmDeps, 'delivery'>, now = Date.now()) =>
  dmAgeMs(p, now) >= (deps.delivery ?? DEFAULT_DELIVERY).maxAgeMs

/** Records the DM as expired (outbox row/status, metric, warn log with the mid — never silent). */
export async function expireReply(p: DmMessagePayload, deps: DmDeps): Promise<void> {
  const ageMs = dmAgeMs(p)
  const recorded = await deps.outbox.expire({
    mid: p.mid,
    igUserId: p.igUserId,
    igAccountId: p.igAccountId,
    reason: `not answered within ${(deps.delivery ?? DEFAULT_DELIVERY).maxAgeMs} ms`,
  })
  if (!recorded) return
  deps.metrics?.dmExpired.inc()
  deps.logger.warn({ mid: p.mid, ageMs }, 'dm expired: not answered within DM_MAX_AGE_MS')
}

/** Sends the unsettled parts of `rows` in order; throws (retryable or UnrecoverableError) on the first that fails. */
export async function deliverParts(rows: OutboxRow[], p: DmMessagePayload, deps: DmDeps, lease: Lease) {
  for (const row of rows) {
    if (isSettled(row)) continue
    if (row.status === 'failed') throw new UnrecoverableError(`part ${row.part} of ${p.mid} failed before`)
    await deliverPart(row, p, deps, lease)
  }
}

/** A timeout or a dropped connection after the request left: Meta may have delivered it. */
function maybeDelivered(err: unknown): boolean {
  return (
    err instanceof GraphSendError &&
    err.status === undefined &&
    /timeout|timed out|aborted|socket hang up|ECONNRESET/i.test(err.message)
  )
}

async function settleStale(row: OutboxRow, p: DmMessagePayload, deps: DmDeps): Promise<'resend' | 'settled'> {
  const opts = deps.delivery ?? DEFAULT_DELIVERY
  const age = Date.now() - (row.sendingAt?.getTime() ?? 0)
  if (age < opts.sendTimeoutMs)
    throw new PartInFlightError(`part ${row.part} of ${p.mid} is being sent (${age} ms); retrying later`)
  if (opts.resendMaybeSent) {
    await deps.outbox.reopenStale(row.id)
    deps.logger.warn(
      { mid: p.mid, part: row.part },
      'reply part maybe sent; re-sending (DM_RESEND_MAYBE_SENT)',
    )
    return 'resend'
  }
  if (await deps.outbox.markMaybeSent(row.id)) {
    deps.metrics?.sends.inc({ result: 'unknown' })
    deps.logger.warn(
      { mid: p.mid, part: row.part, sendingForMs: age },
      'reply part maybe sent (no answer to its POST); not re-sent',
    )
  }
  return 'settled'
}

async function deliverPart(row: OutboxRow, p: DmMessagePayload, deps: DmDeps, lease: Lease) {
  if (row.status === 'sending' && (await settleStale(row, p, deps)) === 'settled') return
  lease.assertHeld()
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
  if (!(await deps.outbox.claim(row.id, lease.fence)))
    throw new PartInFlightError(`part ${row.part} of ${p.mid} was claimed by another holder; retrying later`)
  // The claim is recorded: past this point a crash leaves the part `sending` ("maybe sent").
  lease.assertHeld()
  let messageId: string | null
  try {
    const res = await deps.sender.send({
      igAccountId: row.igAccountId ?? p.igAccountId,
      recipientId: p.igUserId,
      text: row.text,
    })
    messageId = res.messageId
  } catch (err) {
    await onSendError(err, row, p, deps, lease)
    throw err
  }
  await deps.outbox.markDelivered(row.id, 'sent', messageId, undefined, lease.fence)
  deps.metrics?.sends.inc({ result: 'sent' })
}

async function onSendError(err: unknown, row: OutboxRow, p: DmMessagePayload, deps: DmDeps, lease: Lease) {
  const message = (err as Error).message
  // A timeout stays `sending`: the retry settles it as "maybe sent" instead of sending it twice.
  if (maybeDelivered(err)) {
    deps.metrics?.sends.inc({ result: 'retry' })
    deps.logger.warn({ mid: p.mid, part: row.part, err: message, final: false }, 'reply send failed')
    return
  }
  // Nothing was delivered: the claim goes back (a permanent error then marks the part failed).
  if (!(err instanceof GraphSendError) || err.retryable || err.kind === 'auth')
    await deps.outbox.releaseClaim(row.id, lease.fence)
  // Meta's error classes (rate limit, token block → held, outside the window, permanent): dm-gates.
  await onSendFailure(err, row, deps, false)
}
