import type { Pool } from '@loopdm/db/pool'
import type { CostLedger } from '@loopdm/models/cost-ledger'
import {
  createExemplarPrompter,
  type Demonstrations,
  type ExemplarPrompter,
  NO_DEMONSTRATIONS,
} from '@loopdm/models/exemplar-prompt'
import type { PolicyRef } from '@loopdm/models/policy'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import type { AiClient } from '@loopdm/platform/openai'
import { embeddingInput } from './memory.batcher.js'

/**
 * The exemplar side of the prompt: when the active policy is an exemplar policy, the live
 * message is embedded and the set's nearest demonstrations go into the prompt (next to memory,
 * with their own EXEMPLAR_MAX_TOKENS budget). A lookup that fails or takes longer than
 * `timeoutMs` answers without demonstrations — a DM is never lost to the learner.
 */
export interface ExemplarServiceOptions {
  db: Pool
  ai: Pick<AiClient, 'embed'>
  config: Pick<Config, 'learning'>
  logger: Logger
  /** Where the demonstrations' extra prompt tokens are recorded (operation `exemplars`). */
  ledger?: Pick<CostLedger, 'recordAttribution'>
  /** Give up on the lookup after this long; default 1500 ms. */
  timeoutMs?: number
  prompter?: ExemplarPrompter
  /**
   * The live message's vector as memory recall computes it (memory.port.ts `queryVector`): the
   * lookup then shares recall's one embedding call. Undefined, or resolving to undefined (memory
   * off): the service embeds the message itself.
   */
  queryVector?: (igUserId: string, text: string) => Promise<number[] | undefined>
}

export interface ExemplarService {
  forReply(a: {
    policy: PolicyRef | undefined
    /** The customer (only to share memory's query embedding of the same text). */
    igUserId?: string
    text: string
    hasImage: boolean
    mid?: string
  }): Promise<Demonstrations>
  /** Records what the demonstrations of a sent reply added to its prompt. */
  recordCost(a: { model: string; demonstrations: Demonstrations; mid?: string }): Promise<void>
}

export const noExemplars: ExemplarService = {
  async forReply() {
    return NO_DEMONSTRATIONS
  },
  async recordCost() {},
}

export function createExemplarService(opts: ExemplarServiceOptions): ExemplarService {
  const ex = opts.config.learning.exemplars
  const prompter =
    opts.prompter ??
    createExemplarPrompter({
      db: opts.db,
      topK: ex.topK,
      minScore: ex.minScore,
      maxTokens: ex.maxTokens,
      efSearch: ex.efSearch,
    })
  const timeoutMs = opts.timeoutMs ?? 1500
  /** Memory's (shared) vector when it has one, else an embedding call of our own. */
  async function vectorFor(igUserId: string | undefined, text: string): Promise<number[]> {
    const shared =
      igUserId !== undefined && opts.queryVector
        ? await opts.queryVector(igUserId, text).catch(() => undefined)
        : undefined
    if (shared) return shared
    const [vector] = await opts.ai.embed([embeddingInput(text)], {
      purpose: 'exemplars',
      maxRetries: 0,
      timeoutMs,
    })
    if (!vector) throw new Error('no embedding returned')
    return vector
  }
  return {
    async forReply(a) {
      const setId = a.policy?.learner === 'exemplars' ? a.policy.exemplarSetId : null
      if (!setId || a.hasImage || !a.text.trim()) return NO_DEMONSTRATIONS
      let timer: NodeJS.Timeout | undefined
      try {
        return await Promise.race([
          (async () => {
            const vector = await vectorFor(a.igUserId, a.text)
            return prompter.demonstrations({ setId, vector })
          })(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`exemplar lookup took over ${timeoutMs} ms`)),
              timeoutMs,
            )
          }),
        ])
      } catch (err) {
        opts.logger.warn(
          { mid: a.mid, set: setId, err: (err as Error).message },
          'exemplar lookup failed; answering without demonstrations',
        )
        return NO_DEMONSTRATIONS
      } finally {
        clearTimeout(timer)
      }
    },
    async recordCost(a) {
      if (a.demonstrations.tokens === 0 || !opts.ledger) return
      await opts.ledger
        .recordAttribution({
          operation: 'exemplars',
          model: a.model,
          promptTokens: a.demonstrations.tokens,
          purpose: 'reply',
          ref: a.mid,
        })
        .catch((err: Error) => opts.logger.warn({ err: err.message }, 'exemplar cost not recorded'))
    },
  }
}
