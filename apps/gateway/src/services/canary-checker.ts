import { endCanary } from '@loopdm/models/canary-control'
import { type CanaryConfig, type CanaryDecision, decideCanary } from '@loopdm/models/canary-decision'
import { type CanaryRun, createCanaryRepository } from '@loopdm/models/canary-runs'
import { type PromotionDeps, promoteModel } from '@loopdm/models/promotion'
import { createRegistryRepository } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import { tryWithRedisLock } from '@loopdm/redis/lock'
import type { GatewayMetrics } from '../metrics.js'
import {
  type CanaryCounts,
  createCanarySignalsRepository,
} from '../repositories/canary-signals.repository.js'

export interface CanaryCheckerOptions {
  promotion: PromotionDeps
  metrics?: GatewayMetrics
  /** 0 = no periodic check in this process (the admin route can still snapshot). */
  intervalMs: number
  now?: () => number
}

/** A look at the live canary: its counts, the decision and what was done about it. */
export interface CanarySnapshot {
  run: CanaryRun
  counts: CanaryCounts
  decision: CanaryDecision
  /** What the check did: nothing yet, or the run's new status. */
  action: 'none' | 'rolled_back' | 'stopped' | 'kept' | 'promoted' | 'awaiting_approval'
}

/**
 * The canary's periodic check (issue 19). Every `intervalMs` one gateway (a Redis lock) counts
 * both arms, runs the always-valid sequential test (canary-decision.ts) and acts: `rollback` and
 * the hard guards (`stop`) end the split at once and reject the candidate; `keep` ends it and
 * says so; `promote` promotes the candidate when CANARY_AUTO_PROMOTE=true, else the run waits for
 * approval (the split continues; a later clear `rollback` still ends it). Every check and
 * decision is written to the canary's log with the numbers.
 */
