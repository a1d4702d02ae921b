import type { Pool } from '@loopdm/db/pool'
import type { ProbeOptions, PromotionResult } from '@loopdm/models/promotion'
import type { RegistryRepository } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import type { AiClient } from '@loopdm/platform/openai'
import type { Redis } from '@loopdm/redis/client'
import type { EvalRepository } from '../repositories/eval.repository.js'
import type { GoldSet } from './gold.js'
import type { GoldSource } from './gold-source.js'
import type { GateDecision, ModelSummary } from './scoring.js'

/** What an evaluation run needs and what it returns (shared by the service and its steps). */

export interface EvaluationDeps {
  db: Pool
  /** For auto-promotion (EVAL_AUTO_PROMOTE) only. */
  redis?: Redis
  ai: AiClient
  config: Config
  logger?: Logger | undefined
  registry?: RegistryRepository
  evals?: EvalRepository
  /** Default: by EVAL_GOLD_SOURCE, the deployment's gold_items or the file at EVAL_GOLD_PATH (gold-source.ts). */
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
  /** The printable summary table (with the gold set's source, size and hash). */
  table: string
  /** The gold set this run used (recorded in eval_runs: gold_source, gold_size, gold_sha256). */
  gold: { source: GoldSource; size: number; sha256: string }
  /** Why auto-promotion was held back (EVAL_MIN_GOLD), or null. */
  promotionBlocked: string | null
}
