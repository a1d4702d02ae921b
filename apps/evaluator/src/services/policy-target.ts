import type { Pool } from '@loopdm/db/pool'
import { createExemplarPrompter, type ExemplarPrompter } from '@loopdm/models/exemplar-prompt'
import { type Policy, systemPromptOf } from '@loopdm/models/policy'
import { type RegistryRepository, rowToPolicy } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import type { AiClient, OpenAI } from '@loopdm/platform/openai'
import type { GoldItem } from './gold.js'

type Messages = OpenAI.Chat.ChatCompletionMessageParam[]

/**
 * What the evaluator asks when it scores a policy: the policy's serving model, with the prompt the
 * gateway would build for it — the system prompt, then (exemplar policies) the set's
 * demonstrations for the item's last customer message, then the item's turns. A plain model id
 * (the base model, a model not in the registry) is the policy `base`: the model alone.
 */
export interface PolicyTarget {
  /** The registry key (or model id) the evaluation reports under. */
  key: string
  servingModel: string
  policy: Policy | null
  messages(item: GoldItem): Promise<Messages>
}

export type PolicyTargets = ReturnType<typeof createPolicyTargets>

export function createPolicyTargets(deps: {
  db: Pool
  ai: Pick<AiClient, 'embed'>
  config: Pick<Config, 'learning' | 'models'>
  registry: RegistryRepository
  prompter?: ExemplarPrompter
}) {
  const ex = deps.config.learning.exemplars
  const prompter =
    deps.prompter ??
    createExemplarPrompter({
      db: deps.db,
      topK: ex.topK,
      minScore: ex.minScore,
      maxTokens: ex.maxTokens,
      efSearch: ex.efSearch,
    })

  return {
    async resolve(key: string): Promise<PolicyTarget> {
      const row = await deps.registry.findByIdOrModel(key)
      const policy = row ? rowToPolicy(row) : null
      const setId = policy?.learner === 'exemplars' ? policy.exemplarSetId : null
      // The policy's own system prompt when it has one, as the gateway serves it.
      const system = (): Messages => [
        { role: 'system', content: systemPromptOf(policy, deps.config.models.systemPrompt) },
      ]
      return {
        key,
        servingModel: policy?.servingModel ?? key,
        policy,
        async messages(item) {
          if (!setId) return [...system(), ...item.messages]
          const last = [...item.messages].reverse().find((m) => m.role === 'user')?.content ?? ''
          if (!last.trim()) return [...system(), ...item.messages]
          const [vector] = await deps.ai.embed([last], { purpose: 'evaluate' })
          const demos = vector ? await prompter.demonstrations({ setId, vector }) : null
          return [...system(), ...(demos?.messages ?? []), ...item.messages]
        },
      }
    },
  }
}
