import { activeState, type PromotionResult, probeModel, promoteModel } from '@loopdm/models/promotion'
import type { RegistryRepository } from '@loopdm/models/registry'
import { ConflictError, PromotionConflictError } from '@loopdm/platform/errors'
import type { EvalItemRow, EvalRepository } from '../repositories/eval.repository.js'
import type { EvaluationDeps, EvaluationOutcome, EvaluationResult } from './evaluation-types.js'
import type { GoldItem } from './gold.js'
import { buildHoldout, readTrainingFile } from './holdout.js'
import { type Scored, type ScoringContext, scoreModel } from './model-scoring.js'
import { formatSummaryTable } from './report.js'
import { decide, type GateDecision, summarize } from './scoring.js'

/** The evaluation service's deps, resolved. */
export interface EvalContext extends ScoringContext {
  deps: EvaluationDeps
  registry: RegistryRepository
  evals: EvalRepository
}

export interface Contenders {
  candidate: string
  current: string
  base: string
  trainingFile: string | null
  /** The model the candidate policy calls (what the probe asks). */
  servingModel: string
  /** The active state the candidate was scored against: auto-promotion requires it unchanged. */
  beat: { model: string | null; version: number }
}

type Summaries = EvaluationResult['summaries']
type HoldoutSummaries = EvaluationResult['holdout']

/** The candidate (registered if new), the current model (the active one, else BASE_MODEL) and base. */
export async function resolveContenders(c: EvalContext, ref: string): Promise<Contenders> {
  let row = await c.registry.findByIdOrModel(ref)
  if (!row) {
    row = await c.registry.upsertModel({
      model: ref,
      kind: ref.startsWith('ft:') ? 'fine_tuned' : ref.startsWith('exemplars:') ? 'exemplars' : 'base',
      status: 'candidate',
      reason: 'registered for evaluation',
    })
  }
  const candidate = row.model
  const active = await c.registry.findActive()
  if (active?.model === candidate) throw new ConflictError(`model ${candidate} is already active`)
  return {
    candidate,
    current: active?.model ?? c.config.models.base,
    base: c.config.models.base,
    trainingFile: row.trainingFile,
    servingModel: row.servingModel ?? row.model,
    beat: activeState(active),
  }
}

/** Waits until the candidate policy's serving model answers (a fresh fine-tune may 404 for a while). */
export async function probeCandidate(c: EvalContext, candidate: string): Promise<void> {
  await probeModel(c.ai.sdk, candidate, {
    deadlineMs: c.config.models.probeDeadlineMs,
    ...c.deps.probe,
    logger: c.deps.logger,
  })
}

/** Holdout items: recent human answers, then recent exported examples, none in the candidate's training file. */
export async function loadHoldout(
  c: EvalContext,
  trainingFile: Contenders['trainingFile'],
  exportDir: string,
  gold: GoldItem[],
) {
  const size = c.config.eval.holdoutSize
  const trainingText = size > 0 ? await readTrainingFile(c.ai.sdk, trainingFile) : null
  const preferred = trainingText === null ? [] : await c.evals.recentHumanAnswers(size * 2)
  const goldTexts = gold.flatMap((g) => g.messages.filter((m) => m.role === 'user').map((m) => m.content))
  return buildHoldout({ exportDir, size, trainingText, preferred, goldTexts })
}

/** The prompt as the console shows it: the customer's turn(s), `shop:` lines for earlier answers. */
const promptText = (item: GoldItem) =>
  item.messages.length === 1
    ? (item.messages[0]?.content ?? '')
    : item.messages.map((m) => `${m.role === 'assistant' ? 'shop' : 'customer'}: ${m.content}`).join('\n')

/** Scores each distinct model once on every item and stores every reply under each of its roles. */
export async function scoreRoles(
  c: EvalContext,
  runId: number,
  m: Contenders,
  items: GoldItem[],
): Promise<Map<string, Scored[]>> {
  const roles: Array<[role: 'candidate' | 'current' | 'base', model: string]> = [
    ['candidate', m.candidate],
    ['current', m.current],
    ['base', m.base],
  ]
  const byModel = new Map<string, Scored[]>()
  for (const [, model] of roles) {
    if (!byModel.has(model)) byModel.set(model, await scoreModel(c, model, items))
  }
  const rows: EvalItemRow[] = []
  for (const [role, model] of roles) {
    for (const s of byModel.get(model) as Scored[]) {
      const { item, judgeError: _j, ...r } = s
      rows.push({ ...r, role, customerText: promptText(item), ideal: item.ideal })
    }
  }
  await c.evals.insertItems(runId, rows)
  return byModel
}

export const summaryOf = (model: string, rows: Scored[]) =>
  summarize(
    model,
    rows.map((r) => ({
      similarity: r.similarity ?? 0,
      factRecall: r.factRecall,
      lengthOk: r.lengthOk,
      piiOk: r.piiOk,
      judge: r.judgeScore,
      score: r.score,
      error: r.error,
      judgeError: r.judgeError,
    })),
  )

/** Per-role summaries on the gold set, and on the holdout when there is one. */
export function summarizeRoles(
  m: Contenders,
  byModel: Map<string, Scored[]>,
  hasHoldout: boolean,
): { summaries: Summaries; holdout: HoldoutSummaries } {
  const goldOf = (x: string) => (byModel.get(x) as Scored[]).filter((s) => s.source === 'gold')
  const holdOf = (x: string) => (byModel.get(x) as Scored[]).filter((s) => s.source === 'holdout')
  const summaries = {
    candidate: summaryOf(m.candidate, goldOf(m.candidate)),
    current: summaryOf(m.current, goldOf(m.current)),
    base: summaryOf(m.base, goldOf(m.base)),
  }
  const holdout = hasHoldout
    ? {
        candidate: summaryOf(m.candidate, holdOf(m.candidate)),
        current: summaryOf(m.current, holdOf(m.current)),
      }
    : null
  return { summaries, holdout }
}

