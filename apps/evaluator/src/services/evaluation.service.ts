import { isAbsolute, resolve } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { type ProbeOptions, type PromotionResult, probeModel, promoteModel } from '@loopdm/models/promotion'
import { createRegistryRepository, type RegistryRepository } from '@loopdm/models/registry'
import { completionLimit } from '@loopdm/platform/capabilities'
import type { Config } from '@loopdm/platform/config'
import { ConflictError } from '@loopdm/platform/errors'
import type { Logger } from '@loopdm/platform/logger'
import type { AiClient } from '@loopdm/platform/openai'
import type { Redis } from '@loopdm/redis/client'
import {
  createEvalRepository,
  type EvalItemRow,
  type EvalRepository,
} from '../repositories/eval.repository.js'
import { type GoldItem, type GoldSet, loadGold } from './gold.js'
import { buildHoldout, readTrainingFile } from './holdout.js'
import { judgeReply } from './judge.js'
import { detectPII } from './pii.js'
import { createPolicyTargets } from './policy-target.js'
import { formatSummaryTable } from './report.js'
import {
  checkFacts,
  cosine,
  decide,
  type GateDecision,
  itemScore,
  MAX_REPLY_CHARS,
  type ModelSummary,
  summarize,
} from './scoring.js'

/** Where the repository root is: config paths (gold set, exports) are relative to it. */
const ROOT = resolve(import.meta.dirname, '../../../..')
const fromRoot = (p: string) => (isAbsolute(p) ? p : resolve(ROOT, p))

export interface EvaluationDeps {
  db: Pool
  /** For auto-promotion (EVAL_AUTO_PROMOTE) only. */
  redis?: Redis
  ai: AiClient
  config: Config
  logger?: Logger | undefined
  registry?: RegistryRepository
  evals?: EvalRepository
  /** Default: config.eval.goldPath. */
  gold?: GoldSet
  /** Probe for the candidate before scoring (a fresh fine-tune may 404 for a while). */
  probe?: ProbeOptions
  /** Parallel completions per model. Default 4. */
  concurrency?: number
}

export type EvaluationOutcome = 'approved_pending' | 'promoted' | 'rejected'

export interface EvaluationResult {
  runId: number
  candidate: string
  current: string
  base: string
  summaries: { candidate: ModelSummary; current: ModelSummary; base: ModelSummary }
  holdout: { candidate: ModelSummary; current: ModelSummary } | null
  decision: GateDecision
  outcome: EvaluationOutcome
  promotion: PromotionResult | null
  /** The printable summary table. */
  table: string
}

interface Scored extends EvalItemRow {
  item: GoldItem
  /** The judge call failed for this reply (EVAL_JUDGE_MODEL set): reported, never dropped. */
  judgeError: string | null
}

async function mapLimit<T, R>(xs: T[], limit: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(xs.length)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, xs.length) }, async () => {
      for (;;) {
        const i = next++
        if (i >= xs.length) return
        out[i] = await fn(xs[i] as T, i)
      }
    }),
  )
  return out
}

