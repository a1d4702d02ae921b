import { isAbsolute, resolve } from 'node:path'
import { createRegistryRepository } from '@loopdm/models/registry'
import { createEvalRepository } from '../repositories/eval.repository.js'
import {
  type EvalContext,
  gateAndPersist,
  loadHoldout,
  probeCandidate,
  resolveContenders,
  scoreRoles,
} from './evaluation-steps.js'
import type { EvaluationDeps, EvaluationResult } from './evaluation-types.js'
import type { GoldItem } from './gold.js'
import { resolveGoldSet } from './gold-source.js'
import { scoreModel } from './model-scoring.js'
import { createPolicyTargets } from './policy-target.js'

/** Where the repository root is: config paths (gold set, exports) are relative to it. */
const ROOT = resolve(import.meta.dirname, '../../../..')
const fromRoot = (p: string) => (isAbsolute(p) ? p : resolve(ROOT, p))

export type { EvaluationDeps, EvaluationOutcome, EvaluationResult } from './evaluation-types.js'

/**
 * Scores candidate, current and base on the gold set (plus holdout items), gates the candidate and
 * records the outcome. Steps live in evaluation-steps.ts and model-scoring.ts.
 */
export function createEvaluationService(deps: EvaluationDeps) {
  const c: EvalContext = {
    deps,
    registry: deps.registry ?? createRegistryRepository(deps.db),
    evals: deps.evals ?? createEvalRepository(deps.db),
    config: deps.config,
    ai: deps.ai,
    concurrency: deps.concurrency ?? 4,
    idealCache: new Map<string, number[]>(),
    targets: createPolicyTargets({
      db: deps.db,
      ai: deps.ai,
      config: deps.config,
      registry: deps.registry ?? createRegistryRepository(deps.db),
    }),
  }

  return {
    /** Asks `model` every item and scores each reply. */
    scoreModel: (model: string, items: GoldItem[]) => scoreModel(c, model, items),

    /**
     * Scores candidate, current (the active model, else BASE_MODEL) and base on the same prompts,
     * stores every reply, applies the gate and records the outcome in the registry.
     */
    async evaluate(args: { candidate: string; trigger?: string }): Promise<EvaluationResult> {
      const { config } = c
      const gold = deps.gold
        ? { ...deps.gold, source: 'file' as const }
        : await resolveGoldSet({ db: deps.db, config, goldPath: fromRoot(config.eval.goldPath) })
      const m = await resolveContenders(c, args.candidate)
      await probeCandidate(c, m.servingModel)
      const holdout = await loadHoldout(c, m.trainingFile, fromRoot(config.export.dir), gold.items)
      const items = [...gold.items, ...holdout]
      const runId = await c.evals.startRun({
        candidateModel: m.candidate,
        currentModel: m.current,
        baseModel: m.base,
        trigger: args.trigger ?? 'manual',
        goldPath: gold.path,
        goldSha256: gold.sha256,
        goldSource: gold.source,
        items: gold.items.length,
        holdoutItems: holdout.length,
      })
      const { candidate, current, base } = m
      deps.logger?.info(
        {
          runId,
          candidate,
          current,
          base,
          gold: gold.source,
          items: gold.items.length,
          holdout: holdout.length,
        },
        'evaluation started',
      )
      try {
        const byModel = await scoreRoles(c, runId, m, items)
        const result = await gateAndPersist(c, runId, m, byModel, {
          source: gold.source,
          size: gold.items.length,
          sha256: gold.sha256,
          hasHoldout: holdout.length > 0,
        })
        deps.logger?.info(
          {
            runId,
            candidate,
            outcome: result.outcome,
            score: result.summaries.candidate.mean,
            currentScore: result.summaries.current.mean,
            delta: result.decision.delta,
          },
          'evaluation finished',
        )
        return result
      } catch (err) {
        await c.evals.failRun(runId, (err as Error).message).catch(() => {})
        throw err
      }
    },
  }
}

export type EvaluationService = ReturnType<typeof createEvaluationService>
