import type { Config } from '@loopdm/shared/config'
import type { CostLedger } from '@loopdm/shared/cost-ledger'
import type { Logger } from '@loopdm/shared/logger'
import type { OpenAI } from '@loopdm/shared/openai'
import type { RegistryRepository } from '@loopdm/shared/registry'
import type { Queue } from 'bullmq'
import type { FinetuneJobsRepository } from '../repositories/finetune-jobs.repository.js'

/** Everything the tune and poll processors need; main.ts, scripts and tests build it. */
export interface TunerDeps {
  config: Config
  logger: Logger
  /** The OpenAI SDK (`createOpenAISdk` / `createAiClient(...).sdk`): openai-local or OpenAI. */
  sdk: OpenAI
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
