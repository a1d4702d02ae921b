import { z } from 'zod'
import {
  bool,
  bytes,
  cron,
  num,
  oneOf,
  optionalNum,
  optionalString,
  parseBytes,
  prices,
  timezone,
  trustProxy,
  url,
} from './config-fields.js'
import { PrivacyEnvFields } from './config-privacy.js'

/** Every environment variable, validated with its documented default (config.ts builds the nested Config). */
export const DEFAULT_SYSTEM_PROMPT =
  'You are the friendly Instagram DM assistant of a small shop. Answer briefly and helpfully in the customer’s language.'

/** pino's levels, as LOG_LEVEL takes them. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export const EnvSchema = z.object({
  NODE_ENV: oneOf(['development', 'production', 'test'] as const, 'development'),
  DATABASE_URL: url(['postgres', 'postgresql']),
  PGLITE_DATA_DIR: z.string().optional().default('.data/pg'),
  EMBEDDED_DB_PORT: num(5433, { int: true, min: 0, max: 65535 }),
  /** PGlite's shared_buffers (its WASM memory holds them: RSS grows by about this much at start). */
  EMBEDDED_DB_SHARED_BUFFERS: bytes('128MB').refine((n) => n >= 16 * 1024 ** 2 && n <= 1024 ** 3, {
    message: 'expected a size from 16MB to 1GB (PGlite cannot start with more)',
  }),
  REDIS_URL: url(['redis', 'rediss'], 'redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z.string().optional().default('loopdm'),
  MODEL_CHANNEL: z.string().optional().default('loopdm:model:active'),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: url(['http', 'https']),
  OPENAI_TIMEOUT_MS: num(60_000, { int: true, min: 100 }),
  OPENAI_MAX_RETRIES: num(3, { int: true, min: 0, max: 20 }),
  OPENAI_PRICES: prices,
  OPENAI_LOCAL_PORT: num(8787, { int: true, min: 0, max: 65535 }),
  OPENAI_LOCAL_DATA_DIR: z.string().optional().default('.data/openai-local'),
  OPENAI_LOCAL_HOST: z.string().optional().default('127.0.0.1'),
  OPENAI_LOCAL_RETIRED_MODELS: bool(true),
  OPENAI_LOCAL_FT_STEP_MS: num(1000, { int: true, min: 1 }),
  LOOP_DM_FT_MODEL: optionalString,
  BASE_MODEL: z.string().optional().default('gpt-4.1-mini'),
  VISION_MODEL: z.string().optional().default('gpt-4.1-mini'),
  /** Unset → the provider's default base (DEFAULT_FT_BASE_MODELS). */
  FT_BASE_MODEL: optionalString,
  FT_PROVIDER: oneOf(['openai', 'together', 'vllm'] as const, 'openai'),
  TOGETHER_API_KEY: optionalString,
  TOGETHER_BASE_URL: url(['http', 'https']),
  /** LoRA (default) or full fine-tuning at Together. */
  TOGETHER_TRAINING_TYPE: oneOf(['lora', 'full'] as const, 'lora'),
  VLLM_BASE_URL: url(['http', 'https']),
  VLLM_API_KEY: optionalString,
  VLLM_ADAPTER_DIR: z.string().optional().default('.data/adapters'),
  TRAINER_COMMAND: optionalString,
  EMBEDDING_MODEL: z.string().optional().default('text-embedding-3-small'),
  SYSTEM_PROMPT: z.string().optional().default(DEFAULT_SYSTEM_PROMPT),
  MODEL_RECONCILE_INTERVAL_MS: num(60_000, { int: true, min: 100 }),
  PROMOTE_PROBE_DEADLINE_MS: num(120_000, { int: true, min: 0 }),
  CANARY_CHECK_INTERVAL_MS: num(300_000, { int: true, min: 10 }),
  CANARY_AUTO_PROMOTE: bool(false),
  CANARY_MARGIN: num(0.02, { min: 0, max: 0.5 }),
  CANARY_ALPHA: num(0.05, { min: 0.0001, max: 0.5 }),
  CANARY_PROMOTE_WHEN: oneOf(['nonInferior', 'superior'] as const, 'nonInferior'),
  CANARY_MAX_SEND_FAILURE_RATE: num(0.05, { min: 0, max: 1 }),
  CANARY_MAX_FALLBACK_RATE: num(0.2, { min: 0, max: 1 }),
  CANARY_MAX_P99_LATENCY_MS: num(15_000, { int: true, min: 1 }),
  CANARY_GUARD_MIN_REPLIES: num(20, { int: true, min: 1 }),
  CANARY_UNANSWERED_QUIET_MS: num(3_600_000, { int: true, min: 0 }),
  SHADOW_MAX_USD: num(5, { min: 0 }),
  SHADOW_CONCURRENCY: num(2, { int: true, min: 1, max: 32 }),
  MEMORY_ENABLED: bool(true),
  MEMORY_MAX_TOKENS: num(800, { int: true, min: 0 }),
  MEMORY_MIN_SCORE: num(0.82, { min: -1, max: 1 }),
  MEMORY_TOP_K: num(8, { int: true, min: 1, max: 100 }),
  MEMORY_RECENT_TURNS: num(4, { int: true, min: 0, max: 50 }),
  MEMORY_EXACT_SCAN_MAX_TURNS: num(200, { int: true, min: 0 }),
  MEMORY_QUANTIZED_MAX_TURNS: num(20_000, { int: true, min: 0 }),
  MEMORY_EF_SEARCH: num(400, { int: true, min: 1, max: 1000 }),
  MEMORY_CODE_CACHE_MB: num(64, { min: 0 }),
  LEARNING_BACKEND: oneOf(['exemplars', 'fine-tune'] as const, 'exemplars'),
  EXEMPLAR_TOP_K: num(4, { int: true, min: 1, max: 50 }),
  EXEMPLAR_MIN_SCORE: num(0.5, { min: -1, max: 1 }),
  EXEMPLAR_MAX_TOKENS: num(600, { int: true, min: 0 }),
  EXEMPLAR_EF_SEARCH: num(32, { int: true, min: 1, max: 1000 }),
  IG_APP_SECRET: optionalString,
  IG_VERIFY_TOKEN: optionalString,
  IG_ACCESS_TOKEN: optionalString,
  IG_GRAPH_BASE_URL: url(['http', 'https']),
  /** Send API path under IG_GRAPH_BASE_URL; `{igAccountId}` is replaced by our account id. */
  IG_SEND_PATH: z
    .string()
    .regex(/^\/[A-Za-z0-9_{}./-]*messages$/, 'expected a path like /me/messages or /{igAccountId}/messages')
    .default('/me/messages'),
  /** How long the bot stays silent for a customer after a human reply (minutes). */
  HUMAN_TAKEOVER_MINUTES: num(60, { int: true, min: 1, max: 7 * 24 * 60 }),
  ADMIN_TOKEN: optionalString,
  /** Failed console logins per client address per window before 429 (0 = no limit). */
  CONSOLE_LOGIN_MAX_ATTEMPTS: num(10, { int: true, min: 0 }),
  CONSOLE_LOGIN_WINDOW_S: num(900, { int: true, min: 1 }),
  PORT: num(3000, { int: true, min: 0, max: 65535 }),
  /** Whose X-Forwarded-For/-Proto the gateway believes: proxies on private and loopback addresses by default. */
  TRUST_PROXY: trustProxy('loopback,linklocal,uniquelocal'),
  HOST: z.string().optional().default('0.0.0.0'),
  DM_CONCURRENCY: num(4, { int: true, min: 1, max: 64 }),
  DM_MAX_AGE_MS: num(24 * 3600_000, { int: true, min: 1000 }),
  DM_RETRY_BASE_DELAY_MS: num(1000, { int: true, min: 10 }),
  DM_RETRY_MAX_DELAY_MS: num(300_000, { int: true, min: 10 }),
  DM_LOCK_TTL_MS: num(30_000, { int: true, min: 100 }),
  DM_LOCK_BUSY_DELAY_MS: num(1000, { int: true, min: 10 }),
  DM_SEND_TIMEOUT_MS: num(10_000, { int: true, min: 100 }),
  DM_RESEND_MAYBE_SENT: bool(false),
  DM_REDRIVE_INTERVAL_MS: num(30_000, { int: true, min: 0 }),
  DM_JOB_LOCK_MS: num(30_000, { int: true, min: 500 }),
  REPLY_MAX_TOKENS: num(400, { int: true, min: 16, max: 16_384 }),
  EXPORT_DIR: z.string().optional().default('exports'),
  EXPORT_MAX_BYTES: bytes('50MB'),
  EXPORT_OVERSIZE: oneOf(['refuse', 'split'] as const, 'refuse'),
  AUTO_TUNE: bool(true),
  CURATE_BOT_ANSWERS: oneOf(['evidence', 'all', 'none'] as const, 'evidence'),
  CURATE_TAKEOVER_WINDOW_MIN: num(30, { int: true, min: 0 }),
  CURATE_GENERIC_MIN_REPEATS: num(3, { int: true, min: 2 }),
  FT_MIN_HUMAN_SHARE: num(0.3, { min: 0, max: 1 }),
  FT_MAX_EXAMPLES: num(100_000, { int: true, min: 1 }),
  FT_MIN_EXAMPLES: num(10, { int: true, min: 1 }),
  FT_N_EPOCHS: num(1, { int: true, min: 1, max: 50 }),
  FT_PRICE_PER_1K_TOKENS: optionalNum({ min: 0 }),
  FT_BUDGET_USD_MONTHLY: optionalNum({ min: 0 }),
  FT_TRAINING_DATA: oneOf(['master', 'since-last'] as const, 'master'),
  FT_POLL_INTERVAL_MS: num(30_000, { int: true, min: 50 }),
  FT_DEADLINE_MS: num(24 * 3600_000, { int: true, min: 1000 }),
  BUDGET_ALERT_WEBHOOK_URL: url(['http', 'https']),
  EVAL_MIN_IMPROVEMENT: num(0.02, { min: -1, max: 1 }),
  EVAL_AUTO_PROMOTE: bool(false),
  EVAL_GOLD_PATH: z.string().optional().default('evals/gold.jsonl'),
  EVAL_JUDGE_MODEL: optionalString,
  EVAL_HOLDOUT_SIZE: num(20, { int: true, min: 0 }),
  /** Which gold set: `auto` = the deployment's gold_items when it has any, else EVAL_GOLD_PATH. */
  EVAL_GOLD_SOURCE: oneOf(['auto', 'table', 'file', 'both'] as const, 'auto'),
  /** A gold set smaller than this blocks auto-promotion (manual approval still works). */
  EVAL_MIN_GOLD: num(20, { int: true, min: 0 }),
  EXPORT_CRON: cron('0 2 * * *'),
  TUNE_CRON: cron('0 3 * * 0'),
  CLEANUP_CRON: cron('0 4 1 * *'),
  TZ: timezone,
  LOG_LEVEL: oneOf(LOG_LEVELS, 'info'),
  LOG_FILE: optionalString,
  /** Rotate LOG_FILE once it reaches this many bytes; `off` (→ 0) turns size rotation off. */
  LOG_ROTATE_SIZE: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v?.trim().toLowerCase() === 'off') return 0
      const n = parseBytes(v === undefined || v.trim() === '' ? '50MB' : v)
      if (n === undefined || n < 1024) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a size of at least 1KB such as 50MB, or off, got "${v}"`,
        })
        return z.NEVER
      }
      return n
    }),
  /** Also rotate LOG_FILE daily or hourly; off leaves it to size (or to logrotate when both are off). */
  LOG_ROTATE_FREQUENCY: oneOf(['daily', 'hourly', 'off'] as const, 'daily'),
  /** Rotated LOG_FILE files kept besides the active one. */
  LOG_ROTATE_KEEP: num(14, { int: true, min: 1, max: 1000 }),
  LOOPDM_SUPERVISOR_PID: num(0, { int: true, min: 0 }),
  ...PrivacyEnvFields,
})

export type Env = z.output<typeof EnvSchema>

/** The base each provider fine-tunes when FT_BASE_MODEL is unset. */
export const DEFAULT_FT_BASE_MODELS = {
  openai: 'gpt-4.1-mini-2025-04-14',
  together: 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference',
  vllm: 'Qwen/Qwen2.5-1.5B-Instruct',
} as const

/**
 * The tiny trainer the embedded defaults use for FT_PROVIDER=vllm (it "trains" by copying the
 * file; see docs/self-hosted-training.md for a real one). Run from the repository root.
 */
export const COPY_TRAINER_COMMAND =
  'node scripts/trainers/copy-trainer.mjs --train-file {train_file} --base-model {base_model} --output-dir {output_dir} --epochs {epochs}'