export function createEvaluationService(deps: EvaluationDeps) {
  const registry = deps.registry ?? createRegistryRepository(deps.db)
  const evals = deps.evals ?? createEvalRepository(deps.db)
  const { config, ai } = deps
  const concurrency = deps.concurrency ?? 4
  const idealCache = new Map<string, number[]>()
  const targets = createPolicyTargets({ db: deps.db, ai, config, registry })

  async function embedAll(texts: string[]): Promise<number[][]> {
    const out: number[][] = []
    for (let i = 0; i < texts.length; i += 64) {
      // The embeddings endpoint rejects empty strings; an empty reply gets a zero vector.
      const chunk = texts.slice(i, i + 64)
      const idx = chunk.map((t, j) => (t.trim() ? j : -1)).filter((j) => j >= 0)
      const vecs = idx.length
        ? await ai.embed(
            idx.map((j) => chunk[j] as string),
            { purpose: 'evaluate' },
          )
        : []
      const byIdx = new Map(idx.map((j, k) => [j, vecs[k] as number[]]))
      for (let j = 0; j < chunk.length; j++) out.push(byIdx.get(j) ?? [])
    }
    return out
  }

  async function idealVectors(items: GoldItem[]): Promise<number[][]> {
    const missing = items.filter((it) => !idealCache.has(it.ideal)).map((it) => it.ideal)
    const uniq = [...new Set(missing)]
    const vecs = await embedAll(uniq)
    for (const [i, t] of uniq.entries()) idealCache.set(t, vecs[i] as number[])
    return items.map((it) => idealCache.get(it.ideal) as number[])
  }

  /** Asks the policy `model` (a registry key or a model id) every item and scores each reply. */
  async function scoreModel(model: string, items: GoldItem[]): Promise<Scored[]> {
    const target = await targets.resolve(model)
    const replies = await mapLimit(items, concurrency, async (item) => {
      const t = performance.now()
      try {
        const res = await ai.chat(
          {
            model: target.servingModel,
            ...completionLimit(target.servingModel, 400, 0),
            messages: await target.messages(item),
          },
          { purpose: 'evaluate', timeoutMs: config.openai.timeoutMs, maxRetries: config.openai.maxRetries },
        )
        return {
          reply: res.choices[0]?.message?.content ?? '',
          latencyMs: performance.now() - t,
          error: null,
        }
      } catch (err) {
        return { reply: '', latencyMs: performance.now() - t, error: (err as Error).message.slice(0, 500) }
      }
    })
    const [ideals, vecs] = await Promise.all([idealVectors(items), embedAll(replies.map((r) => r.reply))])
    const judgeModel = config.eval.judgeModel
    return mapLimit(items, concurrency, async (item, i) => {
      const r = replies[i] as (typeof replies)[number]
      const v = vecs[i] as number[]
      const similarity = v.length ? cosine(v, ideals[i] as number[]) : 0
      const facts = checkFacts(r.reply, item.facts)
      const piiTypes = detectPII(r.reply)
      const lastUser = [...item.messages].reverse().find((m) => m.role === 'user')?.content ?? ''
      const judged =
        judgeModel && r.reply
          ? await judgeReply(ai, judgeModel, { prompt: lastUser, ideal: item.ideal, reply: r.reply })
          : null
      const judge = judged?.score ?? null
      const metrics = {
        similarity,
        factRecall: facts.recall,
        lengthOk: r.reply.length <= MAX_REPLY_CHARS,
        piiOk: piiTypes.length === 0,
        judge,
      }
      return {
        item,
        itemId: item.id,
        source: item.source ?? 'gold',
        category: item.category,
        role: '',
        model,
        reply: r.reply,
        similarity,
        factRecall: facts.recall,
        factsMissing: facts.missing,
        lengthOk: metrics.lengthOk,
        piiOk: metrics.piiOk,
        piiTypes,
        judgeScore: judge,
        score: r.error ? 0 : itemScore(metrics),
        latencyMs: Math.round(r.latencyMs),
        error: r.error,
        judgeError: judged?.error ?? null,
      }
    })
  }

  const summaryOf = (model: string, rows: Scored[]) =>
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

  return {
    scoreModel,

    /**
     * Scores candidate, current (the active model, else BASE_MODEL) and base on the same prompts,
     * stores every reply, applies the gate and records the outcome in the registry.
     */
    async evaluate(args: { candidate: string; trigger?: string }): Promise<EvaluationResult> {
      const gold = deps.gold ?? loadGold(fromRoot(config.eval.goldPath))
      let row = await registry.findByIdOrModel(args.candidate)
      if (!row) {
        row = await registry.upsertModel({
          model: args.candidate,
          kind: args.candidate.startsWith('ft:')
            ? 'fine_tuned'
            : args.candidate.startsWith('exemplars:')
              ? 'exemplars'
              : 'base',
          status: 'candidate',
          reason: 'registered for evaluation',
        })
      }
      const candidate = row.model
      const active = await registry.findActive()
      if (active?.model === candidate) throw new ConflictError(`model ${candidate} is already active`)
      const current = active?.model ?? config.models.base
      const base = config.models.base

      // A policy is probed where it is served (its serving model).
      await probeModel(ai.sdk, row.servingModel ?? candidate, {
        deadlineMs: config.models.probeDeadlineMs,
        ...deps.probe,
        logger: deps.logger,
      })

      const trainingText =
        config.eval.holdoutSize > 0 ? await readTrainingFile(ai.sdk, row.trainingFile) : null
      const holdout = buildHoldout({
        exportDir: fromRoot(config.export.dir),
        size: config.eval.holdoutSize,
        trainingText,
      })
      const items = [...gold.items, ...holdout]
      const runId = await evals.startRun({
        candidateModel: candidate,
        currentModel: current,
        baseModel: base,
        trigger: args.trigger ?? 'manual',
        goldPath: gold.path,
        goldSha256: gold.sha256,
        items: gold.items.length,
        holdoutItems: holdout.length,
      })
      deps.logger?.info(
        { runId, candidate, current, base, items: gold.items.length, holdout: holdout.length },
        'evaluation started',
      )
      try {
        const roles: Array<[role: 'candidate' | 'current' | 'base', model: string]> = [
          ['candidate', candidate],
          ['current', current],
          ['base', base],
        ]
        const byModel = new Map<string, Scored[]>()
        for (const [, model] of roles) {
          if (!byModel.has(model)) byModel.set(model, await scoreModel(model, items))
        }
        const rows: EvalItemRow[] = []
        for (const [role, model] of roles) {
          for (const s of byModel.get(model) as Scored[]) {
            const { item: _item, judgeError: _j, ...r } = s
            rows.push({ ...r, role })
          }
        }
        await evals.insertItems(runId, rows)

        const goldOf = (m: string) => (byModel.get(m) as Scored[]).filter((s) => s.source === 'gold')
        const holdOf = (m: string) => (byModel.get(m) as Scored[]).filter((s) => s.source === 'holdout')
        const summaries = {
          candidate: summaryOf(candidate, goldOf(candidate)),
          current: summaryOf(current, goldOf(current)),
          base: summaryOf(base, goldOf(base)),
        }
        const holdoutSummaries = holdout.length
          ? {
              candidate: summaryOf(candidate, holdOf(candidate)),
              current: summaryOf(current, holdOf(current)),
            }
          : null
        const decision = decide(summaries.candidate, summaries.current, config.eval.minImprovement)
        const metrics = {
          evalRunId: runId,
          score: summaries.candidate.mean,
          currentModel: current,
          currentScore: summaries.current.mean,
          baseScore: summaries.base.mean,
          delta: decision.delta,
          factRecall: summaries.candidate.factRecall,
          holdoutScore: holdoutSummaries?.candidate.mean ?? null,
          gates: Object.fromEntries(decision.gates.map((g) => [g.gate, g.pass])),
        }
        let outcome: EvaluationOutcome
        let promotion: PromotionResult | null = null
        if (!decision.approved) {
          outcome = 'rejected'
          await registry.setStatus(candidate, 'rejected', { reason: decision.reason, metrics })
        } else if (config.eval.autoPromote && deps.redis) {
          await registry.setStatus(candidate, 'approved_pending', { reason: decision.reason, metrics })
          promotion = await promoteModel({
            db: deps.db,
            redis: deps.redis,
            sdk: ai.sdk,
            config,
            logger: deps.logger,
            registry,
            probe: deps.probe,
            ref: candidate,
            actor: 'evaluator',
            reason: `auto-promoted: ${decision.reason}`,
            metrics,
          })
          outcome = 'promoted'
        } else {
          outcome = 'approved_pending'
          await registry.setStatus(candidate, 'approved_pending', {
            reason: `awaiting manual review: ${decision.reason}`,
            metrics,
          })
        }
        const table = formatSummaryTable({
          rows: [
            { role: 'current', summary: summaries.current },
            { role: 'base', summary: summaries.base },
            { role: 'candidate', summary: summaries.candidate },
          ],
          current: summaries.current,
          decision,
          outcome,
          holdout: holdoutSummaries
            ? [
                { role: 'current', summary: holdoutSummaries.current },
                { role: 'candidate', summary: holdoutSummaries.candidate },
              ]
            : [],
        })
        await evals.finishRun(runId, {
          summary: { ...summaries, holdout: holdoutSummaries, gates: decision.gates },
          decision: outcome,
          reason: decision.reason,
        })
        deps.logger?.info(
          {
            runId,
            candidate,
            outcome,
            score: summaries.candidate.mean,
            currentScore: summaries.current.mean,
            delta: decision.delta,
          },
          'evaluation finished',
        )
        return {
          runId,
          candidate,
          current,
          base,
          summaries,
          holdout: holdoutSummaries,
          decision,
          outcome,
          promotion,
          table,
        }
      } catch (err) {
        await evals.failRun(runId, (err as Error).message).catch(() => {})
        throw err
      }
    },
  }
}

export type EvaluationService = ReturnType<typeof createEvaluationService>
