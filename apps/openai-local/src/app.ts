import { setTimeout as sleep } from 'node:timers/promises'
import multipart from '@fastify/multipart'
import type { Logger } from '@loopdm/platform/logger'
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify'
import { OpenAIApiError } from './errors.js'
import { CODED_FAULT_MESSAGES, createFaults, FAULT_MESSAGES, type FaultInjector } from './faults.js'
import { createFineTuneRunner } from './fine-tune/runner.js'
import { adminRoutes } from './routes/admin.js'
import { chatRoutes } from './routes/chat.js'
import type { RouteContext } from './routes/context.js'
import { embeddingRoutes } from './routes/embeddings.js'
import { fileRoutes } from './routes/files.js'
import { fineTuningRoutes } from './routes/fine-tuning.js'
import { modelRoutes } from './routes/models.js'
import { createStore, type Store } from './state/store.js'
import { togetherFileRoutes } from './together/files.js'
import { togetherFineTuneRoutes } from './together/fine-tunes.js'
import { vllmLoraRoutes } from './vllm/lora.js'

export interface OpenAILocalAppOptions {
  /** Where files, jobs and models persist; undefined → in memory only. */
  dataDir?: string | undefined
  /** Pre-built state (tests); default: createStore({ dataDir }). */
  store?: Store
  logger?: Logger | undefined
  /** Pre-built fault injector; default: a fresh one (reachable as `app.openaiLocal.faults`). */
  faults?: FaultInjector
  /** Epoch ms; default Date.now. */
  now?: () => number
  /** Time between fine-tuning job states; default 1000 ms. */
  ftStepMs?: number
  /** A succeeded fine-tuned model answers 404 "not yet available" for this long; default 0. */
  callableAfterMs?: number
  /** Max request body and uploaded file; default 512 MiB (OpenAI's file limit). */
  bodyLimitBytes?: number
  /**
   * Apply OpenAI's known shutdowns (`gpt-3.5-turbo-0125` from 2026-10-23: chat 404, fine-tuning
   * 400) and today's fine-tunable bases (the gpt-4.1 snapshots only). `false` is the legacy world:
   * every catalog model answers and the older bases (gpt-3.5-turbo-0125, gpt-4o-mini …) fine-tune.
   * Default true.
   */
  retiredModels?: boolean
}

/** Requests the fault knobs and latency apply to: every provider API route. */
const API_PATH = /^\/(v1|together)\/|^\/(load|unload)_lora_adapter\b/

declare module 'fastify' {
  interface FastifyInstance {
    openaiLocal: { faults: FaultInjector; store: Store }
  }
}

/**
 * The openai-local Fastify app, ready for `inject` — it never listens (see server.ts). Routes
 * answer OpenAI's shapes, statuses and error bodies; Together's API lives under `/together/v1`,
 * vLLM's runtime LoRA routes at `/v1/(un)load_lora_adapter`.
 */
export function buildOpenAILocalApp(opts: OpenAILocalAppOptions = {}): FastifyInstance {
  const store = opts.store ?? createStore({ dataDir: opts.dataDir })
  const faults = opts.faults ?? createFaults()
  const ctx: RouteContext = {
    store,
    faults,
    logger: opts.logger,
    now: opts.now ?? Date.now,
    retiredModels: opts.retiredModels ?? true,
    loraAdapters: new Map(),
  }
  // Typed as the default instance: route modules need not carry pino's logger type around.
  const app: FastifyInstance = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: opts.bodyLimitBytes ?? 512 * 1024 * 1024,
    // One line per API call would drown the stack's logs; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // OpenAI's ids may carry colons (`ft:gpt-3.5-turbo-0125:loopdm::abc`); allow long ones too.
    routerOptions: { maxParamLength: 1000 },
  }) as unknown as FastifyInstance
  app.decorate('openaiLocal', { faults, store })

  app.addHook('onRequest', async (req, reply) => {
    if (!API_PATH.test(req.url)) return
    const latency = faults.latencyMs()
    if (latency > 0) await sleep(latency)
    const fault = faults.take(req.url, req.method)
    if (fault) {
      const f = fault.code ? CODED_FAULT_MESSAGES[fault.code] : FAULT_MESSAGES[fault.status]
      reply.code(fault.status).headers(fault.headers)
      return reply.send({ error: { message: f.message, type: f.type, param: null, code: f.code } })
    }
  })

  app.setErrorHandler((err: FastifyError | OpenAIApiError, req, reply) => {
    if (err instanceof OpenAIApiError) return reply.code(err.statusCode).send(err.toBody())
    const status = err.statusCode ?? 500
    if (status >= 500) {
      opts.logger?.error({ err: err.message, url: req.url }, 'openai-local request failed')
      return reply.code(status).send({
        error: {
          message: 'The server had an error while processing your request.',
          type: 'server_error',
          param: null,
          code: null,
        },
      })
    }
    // Fastify's own 4xx: unparsable JSON, body too large, bad content type …
    const message =
      err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError
        ? `We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.) ${err.message}`
        : err.message
    return reply
      .code(status)
      .send({ error: { message, type: 'invalid_request_error', param: null, code: err.code ?? null } })
  })

  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({
      error: {
        message: `Invalid URL (${req.method} ${req.url.split('?')[0]})`,
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    }),
  )

  app.get('/healthz', async () => ({ ok: true }))
  modelRoutes(app, ctx)
  chatRoutes(app, ctx)
  embeddingRoutes(app, ctx)
  adminRoutes(app, ctx)
  vllmLoraRoutes(app, ctx)
  const runner = createFineTuneRunner({
    store,
    stepMs: opts.ftStepMs ?? 1000,
    callableAfterMs: opts.callableAfterMs ?? 0,
    now: ctx.now,
    logger: opts.logger,
  })
  app.addHook('onClose', async () => runner.close())
  void app.register(multipart, { limits: { fileSize: opts.bodyLimitBytes ?? 512 * 1024 * 1024, files: 1 } })
  void app.register(async (scope) => {
    fileRoutes(scope, ctx)
    fineTuningRoutes(scope, ctx, runner)
    togetherFileRoutes(scope, ctx)
    togetherFineTuneRoutes(scope, ctx, runner)
  })
  return app
}
