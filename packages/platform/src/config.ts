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
  url,
} from './config-fields.js'
import { ConfigError } from './errors.js'

/**
 * The only place that reads the environment. `loadConfig(env)` validates every variable named in
 * ARCHITECTURE.md (and the few operational ones that sit beside them), applies the documented
 * defaults, and returns a frozen, nested object. A bad value fails with one line per variable.
 */

export { parseBytes } from './config-fields.js'

export const DEFAULT_SYSTEM_PROMPT =
  'You are the friendly Instagram DM assistant of a small shop. Answer briefly and helpfully in the customer’s language.'

const EnvSchema = z.object({
  NODE_ENV: oneOf(['development', 'production', 'test'] as const, 'development'),
  DATABASE_URL: url(['postgres', 'postgresql']),
  PGLITE_DATA_DIR: z.string().optional().default('.data/pg'),
  EMBEDDED_DB_PORT: num(5433, { int: true, min: 0, max: 65535 }),
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
  MEMORY_ENABLED: bool(true),
  MEMORY_MAX_TOKENS: num(800, { int: true, min: 0 }),
  MEMORY_MIN_SCORE: num(0.82, { min: -1, max: 1 }),
  MEMORY_TOP_K: num(8, { int: true, min: 1, max: 100 }),
  MEMORY_RECENT_TURNS: num(4, { int: true, min: 0, max: 50 }),
  LEARNING_BACKEND: oneOf(['exemplars', 'fine-tune'] as const, 'exemplars'),
  EXEMPLAR_TOP_K: num(4, { int: true, min: 1, max: 50 }),
  EXEMPLAR_MIN_SCORE: num(0.5, { min: -1, max: 1 }),
  EXEMPLAR_MAX_TOKENS: num(600, { int: true, min: 0 }),
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
  PORT: num(3000, { int: true, min: 0, max: 65535 }),
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
  EXPORT_CRON: cron('0 2 * * *'),
  TUNE_CRON: cron('0 3 * * 0'),
  CLEANUP_CRON: cron('0 4 1 * *'),
  TZ: timezone,
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
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
})

type Env = z.output<typeof EnvSchema>

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

/** The nested config, one area at a time (each area's builder below). */
function shape(e: Env) {
  return {
    env: e.NODE_ENV,
    db: {
      /** Unset → the embedded PGlite server (see shared/embedded-db). */
      url: e.DATABASE_URL,
      embedded: { dataDir: e.PGLITE_DATA_DIR, port: e.EMBEDDED_DB_PORT },
    },
    redis: { url: e.REDIS_URL as string, prefix: e.QUEUE_PREFIX },
    openai: openaiConfig(e),
    models: modelsConfig(e),
    memory: {
      enabled: e.MEMORY_ENABLED,
      maxTokens: e.MEMORY_MAX_TOKENS,
      minScore: e.MEMORY_MIN_SCORE,
      topK: e.MEMORY_TOP_K,
      recentTurns: e.MEMORY_RECENT_TURNS,
    },
    learning: {
      /** Which learner the weekly `tune` job builds a candidate policy with. */
      backend: e.LEARNING_BACKEND,
      exemplars: {
        /** Demonstrations per reply (nearest to the live message). */
        topK: e.EXEMPLAR_TOP_K,
        /** Minimum cosine similarity of a demonstration's customer text to the live message. */
        minScore: e.EXEMPLAR_MIN_SCORE,
        /** Prompt-token budget of the demonstrations (real token count), beside memory's. */
        maxTokens: e.EXEMPLAR_MAX_TOKENS,
      },
    },
    ...edgeConfig(e),
    ...pipelineConfig(e),
    log: {
      level: e.LOG_LEVEL,
      file: e.LOG_FILE,
      rotate: { sizeBytes: e.LOG_ROTATE_SIZE, frequency: e.LOG_ROTATE_FREQUENCY, keep: e.LOG_ROTATE_KEEP },
    },
    /** Set by `npm start` for its children: the supervisor's pid (0 = not supervised). */
    supervisorPid: e.LOOPDM_SUPERVISOR_PID,
  }
}

