import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import { ConflictError, NotFoundError } from '@loopdm/platform/errors'
import type { Logger } from '@loopdm/platform/logger'
import type { Redis } from '@loopdm/redis/client'
import type OpenAI from 'openai'
import { createExemplarRepository } from './exemplar-sets.js'
import { encodeActiveModelMessage } from './hotswap.js'
import { type PolicyEndpoint, policyRef } from './policy.js'
import { type ProbeOptions, probePolicy } from './probe.js'
import { createRegistryRepository, type ModelKind, type RegistryRepository, rowToPolicy } from './registry.js'

/**
 * Promotion, rollback and approval: the only code that changes which model answers users.
 * Order matters: probe the model (it must answer) → one registry transaction (flip the active
 * row, append `model_promotions`) → PUBLISH the new version on `config.models.channel`. A failed
 * probe changes nothing; a failed publish is healed by every gateway's periodic reconcile.
 */
export { type ProbeOptions, probeModel } from './probe.js'

export interface PromotionDeps {
  db: Pool
  /** A client that can PUBLISH (not a subscriber-mode connection). */
  redis: Redis
  sdk: OpenAI
  config: Config
  logger?: Logger | undefined
  registry?: RegistryRepository
  /** Probe tuning; defaults from config.models.probeDeadlineMs. */
  probe?: ProbeOptions
  /**
   * The client for a policy served at another OpenAI-compatible endpoint (`policy.endpoint`);
   * default: `sdk` for every policy.
   */
  clientFor?: (endpoint: PolicyEndpoint) => OpenAI
}

export interface PromotionResult {
  /** The policy's registry key (the model id for base and fine-tune policies). */
  model: string
  /** The promoted policy's registry id, learner and the model it serves. */
  policy: { id: number; learner: string; servingModel: string }
  version: number
  from: string | null
  at: string
  /** False when the model already was the active one (nothing changed, nothing published). */
  changed: boolean
  /** False when the PUBLISH failed; gateways converge on their reconcile interval. */
  published: boolean
  probeAttempts: number
}

/** The compare-and-swap key of the active policy: its model and promotion version (0/null: none). */
export function activeState(a: { model: string; version: number } | null): {
  model: string | null
  version: number
} {
  return { model: a?.model ?? null, version: Number(a?.version ?? 0) }
}

function kindOf(model: string, config: Config): ModelKind {
  if (model.startsWith('ft:')) return 'fine_tuned'
  if (model.startsWith('exemplars:')) return 'exemplars'
  if (model === config.models.vision) return 'vision'
  return 'base'
}

/**
 * Makes `ref` (a registry id or a model id) the active model on every gateway. A model the
 * registry lacks but the provider serves is registered on the fly, after the probe.
 */
export async function promoteModel(
  deps: PromotionDeps & {
    ref: string | number
    actor: string
    reason: string
    metrics?: Record<string, unknown> | undefined
    /**
     * The active state this promotion was decided against; default: the one read as it starts.
     * The auto-promotion passes the model its candidate beat. Changed by the time the registry
     * commits (another promotion, a rollback) → PromotionConflictError (409), nothing changed.
     */
    expectedActive?: { model: string | null; version: number } | undefined
  },
): Promise<PromotionResult> {
  const registry = deps.registry ?? createRegistryRepository(deps.db)
  const before = deps.expectedActive ?? activeState(await registry.findActive())
  const row = await registry.findByIdOrModel(deps.ref)
  if (!row && (typeof deps.ref === 'number' || /^\d+$/.test(deps.ref))) {
    throw new NotFoundError(`no model with registry id ${deps.ref}`)
  }
  if (row?.status === 'retired') {
    throw new ConflictError(`model ${row.model} is retired and cannot be promoted`)
  }
  const model = row?.model ?? String(deps.ref)
  if (row?.learner === 'exemplars') await assertSetServable(deps.db, model, row.exemplarSetId)
  // A policy is probed where it is served: its serving model on its endpoint.
  const servingModel = row?.servingModel ?? model
  const probeAttempts = await probePolicy(deps, servingModel, row ? rowToPolicy(row).endpoint : null)
  if (!row) {
    await registry.upsertModel({
      model,
      kind: kindOf(model, deps.config),
      status: 'inactive',
      reason: `registered on promotion by ${deps.actor}`,
    })
    deps.logger?.info({ model }, 'model registered on the fly')
  }
  const active = await registry.findActive()
  if (active?.model === model && active.policy) {
    return {
      model,
      policy: summaryOf(active.policy),
      version: Number(active.version),
      from: model,
      at: new Date(active.since).toISOString(),
      changed: false,
      published: false,
      probeAttempts,
    }
  }
  const p = await registry.promote({
    model,
    actor: deps.actor,
    reason: deps.reason,
    metrics: deps.metrics,
    expected: before,
  })
  const at = new Date(p.at).toISOString()
  const promoted = await registry.findByIdOrModel(model)
  const policy = rowToPolicy(promoted ?? (row as NonNullable<typeof row>), p.version)
  const published = await publishPromotion(deps, { model, version: p.version, from: p.from, at, policy })
  return {
    model,
    policy: summaryOf(policy),
    version: p.version,
    from: p.from,
    at,
    changed: true,
    published,
    probeAttempts,
  }
}

/** PUBLISHes the hot-swap message and logs the promotion; a failed publish is healed by every
 * gateway's reconcile, so it is reported (`published: false`), never thrown. */
