import { createHash } from 'node:crypto'
import type { Pool } from '@loopdm/db/pool'
import { createExemplarRepository, type ExemplarSetRow } from '@loopdm/models/exemplar-sets'
import { exemplarPolicyKey, type Policy } from '@loopdm/models/policy'
import { registerCandidatePolicy } from '@loopdm/models/registry'
import { countChatTokens } from '@loopdm/platform/tokens'
import type OpenAI from 'openai'

export interface ExemplarPair {
  prompt: string
  answer: string
  /** Pseudonymous user key (pseudonymousUserKey(igUserId)); default none. */
  userKey?: string | null
}

/**
 * Builds an exemplar set from `pairs` through the real store (embeddings from the provider,
 * one transaction) and registers its candidate policy — what the exemplar learner does from an
 * export file, for suites that need a policy without running an export first.
 */
export async function buildExemplarPolicy(opts: {
  db: Pool
  sdk: OpenAI
  pairs: ExemplarPair[]
  servingModel: string
  embeddingModel?: string
}): Promise<{ policy: Policy; set: ExemplarSetRow }> {
  const embeddingModel = opts.embeddingModel ?? 'text-embedding-3-small'
  const res = await opts.sdk.embeddings.create({
    model: embeddingModel,
    input: opts.pairs.map((p) => p.prompt),
  })
  const vectors = [...res.data].sort((a, b) => a.index - b.index).map((d) => d.embedding as number[])
  const contentHash = createHash('sha256')
    .update(`${embeddingModel}\n${JSON.stringify(opts.pairs)}`)
    .digest('hex')
  const { set } = await createExemplarRepository(opts.db).build({
    contentHash,
    embeddingModel,
    sourceFiles: [],
    items: opts.pairs.map((p, i) => ({
      userKey: p.userKey ?? null,
      prompt: p.prompt,
      answer: p.answer,
      tokens:
        countChatTokens([
          { role: 'user', content: p.prompt },
          { role: 'assistant', content: p.answer },
        ]) - 3,
      embedding: vectors[i] as number[],
    })),
  })
  const policy = await registerCandidatePolicy(opts.db, {
    learner: 'exemplars',
    key: exemplarPolicyKey(contentHash),
    servingModel: opts.servingModel,
    exemplarSetId: set.id,
    trainedOn: { datasetHash: contentHash, files: [] },
    reason: 'test exemplar set',
  })
  return { policy, set }
}
