import type { Pool } from '@loopdm/db/pool'
import type { CostLedger } from '@loopdm/models/cost-ledger'
import type { RegistryRepository } from '@loopdm/models/registry'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import type { OpenAI } from '@loopdm/platform/openai'
import type { Queue } from 'bullmq'
import type { FineTuneProvider } from '../providers/provider.js'
import type { FinetuneJobsRepository } from '../repositories/finetune-jobs.repository.js'

/** Everything the tune and poll processors need; main.ts, scripts and tests build it. */
export interface TunerDeps {
  config: Config
  logger: Logger
  /** The OpenAI SDK (`createOpenAISdk` / `createAiClient(...).sdk`): openai-local or OpenAI. */
  sdk: OpenAI
  /** Who trains (FT_PROVIDER): the state machine calls only this. */
  provider: FineTuneProvider
  /** The database (the exemplar learner's store and the registry's policy rows). */
  pool: Pool
  finetunes: FinetuneJobsRepository
  /** The shared cost ledger (`createCostLedger`): fine-tunes are recorded and settled there. */
  ledger: CostLedger
  registry: RegistryRepository
  /** Where poll jobs go (the `tune` queue). */
  tuneQueue: Queue
  /** Where a succeeded fine-tune's candidate is sent (the `evaluate` queue). */
  evaluateQueue: Queue
  /** Clock; default `() => new Date()`. */
  now?: () => Date
  /** For the budget webhook; default global fetch. */
  fetchImpl?: typeof fetch
}
