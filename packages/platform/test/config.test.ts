import { loadConfig, parseBytes } from '@loopdm/platform/config'
import { ConfigError } from '@loopdm/platform/errors'
import { describe, expect, it } from 'vitest'

describe('loadConfig', () => {
  describe('when nothing is set', () => {
    it('applies every documented default', () => {
      const sut = loadConfig({})
      expect(sut.db.url).toBeUndefined()
      expect(sut.db.embedded).toEqual({
        dataDir: '.data/pg',
        port: 5433,
        sharedBuffersBytes: 128 * 1024 ** 2,
      })
      expect(sut.redis.url).toBe('redis://127.0.0.1:6379')
      expect(sut.models).toMatchObject({
        base: 'gpt-4.1-mini',
        vision: 'gpt-4.1-mini',
        ftBase: 'gpt-4.1-mini-2025-04-14',
      })
      expect(sut.memory).toMatchObject({ enabled: true, maxTokens: 800, minScore: 0.82 })
      expect(sut.memory.search).toEqual({
        exactScanMaxTurns: 200,
        quantizedMaxTurns: 20_000,
        efSearch: 400,
        codeCacheBytes: 64 * 1024 * 1024,
      })
      expect(sut.learning.exemplars.efSearch).toBe(32)
      expect(sut.gateway).toMatchObject({ port: 3000, dmConcurrency: 4, replyMaxTokens: 400 })
      expect(sut.export).toMatchObject({ dir: 'exports', maxBytes: 50 * 1024 * 1024 })
      // FT_PRICE_PER_1K_TOKENS is an override: unset, the per-model training prices apply.
      expect(sut.finetune).toMatchObject({ minExamples: 10, nEpochs: 1, pricePer1kTokens: undefined })
      expect(sut.finetune.provider).toBe('openai')
      expect(sut.finetune.together.baseURL).toBe('http://127.0.0.1:8787/together/v1')
      expect(sut.finetune.vllm).toMatchObject({
        baseURL: 'http://127.0.0.1:8787',
        adapterDir: '.data/adapters',
      })
      expect(sut.finetune.vllm.trainerCommand).toMatch(/copy-trainer\.mjs/)
      expect(sut.eval.autoPromote).toBe(false)
      expect(sut.eval).toMatchObject({ goldSource: 'auto', minGold: 20, holdoutSize: 20 })
      expect(sut.gateway.consoleLogin).toEqual({ maxAttempts: 10, windowSeconds: 900 })
      expect(sut.rollout.canary).toMatchObject({
        checkIntervalMs: 300_000,
        autoPromote: false,
        margin: 0.02,
        alpha: 0.05,
        promoteWhen: 'nonInferior',
        maxSendFailureRate: 0.05,
        maxFallbackRate: 0.2,
        maxP99LatencyMs: 15_000,
        guardMinReplies: 20,
      })
      expect(sut.rollout.shadow).toEqual({ maxUsdPerDay: 5, concurrency: 2 })
      expect(sut.schedules).toMatchObject({
        exportCron: '0 2 * * *',
        tuneCron: '0 3 * * 0',
        cleanupCron: '0 4 1 * *',
      })
      expect(sut.openai.local).toBe(true)
      expect(sut.openai.baseURL).toBe('http://127.0.0.1:8787/v1')
    })

    it('keeps a DM retrying for 24 hours with capped backoff', () => {
      const c = loadConfig({})
      expect(c.gateway.delivery).toEqual({
        maxAgeMs: 24 * 3600_000,
        retryBaseDelayMs: 1000,
        retryMaxDelayMs: 300_000,
        lockTtlMs: 30_000,
        lockBusyDelayMs: 1000,
        sendTimeoutMs: 10_000,
        resendMaybeSent: false,
        redriveIntervalMs: 30_000,
        jobLockMs: 30_000,
      })
    })

    it('is frozen', () => {
      const sut = loadConfig({})
      expect(Object.isFrozen(sut)).toBe(true)
      expect(Object.isFrozen(sut.memory)).toBe(true)
    })
  })

  describe('when values are given', () => {
    it('coerces numbers, booleans, sizes and keeps strings', () => {
      const sut = loadConfig({
        PORT: '8080',
        MEMORY_ENABLED: 'false',
        EXPORT_MAX_BYTES: '10KB',
        EVAL_AUTO_PROMOTE: 'yes',
        OPENAI_API_KEY: 'sk-test',
        FT_BUDGET_USD_MONTHLY: '25',
      })
      expect(sut.gateway.port).toBe(8080)
      expect(sut.memory.enabled).toBe(false)
      expect(sut.export.maxBytes).toBe(10 * 1024)
      expect(sut.eval.autoPromote).toBe(true)
      expect(sut.openai.local).toBe(false)
      expect(sut.openai.baseURL).toBeUndefined()
      expect(sut.finetune.budgetUsdMonthly).toBe(25)
    })
  })

  describe('when a value is bad', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['PORT', 'abc', /PORT: expected an integer/],
      ['PORT', '70000', /PORT: expected an integer in 0\.\.65535/],
      ['MEMORY_ENABLED', 'maybe', /MEMORY_ENABLED: expected true or false, got "maybe"/],
      ['MEMORY_MAX_TOKENS', '-5', /MEMORY_MAX_TOKENS: expected an integer/],
      ['MEMORY_MIN_SCORE', '2', /MEMORY_MIN_SCORE: expected a number in -1\.\.1/],
      ['DATABASE_URL', 'mysql://x', /DATABASE_URL: expected a postgres\/postgresql URL/],
      ['REDIS_URL', 'not a url', /REDIS_URL: expected a redis\/rediss URL/],
      ['OPENAI_BASE_URL', 'ftp://x', /OPENAI_BASE_URL: expected a http\/https URL/],
      ['EXPORT_MAX_BYTES', 'lots', /EXPORT_MAX_BYTES: expected a size such as 52428800 or 50MB/],
      ['EMBEDDED_DB_SHARED_BUFFERS', '2GB', /EMBEDDED_DB_SHARED_BUFFERS: expected a size from 16MB to 1GB/],
      ['EMBEDDED_DB_SHARED_BUFFERS', '8MB', /EMBEDDED_DB_SHARED_BUFFERS: expected a size from 16MB to 1GB/],
      ['FT_N_EPOCHS', '0', /FT_N_EPOCHS: expected an integer in 1\.\.50/],
      ['FT_BUDGET_USD_MONTHLY', '-1', /FT_BUDGET_USD_MONTHLY: expected a number/],
      ['EXPORT_CRON', 'every night', /EXPORT_CRON: expected a cron expression/],
      ['TZ', 'Mars/Olympus', /TZ: expected an IANA time zone/],
      ['LOG_LEVEL', 'loud', /LOG_LEVEL: expected one of fatal\|error/],
      [
        'LOG_ROTATE_SIZE',
        'huge',
        /LOG_ROTATE_SIZE: expected a size of at least 1KB such as 50MB, or off, got "huge"/,
      ],
      ['LOG_ROTATE_FREQUENCY', 'weekly', /LOG_ROTATE_FREQUENCY: expected one of daily\|hourly\|off/],
      ['LOG_ROTATE_KEEP', '0', /LOG_ROTATE_KEEP: expected an integer in 1\.\.1000, got "0"/],
      ['EXPORT_OVERSIZE', 'shrink', /EXPORT_OVERSIZE: expected one of refuse\|split/],
      ['OPENAI_PRICES', '{bad', /OPENAI_PRICES: expected JSON/],
      ['DM_CONCURRENCY', '0', /DM_CONCURRENCY: expected an integer in 1\.\.64, got "0"/],
      ['DM_MAX_AGE_MS', '10', /DM_MAX_AGE_MS: expected an integer/],
      ['DM_RETRY_MAX_DELAY_MS', 'soon', /DM_RETRY_MAX_DELAY_MS: expected an integer/],
      ['DM_RETRY_BASE_DELAY_MS', '1', /DM_RETRY_BASE_DELAY_MS: expected an integer/],
      ['DM_LOCK_TTL_MS', '5', /DM_LOCK_TTL_MS: expected an integer/],
      ['DM_LOCK_BUSY_DELAY_MS', '-1', /DM_LOCK_BUSY_DELAY_MS: expected an integer/],
      ['DM_SEND_TIMEOUT_MS', '1', /DM_SEND_TIMEOUT_MS: expected an integer/],
      ['DM_RESEND_MAYBE_SENT', 'maybe', /DM_RESEND_MAYBE_SENT: expected true or false/],
      ['DM_REDRIVE_INTERVAL_MS', '-5', /DM_REDRIVE_INTERVAL_MS: expected an integer/],
      ['DM_JOB_LOCK_MS', '10', /DM_JOB_LOCK_MS: expected an integer/],
      ['REPLY_MAX_TOKENS', '8', /REPLY_MAX_TOKENS: expected an integer in 16\.\.16384, got "8"/],
      ['EVAL_GOLD_SOURCE', 'db', /EVAL_GOLD_SOURCE: expected one of auto\|table\|file\|both/],
      ['EVAL_MIN_GOLD', '-1', /EVAL_MIN_GOLD: expected an integer in 0\.\.∞, got "-1"/],
      ['CONSOLE_LOGIN_MAX_ATTEMPTS', 'many', /CONSOLE_LOGIN_MAX_ATTEMPTS: expected an integer/],
      ['CONSOLE_LOGIN_WINDOW_S', '0', /CONSOLE_LOGIN_WINDOW_S: expected an integer in 1\.\.∞/],
      ['CANARY_CHECK_INTERVAL_MS', '1', /CANARY_CHECK_INTERVAL_MS: expected an integer in 10\.\./],
      ['CANARY_AUTO_PROMOTE', 'maybe', /CANARY_AUTO_PROMOTE: expected true or false, got "maybe"/],
      ['CANARY_MARGIN', '0.9', /CANARY_MARGIN: expected a number in 0\.\.0\.5, got "0.9"/],
      ['CANARY_PROMOTE_WHEN', 'better', /CANARY_PROMOTE_WHEN: expected one of nonInferior\|superior/],
      ['CANARY_MAX_FALLBACK_RATE', '2', /CANARY_MAX_FALLBACK_RATE: expected a number in 0\.\.1/],
      ['SHADOW_MAX_USD', '-1', /SHADOW_MAX_USD: expected a number in 0\.\./],
      ['SHADOW_CONCURRENCY', '0', /SHADOW_CONCURRENCY: expected an integer in 1\.\.32, got "0"/],
      [
        'TRUST_PROXY',
        'loopback,10.0.0.0/33',
        /TRUST_PROXY: expected true, false or a comma list.*"10\.0\.0\.0\/33" is none/,
      ],
      ['TRUST_PROXY', '2', /TRUST_PROXY: expected true, false or a comma list.*"2" is none/],
      ['TRUST_PROXY', 'my-lb', /TRUST_PROXY: .*"my-lb" is none/],
    ]
    it('reads TRUST_PROXY as true/false or an address list (default: loopback and private proxies)', () => {
      expect(loadConfig({}).gateway.trustProxy).toBe('loopback,linklocal,uniquelocal')
      expect(loadConfig({ TRUST_PROXY: 'FALSE' }).gateway.trustProxy).toBe(false)
      expect(loadConfig({ TRUST_PROXY: 'true' }).gateway.trustProxy).toBe(true)
      expect(loadConfig({ TRUST_PROXY: ' 10.0.0.0/8, ::1 ,loopback' }).gateway.trustProxy).toBe(
        '10.0.0.0/8,::1,loopback',
      )
    })
    it.each(cases)('rejects %s=%s with a message naming it', (name, value, message) => {
      expect(() => loadConfig({ [name]: value })).toThrow(message)
    })

    it('lists every bad variable, one line each', () => {
      try {
        loadConfig({ PORT: 'x', MEMORY_ENABLED: 'perhaps', FT_MIN_EXAMPLES: '0' })
        expect.unreachable()
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError)
        const e = err as ConfigError
        expect(e.problems.map((p) => p.split(':')[0]).sort()).toEqual([
          'FT_MIN_EXAMPLES',
          'MEMORY_ENABLED',
          'PORT',
        ])
        expect(e.message.split('\n')).toHaveLength(4)
      }
    })
  })
})