async function publishPromotion(
  deps: PromotionDeps & { actor: string; reason: string },
  o: {
    model: string
    version: number
    from: string | null
    at: string
    policy: ReturnType<typeof rowToPolicy>
  },
): Promise<boolean> {
  const { model, at, policy } = o
  const p = { version: o.version, from: o.from }
  let published = true
  try {
    await deps.redis.publish(
      deps.config.models.channel,
      encodeActiveModelMessage({
        model,
        version: p.version,
        at,
        reason: deps.reason,
        policy: policyRef(policy),
      }),
    )
  } catch (err) {
    published = false
    deps.logger?.warn(
      { model, version: p.version, err: (err as Error).message },
      'hot-swap publish failed; gateways converge on their reconcile interval',
    )
  }
  deps.logger?.info(
    {
      model,
      policy: policy.id,
      learner: policy.learner,
      from: p.from,
      version: p.version,
      actor: deps.actor,
      published,
    },
    'policy promoted',
  )
  return published
}

/** An exemplar policy is servable only once its set's build committed (`ready`). */
async function assertSetServable(db: Pool, model: string, setId: number | null): Promise<void> {
  const set = setId === null ? null : await createExemplarRepository(db).findSet(Number(setId))
  if (set?.status !== 'ready')
    throw new ConflictError(
      `policy ${model} cannot be promoted: its exemplar set ${setId ?? '(none)'} is ${set?.status ?? 'missing'}, not ready; nothing was changed`,
    )
}

const summaryOf = (p: { id: number; learner: string; servingModel: string }) => ({
  id: p.id,
  learner: p.learner,
  servingModel: p.servingModel,
})

/**
 * Promotes the model that was active before the current one (the same probe → transaction →
 * publish path). With no earlier model on record, rolls back to BASE_MODEL.
 */
export async function rollbackModel(
  deps: PromotionDeps & { actor: string; reason?: string },
): Promise<PromotionResult> {
  const registry = deps.registry ?? createRegistryRepository(deps.db)
  const active = await registry.findActive()
  if (!active) throw new ConflictError('there is no active model to roll back from')
  const previous = (await registry.findPrevious()) ?? deps.config.models.base
  if (previous === active.model) throw new ConflictError(`nothing to roll back to: ${previous} is active`)
  return promoteModel({
    ...deps,
    registry,
    ref: previous,
    reason: deps.reason ?? `rollback from ${active.model}`,
  })
}

/** Approves a candidate awaiting review (`approved_pending` or `candidate`) and promotes it. */
export async function approveCandidate(
  deps: PromotionDeps & { ref: string | number; actor: string; reason?: string },
): Promise<PromotionResult> {
  const registry = deps.registry ?? createRegistryRepository(deps.db)
  const row = await registry.findByIdOrModel(deps.ref)
  if (!row) throw new NotFoundError(`no candidate ${deps.ref} in the registry`)
  if (row.status !== 'approved_pending' && row.status !== 'candidate') {
    throw new ConflictError(`model ${row.model} is ${row.status}, not awaiting approval`)
  }
  return promoteModel({
    ...deps,
    registry,
    ref: row.model,
    reason: deps.reason ?? `approved by ${deps.actor}`,
    metrics: row.metrics ?? undefined,
  })
}

/** Rejects a candidate awaiting review; it stays in the registry with the reason. */
export async function rejectCandidate(deps: {
  db: Pool
  registry?: RegistryRepository
  ref: string | number
  actor: string
  reason?: string
}): Promise<{ model: string; status: 'rejected'; reason: string }> {
  const registry = deps.registry ?? createRegistryRepository(deps.db)
  const row = await registry.findByIdOrModel(deps.ref)
  if (!row) throw new NotFoundError(`no candidate ${deps.ref} in the registry`)
  if (row.status !== 'approved_pending' && row.status !== 'candidate') {
    throw new ConflictError(`model ${row.model} is ${row.status}, not awaiting approval`)
  }
  const reason = deps.reason ?? `rejected by ${deps.actor}`
  await registry.setStatus(row.model, 'rejected', { reason })
  return { model: row.model, status: 'rejected', reason }
}

/**
 * `LOOP_DM_FT_MODEL` seeds the registry once: when it is set and no model is active, it is
 * registered and activated (after the probe). Never overrides a registry that already has an
 * active model, and never re-activates a model the registry has seen promoted before. A failed
 * probe is logged, not thrown: a gateway must still start (it answers with BASE_MODEL).
 */
export async function seedRegistry(deps: PromotionDeps): Promise<PromotionResult | null> {
  const seed = deps.config.models.seedFineTuned
  if (!seed) return null
  const registry = deps.registry ?? createRegistryRepository(deps.db)
  if (await registry.findActive()) return null
  const history = await registry.promotions(1000)
  if (history.some((p) => p.toModel === seed)) return null
  try {
    return await promoteModel({
      ...deps,
      // An app's start must not wait minutes: a seed model is expected to be callable already.
      probe: deps.probe ?? { deadlineMs: Math.min(10_000, deps.config.models.probeDeadlineMs) },
      registry,
      ref: seed,
      actor: 'seed',
      reason: 'LOOP_DM_FT_MODEL seed',
    })
  } catch (err) {
    deps.logger?.warn({ model: seed, err: (err as Error).message }, 'LOOP_DM_FT_MODEL seed skipped')
    return null
  }
}
