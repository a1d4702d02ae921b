import { type CanaryArm, canaryArm } from '@loopdm/models/canary-decision'
import type { CanaryRepository } from '@loopdm/models/canary-runs'
import { type CanarySplit, decodeCanaryMessage } from '@loopdm/models/hotswap'
import type { ActiveModel } from '@loopdm/models/registry'
import type { Logger } from '@loopdm/platform/logger'
import type { Redis } from '@loopdm/redis/client'
import { pseudonymousUserKey } from '@loopdm/training-data/pseudonym'

export interface CanarySplitHolderOptions {
  repo: Pick<CanaryRepository, 'currentSplit'>
  /** The hot-swap subscriber connection (ActiveModelHolder subscribes the channel on it too). */
  subscriber: Redis
  channel: string
  reconcileIntervalMs: number
  logger: Logger
  onChange?: (split: CanarySplit | null) => void
}

/** Which arm answers one reply, and the model it answers with. */
export interface CanaryRoute {
  runId: number
  arm: CanaryArm
  /** The candidate (arm `canary`) or the active model as given (arm `control`). */
  active: ActiveModel | null
}

/**
 * The canary split as this gateway routes by it (issue 19). Same rules as the active-model
 * holder: Postgres is the source of truth, read at start, on every resubscribe and every
 * `reconcileIntervalMs`; a canary message with a newer `seq` applies at once. A customer's arm is
 * `canaryArm(pseudonymousUserKey(igUserId), percent, salt)`: every gateway computes the same one
 * without coordination, and it holds for the whole run.
 */
export class CanarySplitHolder {
  private split: CanarySplit | null = null
  private seq = -1
  private lastSwapAt = 0
  private timer: NodeJS.Timeout | undefined
  private closed = false
  private readonly onMessage = (channel: string, raw: string) => {
    if (channel !== this.opts.channel) return
    const msg = decodeCanaryMessage(raw)
    if (msg && msg.seq > this.seq) this.set(msg.seq, msg.split, 'message')
  }
  private readonly onReady = () => void this.reconcile('resubscribe')

  constructor(private readonly opts: CanarySplitHolderOptions) {}

  async start(): Promise<void> {
    this.opts.subscriber.on('message', this.onMessage)
    this.opts.subscriber.on('ready', this.onReady)
    await this.reconcile('start')
    this.timer = setInterval(() => void this.reconcile('reconcile'), this.opts.reconcileIntervalMs)
    this.timer.unref()
  }

  current(): CanarySplit | null {
    return this.split
  }

  /** The arm of this customer and the model it is answered with; null when no canary runs. */
  route(igUserId: string, active: ActiveModel | null): CanaryRoute | null {
    const s = this.split
    if (!s) return null
    const arm = canaryArm(pseudonymousUserKey(igUserId), s.percent, s.salt)
    if (arm === 'control') return { runId: s.runId, arm, active }
    const candidate: ActiveModel = {
      model: s.model,
      version: active?.version ?? 0,
      since: active?.since ?? new Date(),
      policy: s.policy,
    }
    return { runId: s.runId, arm, active: candidate }
  }

  async reconcile(source: 'start' | 'reconcile' | 'resubscribe' = 'reconcile'): Promise<void> {
    const readStartedAt = Date.now()
    try {
      const r = await this.opts.repo.currentSplit()
      // A message that raced this read is newer than what the read saw: keep it.
      if (r.seq >= this.seq && !(this.lastSwapAt > readStartedAt)) this.set(r.seq, r.split, source)
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message, source }, 'canary read failed; keeping the split')
    }
  }

  private set(seq: number, split: CanarySplit | null, source: string) {
    const changed = (this.split?.runId ?? null) !== (split?.runId ?? null)
    this.seq = seq
    this.split = split ? Object.freeze({ ...split }) : null
    this.lastSwapAt = Date.now()
    if (!changed) return
    this.opts.onChange?.(this.split)
    this.opts.logger.info(
      { run: split?.runId ?? null, model: split?.model ?? null, percent: split?.percent ?? null, source },
      split ? 'canary split applied' : 'canary split ended',
    )
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    this.opts.subscriber.off('message', this.onMessage)
    this.opts.subscriber.off('ready', this.onReady)
  }
}