/** The OpenAI client, its prices, and openai-local (used when no API key is set). */
function openaiConfig(e: Env) {
  return {
    apiKey: e.OPENAI_API_KEY,
    /** Unset with no API key → openai-local on 127.0.0.1:OPENAI_LOCAL_PORT. */
    baseURL:
      e.OPENAI_BASE_URL ?? (e.OPENAI_API_KEY ? undefined : `http://127.0.0.1:${e.OPENAI_LOCAL_PORT}/v1`),
    /** True when no real key is configured: openai-local is the provider. */
    local: !e.OPENAI_API_KEY,
    timeoutMs: e.OPENAI_TIMEOUT_MS,
    maxRetries: e.OPENAI_MAX_RETRIES,
    /** USD per 1K tokens, per model; merged over the built-in table. */
    prices: e.OPENAI_PRICES,
    embeddingModel: e.EMBEDDING_MODEL,
    localServer: {
      port: e.OPENAI_LOCAL_PORT,
      host: e.OPENAI_LOCAL_HOST,
      dataDir: e.OPENAI_LOCAL_DATA_DIR,
      /** Time between a fine-tuning job's states. */
      ftStepMs: e.OPENAI_LOCAL_FT_STEP_MS,
    },
  }
}

/** Which models answer, fine-tune and embed, and how the hot swap finds them. */
function modelsConfig(e: Env) {
  return {
    base: e.BASE_MODEL,
    vision: e.VISION_MODEL,
    ftBase: e.FT_BASE_MODEL ?? DEFAULT_FT_BASE_MODELS[e.FT_PROVIDER],
    seedFineTuned: e.LOOP_DM_FT_MODEL,
    systemPrompt: e.SYSTEM_PROMPT,
    channel: e.MODEL_CHANNEL,
    reconcileIntervalMs: e.MODEL_RECONCILE_INTERVAL_MS,
    /** How long a promotion keeps probing a model that is not callable yet (ms). */
    probeDeadlineMs: e.PROMOTE_PROBE_DEADLINE_MS,
  }
}

/** The Instagram webhook and the gateway serving it. */
function edgeConfig(e: Env) {
  return {
    instagram: {
      appSecret: e.IG_APP_SECRET,
      verifyToken: e.IG_VERIFY_TOKEN,
      accessToken: e.IG_ACCESS_TOKEN,
      graphBaseUrl:
        e.IG_GRAPH_BASE_URL ?? (e.IG_ACCESS_TOKEN ? 'https://graph.instagram.com/v21.0' : undefined),
      sendPath: e.IG_SEND_PATH,
      humanTakeoverMinutes: e.HUMAN_TAKEOVER_MINUTES,
    },
    gateway: {
      port: e.PORT,
      host: e.HOST,
      adminToken: e.ADMIN_TOKEN,
      /** DMs answered at once per gateway process; per-user order holds at any value. */
      dmConcurrency: e.DM_CONCURRENCY,
      delivery: {
        /** A DM older than this (since the webhook took it) is recorded `expired`, not answered. */
        maxAgeMs: e.DM_MAX_AGE_MS,
        /** Capped exponential backoff of a `dm` job after a provider/send error. */
        retryBaseDelayMs: e.DM_RETRY_BASE_DELAY_MS,
        retryMaxDelayMs: e.DM_RETRY_MAX_DELAY_MS,
        /** The per-user lock's lease (renewed every third; lost → the work stops). */
        lockTtlMs: e.DM_LOCK_TTL_MS,
        /** How far a job is delayed while its user's lock is busy (no attempt spent). */
        lockBusyDelayMs: e.DM_LOCK_BUSY_DELAY_MS,
        /** Graph API request timeout; a part `sending` for longer is "maybe sent". */
        sendTimeoutMs: e.DM_SEND_TIMEOUT_MS,
        /** Re-send "maybe sent" parts (at-least-once) instead of counting them `unknown`. */
        resendMaybeSent: e.DM_RESEND_MAYBE_SENT,
        /** How often the redrive sweep probes the provider and promotes delayed DMs (0 = off). */
        redriveIntervalMs: e.DM_REDRIVE_INTERVAL_MS,
        /** BullMQ job lock of a reply job: a killed gateway's jobs are re-run this long after. */
        jobLockMs: e.DM_JOB_LOCK_MS,
      },
      /** `max_tokens` of every reply completion. */
      replyMaxTokens: e.REPLY_MAX_TOKENS,
    },
  }
}

