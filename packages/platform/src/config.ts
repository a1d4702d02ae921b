import { privacyConfig, withPseudonymSecretFile } from './config-privacy.js'
import { COPY_TRAINER_COMMAND, DEFAULT_FT_BASE_MODELS, type Env, EnvSchema } from './config-schema.js'
import { ConfigError } from './errors.js'

/**
 * The only place that reads the environment. `loadConfig(env)` validates every variable named in
 * ARCHITECTURE.md (and the few operational ones that sit beside them), applies the documented
 * defaults, and returns a frozen, nested object. A bad value fails with one line per variable.
 */

export { parseBytes } from './config-fields.js'

export { COPY_TRAINER_COMMAND, DEFAULT_FT_BASE_MODELS, DEFAULT_SYSTEM_PROMPT } from './config-schema.js'

/** The nested config, one area at a time (each area's builder below). */
function shape(e: Env) {
  return {
    env: e.NODE_ENV,
    db: {
      /** Unset → the embedded PGlite server (see shared/embedded-db). */
      url: e.DATABASE_URL,
      embedded: {
        dataDir: e.PGLITE_DATA_DIR,
        port: e.EMBEDDED_DB_PORT,
        sharedBuffersBytes: e.EMBEDDED_DB_SHARED_BUFFERS,
      },
    },
    redis: { url: e.REDIS_URL as string, prefix: e.QUEUE_PREFIX },
    openai: openaiConfig(e),
    models: modelsConfig(e),
    rollout: rolloutConfig(e),
    memory: {
      enabled: e.MEMORY_ENABLED,
      maxTokens: e.MEMORY_MAX_TOKENS,
      minScore: e.MEMORY_MIN_SCORE,
      topK: e.MEMORY_TOP_K,
      recentTurns: e.MEMORY_RECENT_TURNS,
      /** How a user's turns are searched, by their count (apps/gateway memory.recall.ts). */
      search: {
        exactScanMaxTurns: e.MEMORY_EXACT_SCAN_MAX_TURNS,
        quantizedMaxTurns: e.MEMORY_QUANTIZED_MAX_TURNS,
        efSearch: e.MEMORY_EF_SEARCH,
        /** Memory the gateway may use for mid-sized users' binary codes (memory.codes.ts); 0 = off. */
        codeCacheBytes: Math.round(e.MEMORY_CODE_CACHE_MB * 1024 * 1024),
      },
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
        /** hnsw.ef_search of the lookup in a set's own index. */
        efSearch: e.EXEMPLAR_EF_SEARCH,
      },
    },
    ...edgeConfig(e),
    ...pipelineConfig(e),
    ...privacyConfig(e),
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
      /** `false`: the legacy world, where retired models (gpt-3.5-turbo-0125) still answer. */
      retiredModels: e.OPENAI_LOCAL_RETIRED_MODELS,
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

/** Canary and shadow rollouts of a candidate policy on live DMs (issue 19). */
function rolloutConfig(e: Env) {
  return {
    canary: {
      /** How often one gateway (a Redis lock) counts the arms and runs the sequential test. */
      checkIntervalMs: e.CANARY_CHECK_INTERVAL_MS,
      /** Promote a canary shown not worse (or better) at once; false → it waits for approval. */
      autoPromote: e.CANARY_AUTO_PROMOTE,
      /** Non-inferiority margin on the bad-outcome rate (takeover or negative reaction), absolute. */
      margin: e.CANARY_MARGIN,
      /** Chance of a false rollback over the whole canary. */
      alpha: e.CANARY_ALPHA,
      promoteWhen: e.CANARY_PROMOTE_WHEN,
      maxSendFailureRate: e.CANARY_MAX_SEND_FAILURE_RATE,
      maxFallbackRate: e.CANARY_MAX_FALLBACK_RATE,
      maxP99LatencyMs: e.CANARY_MAX_P99_LATENCY_MS,
      guardMinReplies: e.CANARY_GUARD_MIN_REPLIES,
      /** A customer question with no reply and no later turn for this long counts as unanswered. */
      unansweredQuietMs: e.CANARY_UNANSWERED_QUIET_MS,
    },
    shadow: {
      /** Daily cap on what shadow answers may cost (USD); reached → shadows are skipped until tomorrow. */
      maxUsdPerDay: e.SHADOW_MAX_USD,
      /** Shadow answers computed at once per gateway. */
      concurrency: e.SHADOW_CONCURRENCY,
    },
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
      /** Fastify's trustProxy (TRUST_PROXY): the client address and https come from these proxies' headers only. */
      trustProxy: e.TRUST_PROXY,
      adminToken: e.ADMIN_TOKEN,
      /** Console login rate limit: failed attempts per client address per window (seconds). */
      consoleLogin: { maxAttempts: e.CONSOLE_LOGIN_MAX_ATTEMPTS, windowSeconds: e.CONSOLE_LOGIN_WINDOW_S },
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
      /** Which answers become training examples (the curation policy, README "Curation"). */
      curate: {
        botAnswers: e.CURATE_BOT_ANSWERS,
        takeoverWindowMs: e.CURATE_TAKEOVER_WINDOW_MIN * 60_000,
        genericMinRepeats: e.CURATE_GENERIC_MIN_REPEATS,
      },
    },
    finetune: {
      minExamples: e.FT_MIN_EXAMPLES,
      /** Refuse data whose human + import share of examples is below this (unless forced). */
      minHumanShare: e.FT_MIN_HUMAN_SHARE,
      /** The most examples one tune trains on (newest first). */
      maxExamples: e.FT_MAX_EXAMPLES,
      nEpochs: e.FT_N_EPOCHS,
      /** Override of the per-model training prices (packages/models/src/prices.ts); unset → the table. */
      pricePer1kTokens: e.FT_PRICE_PER_1K_TOKENS,
      ...providersConfig(e),
      budgetUsdMonthly: e.FT_BUDGET_USD_MONTHLY,
      budgetAlertWebhookUrl: e.BUDGET_ALERT_WEBHOOK_URL,
      trainingData: e.FT_TRAINING_DATA,
      pollIntervalMs: e.FT_POLL_INTERVAL_MS,
      deadlineMs: e.FT_DEADLINE_MS,
      /** FT_DELETE_TRAINING_FILES: the provider's copy goes once its job ends. */
      deleteTrainingFiles: e.FT_DELETE_TRAINING_FILES,
    },
    eval: {
      minImprovement: e.EVAL_MIN_IMPROVEMENT,
      autoPromote: e.EVAL_AUTO_PROMOTE,
      goldPath: e.EVAL_GOLD_PATH,
      judgeModel: e.EVAL_JUDGE_MODEL,
      /** Max holdout examples drawn from recent exports (0 disables the holdout). */
      holdoutSize: e.EVAL_HOLDOUT_SIZE,
      /** `auto` (gold_items when non-empty, else the file) | `table` | `file` | `both` (table + file). */
      goldSource: e.EVAL_GOLD_SOURCE,
      /** Below this many gold items auto-promotion is blocked with a reason (manual approval still works). */
      minGold: e.EVAL_MIN_GOLD,
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
    // A composition root: PSEUDONYM_SECRET may come from the file `npm start` generated.
    return loadConfig(withPseudonymSecretFile(env))
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
}
