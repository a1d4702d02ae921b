import type { PromotionResult } from '@loopdm/models/promotion'
import type { PromotionLogEntry } from '@loopdm/models/promotion-log'
import type { RegistryRepository } from '@loopdm/models/registry'
import type { ActiveModelHolder } from '../services/active-model.js'
import type { ConsoleRepository } from './console.repository.js'
import type { GoldReader } from './gold-reader.js'
import type { SessionStore } from './session.js'

/** Who did it, and why: every console action passes these to the service it calls. */
export interface ConsoleActor {
  actor: string
  reason?: string | undefined
}

/** The promotion path `POST /admin/candidates/:id/approve|reject` and `/admin/models/rollback` use. */
export interface ConsolePromotion {
  /** Probes the candidate, then promotes it (throws ModelNotCallableError when the probe is refused). */
  approve(ref: string, by: ConsoleActor): Promise<PromotionResult>
  reject(ref: string, by: ConsoleActor): Promise<{ model: string; reason: string }>
  rollback(by: ConsoleActor): Promise<PromotionResult>
}

/** Human takeover of one customer's conversation (issue 13). */
export interface ConsoleTakeover {
  pause(igUserId: string, by: ConsoleActor): Promise<unknown>
  resume(igUserId: string, by: ConsoleActor): Promise<unknown>
  status(igUserId: string): Promise<{ paused: boolean; until?: Date | string | null }>
}

/** One gold item as the Data page lists it. */
export interface ConsoleGoldItem {
  id: number
  messageId: number | null
  customerText: string
  idealAnswer: string
  requiredFacts: string[]
  createdBy: string
  createdAt: Date
}

/** The deployment's gold set (the same repository as `/admin/gold` and `npm run gold:*`). */
export interface ConsoleGold {
  /** Marks the exchange an assistant turn `messageId` answered (in `igUserId`'s thread) as gold. */
  mark(args: { igUserId: string; messageId: number; ideal: string; actor: string }): Promise<unknown>
  list(): Promise<ConsoleGoldItem[]>
  add(args: {
    customerText: string
    idealAnswer: string
    requiredFacts: string[]
    actor: string
  }): Promise<unknown>
  remove(id: number): Promise<unknown>
}

/** Failed console logins per client address (see login-limit.ts). */
export interface LoginLimiter {
  /** Seconds to wait when this address has used up its attempts, else 0. */
  blockedFor(ip: string): Promise<number>
  /** Counts one failed attempt. */
  fail(ip: string): Promise<void>
  /** A successful login clears the address's count. */
  reset(ip: string): Promise<void>
}

/** The overview's canary card: the run and the numbers of its last check. */
export interface ConsoleCanary {
  id: number
  model: string
  percent: number
  status: string
  startedAt: Date
  /** The last check's decision (canary-decision.ts), null before the first check. */
  decision: {
    decision?: string
    reason?: string
    arms?: Record<'control' | 'canary', { replies: number; badRate: number }>
  } | null
}

/**
 * Options of the console plugin (mounted at /console). Features whose function is absent render
 * disabled with a note saying when they become available.
 */
export interface ConsoleOptions {
  /** ADMIN_TOKEN; when unset every login is refused. */
  adminToken: string | undefined
  sessions: SessionStore
  registry: Pick<
    RegistryRepository,
    'findActive' | 'findPrevious' | 'list' | 'listByStatus' | 'findByIdOrModel' | 'promotions'
  >
  /** This gateway's view of the active model (compared with the registry: drift). */
  holder: Pick<ActiveModelHolder, 'current'>
  promotion: ConsolePromotion
  costs: { summary(range: { since: Date; until: Date }): Promise<{ totalUsd: number }> }
  consoleRepo: ConsoleRepository
  /** FT_BUDGET_USD_MONTHLY. */
  budgetUsdMonthly?: number | undefined
  /** USD of `promptTokens` prompt tokens of `model` (the price table): prices the demonstrations' attribution rows. */
  promptUsd?: (model: string, promptTokens: number) => number
  /** BASE_MODEL: what answers when nothing is active, and the last rollback target. */
  baseModel: string
  /** PSEUDONYM_SECRET: the pseudonymous keys shown and searched. */
  pseudonymSecret?: string | undefined
  /** Model fallbacks counted by this process since it started. */
  fallbacks?: () => Promise<number>
  /** Reads a gold file's prompts and ideal answers; default reads `eval_runs.gold_path` from disk. */
  goldReader?: GoldReader
  /** GDPR erase (the service behind `DELETE /admin/users/:igUserId`). */
  erase?: (args: {
    igUserId: string
    actor: string
  }) => Promise<{ empty: boolean; counts: Record<string, number> | object }>
  takeover?: ConsoleTakeover
  /** A staff reply sent as a human turn through the Send API (starts a takeover). */
  reply?: (args: { igUserId: string; text: string; actor: string }) => Promise<unknown>
  /** Gold set of the deployment (issue 16): an exchange marked as gold, the Data page's list/add/remove. */
  gold?: ConsoleGold
  /** Curation (issue 16): keeps an exchange out of training data. */
  exclude?: (args: { igUserId: string; messageId: number; actor: string }) => Promise<unknown>
  /** Login rate limit per client address; absent = unlimited (tests of other features). */
  loginLimiter?: LoginLimiter
  /** The live canary as of its last check (issue 19), or null when none runs. */
  canary?: () => Promise<ConsoleCanary | null>
  /** The promotion log with canary events (promotion-log.ts); absent = promotions only. */
  promotionLog?: (limit: number) => Promise<PromotionLogEntry[]>
  /** Name written to audit rows and promotion logs; default `console`. */
  actor?: string
}