describe('loadConfig recall settings', () => {
  it('reads the memory search tiers, the code cache and the exemplar ef_search, and names a bad one', () => {
    const sut = loadConfig({
      MEMORY_EXACT_SCAN_MAX_TURNS: '1000',
      MEMORY_QUANTIZED_MAX_TURNS: '50000',
      MEMORY_EF_SEARCH: '200',
      MEMORY_CODE_CACHE_MB: '0.5',
      EXEMPLAR_EF_SEARCH: '100',
    })
    expect(sut.memory.search).toEqual({
      exactScanMaxTurns: 1000,
      quantizedMaxTurns: 50_000,
      efSearch: 200,
      codeCacheBytes: 512 * 1024,
    })
    expect(loadConfig({ MEMORY_CODE_CACHE_MB: '0' }).memory.search.codeCacheBytes).toBe(0)
    expect(() => loadConfig({ MEMORY_CODE_CACHE_MB: '-1' })).toThrow(/MEMORY_CODE_CACHE_MB/)
    expect(sut.learning.exemplars.efSearch).toBe(100)
    expect(() => loadConfig({ MEMORY_EF_SEARCH: '0' })).toThrow(/MEMORY_EF_SEARCH/)
    expect(() => loadConfig({ EXEMPLAR_EF_SEARCH: 'lots' })).toThrow(/EXEMPLAR_EF_SEARCH/)
  })
})

