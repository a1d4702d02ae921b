import { createHash } from 'node:crypto'
import type { Pool } from '@loopdm/db/pool'
import { cosine } from '@loopdm/db/vectors'
import { isShadowMessage } from '@loopdm/models/hotswap'
import { judgeReply } from '@loopdm/models/judge'
import { type PolicyEndpoint, policyRef, systemPromptOf } from '@loopdm/models/policy'
import { createPriceTable } from '@loopdm/models/prices'
import { type RegistryRepository, rowToPolicy } from '@loopdm/models/registry'
import { createShadowRepository, type ShadowRun } from '@loopdm/models/shadow-runs'
import { completionLimit } from '@loopdm/platform/capabilities'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import type { AiClient, OpenAI } from '@loopdm/platform/openai'
import { createWorker } from '@loopdm/queues/bullmq'
import {
  SHADOW_JOB,
  SHADOW_JOB_OPTIONS,
  SHADOW_QUEUE,
  type ShadowPayload,
  ShadowPayloadSchema,
  shadowJobId,
} from '@loopdm/queues/contracts'
import type { Redis } from '@loopdm/redis/client'
import { redactPII } from '@loopdm/training-data/redaction'
import { type Job, type Queue, UnrecoverableError, type Worker } from 'bullmq'
import type { GatewayMetrics } from '../metrics.js'
import { createGdprRepository } from '../repositories/gdpr.repository.js'
import type { ExemplarService } from './exemplars.js'

/** Instagram's DM text limit (the evaluator's length metric). */
const MAX_REPLY_CHARS = 1000

export interface ShadowOffer {
  mid: string
  igUserId: string
  messages: OpenAI.Chat.ChatCompletionMessageParam[]
  sentText: string
}

export interface ShadowOptions {
  pool: Pool
  config: Config
  logger: Logger
  ai: AiClient
  /** The client of a policy served at another endpoint (the router's, so usage reaches the ledger). */
  clientFor: (endpoint: PolicyEndpoint) => AiClient
  queue: Queue
  registry: Pick<RegistryRepository, 'findByIdOrModel'>
  /** The candidate's own demonstrations (an exemplar candidate is its set); none without it. */
  exemplars?: Pick<ExemplarService, 'forReply'> | undefined
  metrics?: GatewayMetrics
  /** Run the shadow worker in this process (with the reply worker). */
  worker: boolean
  /** The hot-swap subscriber: a shadow hint (hotswap.ts SHADOW_MESSAGE) on `channel` re-reads the run at once. */
  subscriber?: Redis
  channel?: string
}

/** Deterministic per message: the same mid is sampled (or not) on every gateway and every retry. */
export function sampled(mid: string, sample: number): boolean {
  return createHash('sha256').update(mid).digest().readUInt32BE(0) / 2 ** 32 < sample
}

/**
 * Shadow answers (issue 19): while a shadow runs, a sample of the DMs the bot answered is put on
 * the `shadow` queue (fire and forget, after the real reply was delivered: it can neither slow nor
 * fail it); a worker with SHADOW_CONCURRENCY asks the candidate the same conversation, never sends
 * the answer, stores it beside the sent one and scores it (embedding similarity to the sent reply,
 * PII, length, the judge when EVAL_JUDGE_MODEL is set). The candidate is asked as it would serve:
 * its own system prompt and, for an exemplar candidate, its own set's demonstrations — the
 * conversation (memory and the customer's message) is the live reply's. Its calls go to the cost
 * ledger (purpose `shadow`); at SHADOW_MAX_USD for the day the answers are skipped until tomorrow
 * (UTC).
 */