/** Applies the gate's decision to the registry: rejected, approved pending review, or auto-promoted. */
export async function applyDecision(
  c: EvalContext,
  runId: number,
  m: Contenders,
  s: { summaries: Summaries; holdout: HoldoutSummaries; decision: GateDecision; goldSize: number },
): Promise<{ outcome: EvaluationOutcome; promotion: PromotionResult | null; blocked: string | null }> {
  const { summaries, decision } = s
  const metrics = {
    evalRunId: runId,
    score: summaries.candidate.mean,
    currentModel: m.current,
    currentScore: summaries.current.mean,
    baseScore: summaries.base.mean,
    delta: decision.delta,
    factRecall: summaries.candidate.factRecall,
    holdoutScore: s.holdout?.candidate.mean ?? null,
    gates: Object.fromEntries(decision.gates.map((g) => [g.gate, g.pass])),
  }
  if (!decision.approved) {
    await c.registry.setStatus(m.candidate, 'rejected', { reason: decision.reason, metrics })
    return { outcome: 'rejected', promotion: null, blocked: null }
  }
  const { minGold } = c.config.eval
  const blocked =
    c.config.eval.autoPromote && s.goldSize < minGold
      ? `auto-promotion blocked: the gold set has ${s.goldSize} items, fewer than EVAL_MIN_GOLD=${minGold}; approve it manually (console, POST /admin/candidates/:id/approve, npm run promote) or add gold items (npm run gold:add)`
      : null
  if (blocked) {
    await c.registry.setStatus(m.candidate, 'approved_pending', {
      reason: `awaiting manual review: ${decision.reason}; ${blocked}`,
      metrics: { ...metrics, promotionBlocked: blocked },
    })
    return { outcome: 'approved_pending', promotion: null, blocked }
  }
  if (c.config.eval.autoPromote && c.deps.redis) {
    await c.registry.setStatus(m.candidate, 'approved_pending', { reason: decision.reason, metrics })
    const promotion = await autoPromote(c, c.deps.redis, m, decision.reason, metrics)
    if (promotion) return { outcome: 'promoted', promotion, blocked: null }
    return { outcome: 'approved_pending', promotion: null, blocked: null }
  }
  await c.registry.setStatus(m.candidate, 'approved_pending', {
    reason: `awaiting manual review: ${decision.reason}`,
    metrics,
  })
  return { outcome: 'approved_pending', promotion: null, blocked: null }
}

/**
 * Promotes a candidate that passed the gate — only if the policy it beat is still the active one
 * (compare-and-swap). Otherwise it stays `approved_pending` for a person, saying why.
 */
async function autoPromote(
  c: EvalContext,
  redis: NonNullable<EvalContext['deps']['redis']>,
  m: Contenders,
  reason: string,
  metrics: Record<string, unknown>,
): Promise<PromotionResult | null> {
  try {
    return await promoteModel({
      db: c.deps.db,
      redis,
      sdk: c.ai.sdk,
      config: c.config,
      logger: c.deps.logger,
      registry: c.registry,
      probe: c.deps.probe,
      ref: m.candidate,
      actor: 'evaluator',
      reason: `auto-promoted: ${reason}`,
      metrics,
      expectedActive: m.beat,
    })
  } catch (err) {
    if (!(err instanceof PromotionConflictError)) throw err
    const why = `not auto-promoted: it beat ${m.beat.model ?? m.current}, but ${err.current.model ?? 'nothing'} is active now; awaiting manual review (${reason})`
    await c.registry.setStatus(m.candidate, 'approved_pending', { reason: why, metrics })
    c.deps.logger?.warn(
      { candidate: m.candidate, beat: m.beat, current: err.current },
      'auto-promotion skipped: the active policy changed',
    )
    return null
  }
}

/** Decides, marks the registry, and records the run's summary. */
export async function gateAndPersist(
  c: EvalContext,
  runId: number,
  m: Contenders,
  byModel: Map<string, Scored[]>,
  gold: EvaluationResult['gold'] & { hasHoldout: boolean },
): Promise<EvaluationResult> {
  const { summaries, holdout } = summarizeRoles(m, byModel, gold.hasHoldout)
  const decision = decide(summaries.candidate, summaries.current, c.config.eval.minImprovement)
  const { outcome, promotion, blocked } = await applyDecision(c, runId, m, {
    summaries,
    holdout,
    decision,
    goldSize: gold.size,
  })
  const table = formatSummaryTable({
    rows: [
      { role: 'current', summary: summaries.current },
      { role: 'base', summary: summaries.base },
      { role: 'candidate', summary: summaries.candidate },
    ],
    current: summaries.current,
    decision,
    outcome,
    holdout: holdout
      ? [
          { role: 'current', summary: holdout.current },
          { role: 'candidate', summary: holdout.candidate },
        ]
      : [],
  })
  await c.evals.finishRun(runId, {
    summary: { ...summaries, holdout, gates: decision.gates },
    decision: outcome,
    reason: blocked ? `${decision.reason}; ${blocked}` : decision.reason,
    promotionBlocked: blocked,
  })
  const { candidate, current, base } = m
  const goldLine = `gold set: ${gold.source}, ${gold.size} items, sha256 ${gold.sha256.slice(0, 12)}`
  const report = [goldLine, table, ...(blocked ? [blocked] : [])].join('\n')
  const { hasHoldout: _h, ...goldInfo } = gold
  return {
    ...{ runId, candidate, current, base, summaries, holdout, decision, outcome, promotion },
    table: report,
    gold: goldInfo,
    promotionBlocked: blocked,
  }
}
