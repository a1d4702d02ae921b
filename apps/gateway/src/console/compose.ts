import { createCanaryRepository } from '@loopdm/models/canary-runs'
import { createExclusionRepository, type GoldRepository } from '@loopdm/models/gold-items'
import { createPriceTable } from '@loopdm/models/prices'
import { approveCandidate, rejectCandidate, rollbackModel } from '@loopdm/models/promotion'
import { promotionLog } from '@loopdm/models/promotion-log'
import { NotFoundError } from '@loopdm/platform/errors'
import type { AppDeps } from '../routes/route-deps.js'
import { createConsoleRepository } from './console.repository.js'
import { createRedisLoginLimiter } from './login-limit.js'
import type { ConsoleCanary, ConsoleGold, ConsoleOptions } from './options.js'
import { createRedisSessionStore } from './session.js'

/**
 * The console's options from the gateway's app deps: the same promotion path as the admin API
 * (probe → registry transaction → publish), the same GDPR erase service as
 * `DELETE /admin/users/:igUserId`, the same takeover service as `/admin/users/:igUserId/pause`,
 * Redis sessions and login counters shared by every gateway, the same gold repository as
 * `/admin/gold`, exclusions into `curation_exclusions`; `extra` plugs in test doubles.
 */
export function consoleOptionsFrom(deps: AppDeps, extra: Partial<ConsoleOptions> = {}): ConsoleOptions {
  // The same promotion deps and GDPR service the admin routes receive (one SDK client per process).
  const promotionDeps = () => deps.promotion
  const { gdpr } = deps
  return {
    adminToken: deps.config.gateway.adminToken,
    sessions: createRedisSessionStore({ redis: deps.redis, prefix: deps.config.redis.prefix }),
    registry: deps.registry,
    holder: deps.holder,
    promotion: {
      approve: (ref, by) => approveCandidate({ ...promotionDeps(), ref, ...by }),
      reject: (ref, by) => rejectCandidate({ db: deps.pool, registry: deps.registry, ref, ...by }),
      rollback: (by) => rollbackModel({ ...promotionDeps(), ...by }),
    },
    costs: deps.costs,
    consoleRepo: createConsoleRepository(deps.pool),
    budgetUsdMonthly: deps.config.finetune.budgetUsdMonthly,
    promptUsd: (model, promptTokens) =>
      createPriceTable(deps.config.openai.prices).costUsd({ model, promptTokens, completionTokens: 0 }),
    baseModel: deps.config.models.base,
    pseudonymSecret: deps.config.privacy.pseudonymSecret,
    fallbacks: async () => (await deps.metrics.fallbacks.get()).values.reduce((a, v) => a + v.value, 0),
    erase: (args) => gdpr.eraseUser(args),
    // Human takeover and staff replies: the same service as /admin/users/:igUserId/pause|resume|reply.
    takeover: {
      pause: (igUserId) => deps.takeover.pause(igUserId),
      resume: (igUserId) => deps.takeover.resume(igUserId),
      status: (igUserId) => deps.takeover.status(igUserId),
    },
    reply: ({ igUserId, text, actor }) =>
      deps.takeover.replyAsHuman({ igUserId, igAccountId: 'me', text, actor }),
    gold: consoleGold(deps.gold),
    exclude: ({ igUserId, messageId, actor }) =>
      createExclusionRepository(deps.pool).exclude({ messageId, igUserId, createdBy: actor }),
    loginLimiter: createRedisLoginLimiter({
      redis: deps.redis,
      prefix: deps.config.redis.prefix,
      ...deps.config.gateway.consoleLogin,
    }),
    canary: async () => {
      const run = await createCanaryRepository(deps.pool).live()
      if (!run) return null
      const { id, candidateModel: model, percent, status, startedAt } = run
      return { id, model, percent, status, startedAt, decision: run.decision as ConsoleCanary['decision'] }
    },
    promotionLog: (limit) => promotionLog(deps.pool, { limit }),
    ...extra,
  }
}

/** The thread's "Mark as gold" sits on an answer: the gold item is the customer turn it answered. */
function consoleGold(gold: GoldRepository): ConsoleGold {
  return {
    async mark({ igUserId, messageId, ideal, actor }) {
      const q = await gold.customerTurnBefore(messageId)
      if (!q || q.igUserId !== igUserId)
        throw new NotFoundError(`message ${messageId}: no customer turn before it in this conversation`)
      return gold.add({ fromMessageId: q.id, idealAnswer: ideal, createdBy: actor })
    },
    list: () => gold.list(),
    add: ({ customerText, idealAnswer, requiredFacts, actor }) =>
      gold.add({ customerText, idealAnswer, requiredFacts, createdBy: actor }),
    remove: (id) => gold.remove(id),
  }
}
