import { resolve } from 'node:path'
import { createExemplarRepository, type ExemplarSetRow } from '@loopdm/models/exemplar-sets'
import { exemplarPolicyKey, type Policy } from '@loopdm/models/policy'
import { registerCandidatePolicy } from '@loopdm/models/registry'
import { TrainingDataRefusedError } from '@loopdm/platform/errors'
import {
  EVALUATE_JOB,
  EVALUATE_JOB_OPTIONS,
  evaluateJobId,
  TunePayloadSchema,
} from '@loopdm/queues/contracts'
import { pickTrainingData } from '@loopdm/training-data/training-file'
import type { TunerDeps } from '../jobs/deps.js'
import { readExemplarSource } from '../services/exemplar-source.js'
import { goldPromptFilter } from '../services/gold-holdout.js'
import type { Learner } from './learner.js'

export interface ExemplarTuneResult {
  learner: 'exemplars'
  /** `built`: a new set and candidate; `existing`: identical data already has a set; `dry-run`. */
  outcome: 'built' | 'existing' | 'dry-run'
  file: string
  examples: number
  tokens: number
  skipped: number
  /** Demonstrations left out because their customer turn is a gold item. */
  heldOutGold: number
  contentHash: string
  set: ExemplarSetRow | null
  policy: Policy | null
}

/** Embedding requests carry at most this many inputs (OpenAI allows 2048). */
const EMBED_BATCH = 256

/**
 * `LEARNING_BACKEND=exemplars` (default): in-context learning. The whole curated export (the
 * master file, or `file`) becomes a new exemplar set — each example's customer turn(s) and the
 * shop's answer, embedded and stored in pgvector in one transaction — registered as a candidate
 * policy (`exemplars:<hash12>`, serving BASE_MODEL) and sent to `evaluate`. Identical data has the
 * same content hash: a re-run finds its set and builds (and embeds, and pays for) nothing.
 */
export const exemplarsLearner: Learner = {
  name: 'exemplars',
  async tune(input, deps: TunerDeps): Promise<ExemplarTuneResult> {
    const payload = TunePayloadSchema.parse(input ?? {})
    const { config, logger } = deps
    // A set is a complete snapshot, never an increment: the master file unless a file is named.
    const picked = await pickTrainingData({
      config: { ...config, finetune: { ...config.finetune, trainingData: 'master' } },
      file: payload.file,
    })
    const file = resolve(picked.path)
    const embeddingModel = config.openai.embeddingModel
    // Gold items are held out: their customer turns never become demonstrations.
    const src = readExemplarSource(file, embeddingModel, await goldPromptFilter(deps.pool))
    const tokens = src.items.reduce((n, x) => n + x.tokens, 0)
    const base = {
      learner: 'exemplars' as const,
      file,
      examples: src.items.length,
      tokens,
      skipped: src.skipped,
      heldOutGold: src.heldOut,
    }
    const repo = createExemplarRepository(deps.pool)
    logger.info(
      {
        file,
        examples: src.items.length,
        skipped: src.skipped,
        heldOutGold: src.heldOut,
        tokens,
        contentHash: src.contentHash,
        dryRun: payload.dryRun,
      },
      'exemplar data report',
    )
    if (src.items.length < config.finetune.minExamples && !payload.dryRun)
      throw new TrainingDataRefusedError(
        `${src.items.length} usable examples in ${file}, fewer than FT_MIN_EXAMPLES=${config.finetune.minExamples}`,
      )
    const existing = await repo.findByHash(src.contentHash)
    if (payload.dryRun)
      return { ...base, outcome: 'dry-run', contentHash: src.contentHash, set: existing, policy: null }
    let set = existing
    let created = false
    if (!set) {
      const embeddings = await embedAll(
        deps,
        src.items.map((x) => x.prompt),
        embeddingModel,
      )
      const built = await repo.build({
        contentHash: src.contentHash,
        embeddingModel,
        sourceFiles: [file],
        items: src.items.map((x, i) => ({ ...x, embedding: embeddings[i] as number[] })),
      })
      set = built.set
      created = built.created
    }
    const policy = await registerCandidatePolicy(deps.pool, {
      learner: 'exemplars',
      key: exemplarPolicyKey(src.contentHash),
      servingModel: config.models.base,
      endpoint: null,
      exemplarSetId: set.id,
      systemPrompt: config.models.systemPrompt,
      trainedOn: { datasetHash: src.contentHash, files: [file] },
      baseModel: config.models.base,
      trainingFile: file,
      reason: `exemplar set ${set.id}: ${set.examples} examples (${src.contentHash.slice(0, 12)})`,
    })
    await deps.evaluateQueue.add(
      EVALUATE_JOB.evaluate,
      { trigger: 'tune', candidate: policy.model },
      { ...EVALUATE_JOB_OPTIONS, jobId: evaluateJobId(policy.model) },
    )
    logger.info(
      { set: set.id, policy: policy.id, key: policy.model, examples: set.examples, created },
      created
        ? 'exemplar set built; candidate policy registered, evaluate enqueued'
        : 'exemplar set already built for this data',
    )
    return { ...base, outcome: created ? 'built' : 'existing', contentHash: src.contentHash, set, policy }
  },
}

async function embedAll(deps: TunerDeps, texts: string[], model: string): Promise<number[][]> {
  const out: number[][] = []
  for (let i = 0; i < texts.length; i += EMBED_BATCH) {
    const batch = texts.slice(i, i + EMBED_BATCH)
    const r = await deps.sdk.embeddings.create({ model, input: batch })
    const sorted = [...r.data].sort((a, b) => a.index - b.index)
    for (const d of sorted) out.push(d.embedding as number[])
    await deps.ledger.record({
      operation: 'embeddings',
      model,
      promptTokens: r.usage?.prompt_tokens ?? 0,
      completionTokens: 0,
      purpose: 'exemplars',
    })
  }
  return out
}