describe('parseBytes', () => {
  it('reads plain numbers and binary units', () => {
    expect(parseBytes('52428800')).toBe(52428800)
    expect(parseBytes('50MB')).toBe(52428800)
    expect(parseBytes('1 gb')).toBe(1024 ** 3)
    expect(parseBytes('12 parsecs')).toBeUndefined()
  })
})

describe('loadConfig fine-tuning providers', () => {
  describe('when FT_PROVIDER is set', () => {
    it("defaults FT_BASE_MODEL to that provider's base and the Together URL to Together's with a key", () => {
      expect(loadConfig({ FT_PROVIDER: 'together' }).models.ftBase).toBe(
        'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference',
      )
      expect(loadConfig({ FT_PROVIDER: 'vllm' }).models.ftBase).toBe('Qwen/Qwen2.5-1.5B-Instruct')
      expect(loadConfig({ TOGETHER_API_KEY: 'k' }).finetune.together.baseURL).toBe(
        'https://api.together.xyz/v1',
      )
      expect(loadConfig({ VLLM_BASE_URL: 'http://gpu:8000/v1/' }).finetune.vllm.baseURL).toBe(
        'http://gpu:8000',
      )
    })

    it('names FT_PROVIDER when it is unknown, and TRAINER_COMMAND when a real vLLM has none', () => {
      expect(() => loadConfig({ FT_PROVIDER: 'anyscale' })).toThrow(/FT_PROVIDER/)
      expect(() => loadConfig({ FT_PROVIDER: 'vllm', VLLM_BASE_URL: 'http://gpu:8000' })).toThrow(
        /TRAINER_COMMAND: required with FT_PROVIDER=vllm/,
      )
    })
  })
})