/** The loop: export → fine-tune → evaluate, and the schedules that start it. */
function pipelineConfig(e: Env) {
  return {
    export: {
      dir: e.EXPORT_DIR,
      maxBytes: e.EXPORT_MAX_BYTES,
      oversize: e.EXPORT_OVERSIZE,
      autoTune: e.AUTO_TUNE,
    },
    finetune: {
      minExamples: e.FT_MIN_EXAMPLES,
      nEpochs: e.FT_N_EPOCHS,
      /** Override of the per-model training prices (packages/models/src/prices.ts); unset → the table. */
      pricePer1kTokens: e.FT_PRICE_PER_1K_TOKENS,
      ...providersConfig(e),
      budgetUsdMonthly: e.FT_BUDGET_USD_MONTHLY,
      budgetAlertWebhookUrl: e.BUDGET_ALERT_WEBHOOK_URL,
      trainingData: e.FT_TRAINING_DATA,
      pollIntervalMs: e.FT_POLL_INTERVAL_MS,
      deadlineMs: e.FT_DEADLINE_MS,
    },
    eval: {
      minImprovement: e.EVAL_MIN_IMPROVEMENT,
      autoPromote: e.EVAL_AUTO_PROMOTE,
      goldPath: e.EVAL_GOLD_PATH,
      judgeModel: e.EVAL_JUDGE_MODEL,
      /** Max holdout examples drawn from recent exports (0 disables the holdout). */
      holdoutSize: e.EVAL_HOLDOUT_SIZE,
    },
    schedules: { exportCron: e.EXPORT_CRON, tuneCron: e.TUNE_CRON, cleanupCron: e.CLEANUP_CRON, tz: e.TZ },
  }
}

/** Who fine-tunes (FT_PROVIDER) and how to reach Together and vLLM. */
function providersConfig(e: Env) {
  const localRoot = `http://127.0.0.1:${e.OPENAI_LOCAL_PORT}`
  return {
    /** `openai` (default), `together` (hosted LoRA) or `vllm` (TRAINER_COMMAND + vLLM). */
    provider: e.FT_PROVIDER,
    together: {
      apiKey: e.TOGETHER_API_KEY,
      /** Unset with no key → openai-local's Together emulation. */
      baseURL:
        e.TOGETHER_BASE_URL ??
        (e.TOGETHER_API_KEY ? 'https://api.together.xyz/v1' : `${localRoot}/together/v1`),
      trainingType: e.TOGETHER_TRAINING_TYPE,
    },
    vllm: {
      /** The vLLM server's root (no `/v1`); unset → openai-local's vLLM emulation. */
      baseURL: (e.VLLM_BASE_URL ?? localRoot).replace(/\/+$/, '').replace(/\/v1$/, ''),
      apiKey: e.VLLM_API_KEY,
      /** Where adapters are written; vLLM must see the same path (a shared volume). */
      adapterDir: e.VLLM_ADAPTER_DIR,
      /** `{train_file}`, `{base_model}`, `{output_dir}`, `{epochs}` are substituted, shell-quoted. */
      trainerCommand: e.TRAINER_COMMAND ?? COPY_TRAINER_COMMAND,
    },
  }
}

export type Config = ReturnType<typeof shape>

function deepFreeze<T>(o: T): T {
  for (const v of Object.values(o as object)) if (v && typeof v === 'object') deepFreeze(v)
  return Object.freeze(o)
}

/**
 * Validates `env` (default: process.env) and returns the frozen config.
 * @throws ConfigError listing every bad variable, one per line: `PORT: expected an integer …`.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.superRefine((e, ctx) => {
    // A real vLLM trains nothing with the copy trainer: say so instead of serving a copied file.
    if (e.FT_PROVIDER === 'vllm' && e.VLLM_BASE_URL && !e.TRAINER_COMMAND)
      ctx.addIssue({
        code: 'custom',
        path: ['TRAINER_COMMAND'],
        message:
          'required with FT_PROVIDER=vllm and VLLM_BASE_URL (a command template with {train_file}, {base_model}, {output_dir}, {epochs}; see docs/self-hosted-training.md)',
      })
  }).safeParse(env)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${String(i.path[0] ?? '?')}: ${i.message}`)
    throw new ConfigError(lines)
  }
  return deepFreeze(shape(parsed.data))
}

/** Loads config for a composition root; on a bad value prints the reason and exits 1. */
export function loadConfigOrExit(env: Record<string, string | undefined> = process.env): Config {
  try {
    return loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
}
