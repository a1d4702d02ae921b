import type { Config } from '@loopdm/shared/config'
import type { Logger } from '@loopdm/shared/logger'
import type { OpenAI } from '@loopdm/shared/openai'
import type { RegistryRepository } from '@loopdm/shared/registry'
import type { Queue } from 'bullmq'
import type { FinetuneJobsRepository } from '../repositories/finetune-jobs.repository.js'
import type { TunerLedgerRepository } from '../repositories/ledger.repository.js'

/** Everything the tune and poll processors need; main.ts, scripts and tests build it. */
export interface TunerDeps {
  config: Config
  logger: Logger
  /** The OpenAI SDK (`createOpenAISdk` / `createAiClient(...).sdk`): openai-local or OpenAI. */
  sdk: OpenAI
  finetunes: FinetuneJobsRepository
  ledger: TunerLedgerRepository
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