export function createCanaryChecker(o: CanaryCheckerOptions) {
  const deps = o.promotion
  const cfg = deps.config.rollout.canary
  const repo = createCanaryRepository(deps.db)
  const signals = createCanarySignalsRepository(deps.db)
  const registry = deps.registry ?? createRegistryRepository(deps.db)
  const now = o.now ?? Date.now
  const lockKey = `${deps.config.redis.prefix}:canary-check`
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined

  async function look(run: CanaryRun): Promise<{ counts: CanaryCounts; decision: CanaryDecision }> {
    const counts = await signals.counts(run, { unansweredQuietMs: cfg.unansweredQuietMs })
    const elapsedHours = (now() - new Date(run.startedAt).getTime()) / 3_600_000
    const decision = decideCanary({ ...counts, elapsedHours }, decisionConfig(deps.config, run))
    return { counts, decision }
  }

  async function act(run: CanaryRun, d: CanaryDecision, numbers: unknown): Promise<CanarySnapshot['action']> {
    const end = (status: CanaryRun['status'], reason = d.reason) =>
      endCanary(deps, { run, status, decision: d.decision, reason, numbers, actor: 'canary' })
    if (d.decision === 'rollback' || d.decision === 'stop') {
      await end(d.decision === 'rollback' ? 'rolled_back' : 'stopped')
      await registry.setStatus(run.candidateModel, 'rejected', { reason: `canary ${run.id}: ${d.reason}` })
      return d.decision === 'rollback' ? 'rolled_back' : 'stopped'
    }
    if (run.status === 'awaiting_approval') {
      if (d.elapsedHours < run.maxHours) return 'none'
      await end('kept', `keep current: not approved within maxHours ${run.maxHours} (${d.reason})`)
      return 'kept'
    }
    if (d.decision === 'keep') {
      await end('kept')
      return 'kept'
    }
    if (d.decision !== 'promote') return 'none'
    if (!cfg.autoPromote) {
      const reason = `${d.reason}; waiting for approval (CANARY_AUTO_PROMOTE=false)`
      await repo.setStatus(run.id, 'awaiting_approval', { reason, decision: numbers })
      await repo.addEvent({
        runId: run.id,
        kind: 'decision',
        decision: 'promote',
        reason,
        numbers,
        actor: 'canary',
      })
      return 'awaiting_approval'
    }
    await promoteModel({
      ...deps,
      ref: run.candidateModel,
      actor: 'canary',
      reason: d.reason,
      metrics: { canary: numbers },
    })
    await end('promoted')
    return 'promoted'
  }

  /** The candidate was promoted (approval, CLI) or the active policy changed under the canary. */
  async function endedElsewhere(run: CanaryRun): Promise<CanarySnapshot['action'] | null> {
    const active = (await registry.findActive())?.model ?? null
    if (active === run.controlModel) return null
    const promoted = active === run.candidateModel
    const reason = promoted
      ? `promoted: ${run.candidateModel} became the active policy (approved)`
      : `stop: the active policy changed from ${run.controlModel ?? 'the base model'} to ${active ?? 'the base model'}`
    await endCanary(deps, {
      run,
      status: promoted ? 'promoted' : 'stopped',
      decision: promoted ? 'promote' : 'stop',
      reason,
      actor: 'canary',
    })
    return promoted ? 'promoted' : 'stopped'
  }

  async function checkOnce(): Promise<CanarySnapshot | null> {
    const run = await repo.live()
    if (!run) return null
    const { counts, decision } = await look(run)
    const numbers = { ...decision, signals: counts }
    const elsewhere = await endedElsewhere(run)
    if (elsewhere) return { run, counts, decision, action: elsewhere }
    await repo.markChecked(run.id, numbers)
    await repo.addEvent({
      runId: run.id,
      kind: 'check',
      decision: decision.decision,
      reason: decision.reason,
      numbers,
      actor: 'canary',
    })
    observe(o.metrics, counts, decision)
    const action = await act(run, decision, numbers)
    deps.logger?.info(
      {
        run: run.id,
        decision: decision.decision,
        action,
        control: counts.control.replies,
        canary: counts.canary.replies,
      },
      'canary checked',
    )
    return { run, counts, decision, action }
  }

  return {
    /** Counts and decides without acting or logging (GET /admin/canary). */
    async snapshot(): Promise<(Omit<CanarySnapshot, 'action'> & { run: CanaryRun }) | null> {
      const run = await repo.live()
      return run ? { run, ...(await look(run)) } : null
    },
    /** One check under the cluster-wide lock; null when another gateway holds it or no canary runs. */
    async check(): Promise<CanarySnapshot | null> {
      // A short lease (renewed while held): a gateway killed mid-check blocks the others briefly.
      const ttlMs = Math.min(30_000, Math.max(1_000, 2 * o.intervalMs))
      const r = await tryWithRedisLock(deps.redis, lockKey, () => checkOnce(), { ttlMs })
      return r ?? null
    },
    start() {
      if (o.intervalMs <= 0 || timer) return
      timer = setInterval(() => {
        if (running) return
        running = this.check()
          .catch((err) => deps.logger?.warn({ err: (err as Error).message }, 'canary check failed'))
          .finally(() => {
            running = undefined
          })
      }, o.intervalMs)
      timer.unref()
    },
    async stop() {
      if (timer) clearInterval(timer)
      timer = undefined
      await running
    },
  }
}

export type CanaryChecker = ReturnType<typeof createCanaryChecker>

function decisionConfig(config: Config, run: CanaryRun): CanaryConfig {
  const c = config.rollout.canary
  return {
    minReplies: run.minReplies,
    maxHours: run.maxHours,
    margin: run.margin ?? c.margin,
    alpha: c.alpha,
    promoteWhen: c.promoteWhen,
    maxSendFailureRate: c.maxSendFailureRate,
    maxFallbackRate: c.maxFallbackRate,
    maxP99LatencyMs: c.maxP99LatencyMs,
    guardMinReplies: c.guardMinReplies,
  }
}

function observe(m: GatewayMetrics | undefined, counts: CanaryCounts, d: CanaryDecision) {
  if (!m) return
  m.canaryChecks.inc({ decision: d.decision })
  for (const arm of ['control', 'canary'] as const) {
    const s = d.arms[arm]
    m.canaryReplies.set({ arm }, counts[arm].replies)
    m.canaryRate.set({ arm, signal: 'bad' }, s.badRate)
    m.canaryRate.set({ arm, signal: 'positive' }, s.positiveRate)
    m.canaryRate.set({ arm, signal: 'fallback' }, s.fallbackRate)
    m.canaryRate.set({ arm, signal: 'send_failure' }, s.sendFailureRate)
  }
  if (d.test) m.canaryLogLR.set(d.test.logLR)
}
