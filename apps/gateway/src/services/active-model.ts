import { decodeActiveModelMessage, isRolloutMessage } from '@loopdm/models/hotswap'
import type { ActiveModel, RegistryRepository } from '@loopdm/models/registry'
import type { Logger } from '@loopdm/platform/logger'
import type { Redis } from '@loopdm/redis/client'
import type { GatewayMetrics } from '../metrics.js'

export interface ActiveModelHolderOptions {
  registry: Pick<RegistryRepository, 'findActive'>
  /** A dedicated connection (createRedis role `subscriber`); the holder subscribes it. */
  subscriber: Redis
  /** config.models.channel. */
  channel: string
  /** Registry re-read period (config.models.reconcileIntervalMs). */
  reconcileIntervalMs: number
  logger: Logger
  metrics?: GatewayMetrics
}

type Source = 'start' | 'message' | 'reconcile' | 'resubscribe'

/**
 * Holds the active model as this instance uses it. The registry is the source of truth: it is
 * read at start, on every (re)subscribe and every `reconcileIntervalMs`; a hot-swap message with a
 * newer `version` swaps at once (older or equal versions are ignored). `current()` is a plain
 * read of an immutable object, so a reply that captured it at its start finishes on that model
 * whatever swaps happen meanwhile.
 */
export class ActiveModelHolder {
  private active: ActiveModel | null = null
  private lastSwapAt = 0
  private loadedOnce = false
  private timer: NodeJS.Timeout | undefined
  private started = false
  private closed = false
  private readonly onMessage = (channel: string, raw: string) => {
    // The canary split travels on the same channel; CanarySplitHolder takes it.
    if (channel !== this.opts.channel || isRolloutMessage(raw)) return
    const msg = decodeActiveModelMessage(raw)
    if (!msg) {
      this.opts.logger.warn({ channel }, 'ignored malformed hot-swap message')
      return
    }
    const at = new Date(msg.at)
    this.offer(
      {
        model: msg.model,
        version: msg.version,
        since: Number.isNaN(at.getTime()) ? new Date() : at,
        policy: msg.policy,
      },
      'message',
    )
  }
  private readonly onReady = () => {
    if (!this.started) return
    this.opts.logger.info(
      { channel: this.opts.channel },
      'hot-swap subscriber reconnected; re-reading the registry',
    )
    void this.reconcile('resubscribe')
  }

  constructor(private readonly opts: ActiveModelHolderOptions) {}

  /** Loads the registry's active model and subscribes to the channel. */
  async start(): Promise<void> {
    const sub = this.opts.subscriber
    sub.on('message', this.onMessage)
    await sub.subscribe(this.opts.channel)
    // After a reconnect ioredis re-subscribes and emits `ready`: a message may have been missed.
    sub.on('ready', this.onReady)
    this.started = true
    await this.reconcile('start')
    this.timer = setInterval(() => void this.reconcile('reconcile'), this.opts.reconcileIntervalMs)
    this.timer.unref()
  }

  /** The active model at this instant (null: none active, replies use the base model). */
  current(): ActiveModel | null {
    return this.active
  }

  /** True once the registry has been read successfully (readiness). */
  loaded(): boolean {
    return this.loadedOnce
  }

  /** Re-reads the registry and adopts its state when it is not older than what we hold. */
  async reconcile(source: Source = 'reconcile'): Promise<void> {
    const readStartedAt = Date.now()
    let reg: ActiveModel | null
    try {
      reg = await this.opts.registry.findActive()
    } catch (err) {
      this.opts.logger.warn(
        { err: (err as Error).message, source },
        'registry read failed; keeping active model',
      )
      return
    }
    this.loadedOnce = true
    if (reg) {
      this.offer(
        { model: reg.model, version: Number(reg.version), since: new Date(reg.since), policy: reg.policy },
        source,
      )
    } else if (this.active && this.lastSwapAt < readStartedAt) {
      // Nothing is active in the registry (and no swap raced this read): back to the base model.
      this.set(null, source)
    } else if (!this.active) {
      this.opts.metrics?.setActiveModel(null, 0)
    }
  }

  /** Swaps to `next` when its version is newer (a message) or not older (a registry read). */
  private offer(next: ActiveModel, source: Source) {
    const held = this.active
    const heldVersion = held?.version ?? -1
    const newer = source === 'message' ? next.version > heldVersion : next.version >= heldVersion
    if (!newer) {
      if (source === 'message')
        this.opts.logger.info(
          { model: next.model, version: next.version, heldVersion },
          'ignored hot-swap message (not newer)',
        )
      return
    }
    // A legacy message (no policy) is completed by the next registry read (same version, with policy).
    if (held && held.model === next.model && held.version === next.version && (held.policy || !next.policy))
      return
    this.set(next, source)
  }

  private set(next: ActiveModel | null, source: Source) {
    const prev = this.active
    this.active = next ? Object.freeze({ ...next }) : null
    this.lastSwapAt = Date.now()
    this.opts.metrics?.setActiveModel(next?.model ?? null, next?.version ?? 0)
    if (source !== 'start') this.opts.metrics?.modelSwaps.inc({ source })
    this.opts.logger.info(
      {
        from: prev?.model ?? null,
        to: next?.model ?? null,
        version: next?.version ?? 0,
        policy: next?.policy?.id ?? null,
        learner: next?.policy?.learner ?? null,
        source,
      },
      'active model swapped',
    )
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    const sub = this.opts.subscriber
    sub.off('message', this.onMessage)
    sub.off('ready', this.onReady)
    // Not ready (Redis down, never connected): nothing to unsubscribe, and the command would wait.
    if (sub.status === 'ready') await sub.unsubscribe(this.opts.channel).catch(() => {})
  }
}