export function createShadow(o: ShadowOptions) {
  const { config, logger } = o
  const repo = createShadowRepository(o.pool)
  const erasures = createGdprRepository(o.pool, { pseudonymSecret: config.privacy.pseudonymSecret })
  const prices = createPriceTable(config.openai.prices)
  let live: ShadowRun | null = null
  let timer: NodeJS.Timeout | undefined
  let worker: Worker | undefined
  const count = (result: string) => o.metrics?.shadowAnswers.inc({ result })
  const onMessage = (channel: string, raw: string) => {
    if (channel === o.channel && isShadowMessage(raw)) void refresh()
  }

  async function refresh(): Promise<void> {
    try {
      live = await repo.live()
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'shadow state read failed; keeping it')
    }
  }

  async function score(text: string, p: ShadowPayload) {
    const [a, b] = await o.ai.embed([text, p.sentText], { purpose: 'shadow' })
    const pii = Object.entries(redactPII(text).counts)
      .filter(([, n]) => (n ?? 0) > 0)
      .map(([t]) => t)
    const lastUser = [...p.messages].reverse().find((m) => m.role === 'user')
    const prompt = typeof lastUser?.content === 'string' ? lastUser.content : ''
    const judge = config.eval.judgeModel
      ? (
          await judgeReply(
            o.ai,
            config.eval.judgeModel,
            { prompt, ideal: p.sentText, reply: text },
            'shadow-judge',
          )
        ).score
      : null
    return {
      similarity: a && b ? cosine(a, b) : null,
      pii,
      piiOk: pii.length === 0,
      length: text.length,
      lengthOk: text.length <= MAX_REPLY_CHARS,
      judge,
    }
  }

  /** The live conversation as the candidate would be asked it: its system prompt, its demonstrations. */
  async function candidatePrompt(
    policy: ReturnType<typeof rowToPolicy>,
    p: ShadowPayload,
  ): Promise<OpenAI.Chat.ChatCompletionMessageParam[]> {
    const conversation = (
      p.messages[0]?.role === 'system' ? p.messages.slice(1) : p.messages
    ) as OpenAI.Chat.ChatCompletionMessageParam[]
    const last = p.messages[p.messages.length - 1]
    const demos = o.exemplars
      ? await o.exemplars.forReply({
          policy: policyRef(policy),
          igUserId: p.igUserId,
          text: typeof last?.content === 'string' ? last.content : '',
          hasImage: typeof last?.content !== 'string',
          mid: p.mid,
        })
      : undefined
    return [
      { role: 'system', content: systemPromptOf(policy, config.models.systemPrompt) },
      ...(demos?.messages ?? []),
      ...conversation,
    ]
  }

  async function answer(p: ShadowPayload, enqueuedAt: number): Promise<string> {
    const run = await repo.byId(p.runId)
    if (run?.status !== 'running') return 'stopped'
    // GDPR: a customer erased after this job was queued is not written back.
    const erasedAt = await erasures.lastErasedAt(p.igUserId)
    if (erasedAt !== null && erasedAt >= enqueuedAt) return 'erased'
    if ((await repo.spentTodayUsd()) >= config.rollout.shadow.maxUsdPerDay) {
      count('capped')
      logger.info({ run: run.id, mid: p.mid }, 'shadow answer skipped: SHADOW_MAX_USD reached for today')
      return 'capped'
    }
    const row = await o.registry.findByIdOrModel(run.candidateModel)
    if (!row) throw new UnrecoverableError(`shadow candidate ${run.candidateModel} left the registry`)
    const policy = rowToPolicy(row)
    const { servingModel: model, endpoint } = policy
    const client = endpoint ? o.clientFor(endpoint) : o.ai
    const res = await client.chat(
      {
        model,
        messages: await candidatePrompt(policy, p),
        ...completionLimit(model, config.gateway.replyMaxTokens),
      },
      { purpose: 'shadow', timeoutMs: config.openai.timeoutMs, maxRetries: 0 },
    )
    const text = res.choices[0]?.message?.content?.trim() ?? ''
    const costUsd = prices.costUsd({
      model: res.model ?? model,
      promptTokens: res.usage?.prompt_tokens ?? 0,
      completionTokens: res.usage?.completion_tokens ?? 0,
    })
    const scores = await score(text, p)
    await repo.insertAnswer({
      runId: run.id,
      mid: p.mid,
      igUserId: p.igUserId,
      model,
      content: text,
      sentContent: p.sentText,
      scores,
      costUsd,
    })
    count('stored')
    logger.info(
      { run: run.id, mid: p.mid, similarity: scores.similarity, piiOk: scores.piiOk },
      'shadow answer stored',
    )
    return 'stored'
  }

  return {
    current: () => live,
    refresh,
    /** Called after a reply was delivered: enqueues a shadow answer when sampled. Never throws, never waits. */
    offer(x: ShadowOffer): void {
      const run = live
      if (!run || !sampled(x.mid, run.sample)) return
      const payload: ShadowPayload = {
        runId: run.id,
        ...x,
        messages: x.messages as ShadowPayload['messages'],
      }
      o.queue
        .add(SHADOW_JOB.answer, payload, { ...SHADOW_JOB_OPTIONS, jobId: shadowJobId(run.id, x.mid) })
        .catch((err) => logger.warn({ mid: x.mid, err: (err as Error).message }, 'shadow job not enqueued'))
    },
    async start(): Promise<void> {
      o.subscriber?.on('message', onMessage)
      await refresh()
      timer = setInterval(() => void refresh(), config.models.reconcileIntervalMs)
      timer.unref()
      if (!o.worker) return
      worker = createWorker(
        SHADOW_QUEUE,
        async (job: Job) => {
          const p = ShadowPayloadSchema.safeParse(job.data)
          if (!p.success)
            throw new UnrecoverableError(`invalid shadow payload: ${p.error.issues[0]?.message}`)
          return answer(p.data, job.timestamp).catch((err) => {
            count('error')
            throw err
          })
        },
        { config, logger, workerOptions: { concurrency: config.rollout.shadow.concurrency, autorun: false } },
      )
      worker.run().catch((err) => logger.error({ err: (err as Error).message }, 'shadow worker stopped'))
    },
    async close(): Promise<void> {
      o.subscriber?.off('message', onMessage)
      if (timer) clearInterval(timer)
      await worker?.close()
    },
  }
}

export type Shadow = ReturnType<typeof createShadow>
