import { endpointKey, type PolicyEndpoint, type PolicyRef } from '@loopdm/models/policy'
import type { ActiveModel, RegistryRepository } from '@loopdm/models/registry'
import { completionLimit } from '@loopdm/platform/capabilities'
import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import type { AiClient, OpenAI } from '@loopdm/platform/openai'
import type { GatewayMetrics } from '../metrics.js'

export type RouteReason = 'image' | 'active' | 'base' | 'circuit-open' | 'fallback'

export interface RouteDecision {
  model: string
  reason: RouteReason
  /** The active policy when it answers (reason `active`); its endpoint picks the client. */
  policy?: PolicyRef | undefined
}

export interface ModelRouterOptions {
  config: Pick<Config, 'models' | 'openai' | 'gateway'>
  ai: AiClient
  logger: Logger
  registry: Pick<RegistryRepository, 'listByStatus'>
  metrics?: GatewayMetrics
  /** How long a failing model is skipped after an error; default 60 000 ms. */
  circuitCooldownMs?: number
  /** Timeout for a fine-tuned model's completion before falling back; default 20 000 ms. */
  fineTunedTimeoutMs?: number
  /** Reply length cap in tokens; default REPLY_MAX_TOKENS (400). */
  maxTokens?: number
  clock?: () => number
  /**
   * The client for a policy served at another OpenAI-compatible endpoint (`policy.endpoint`,
   * e.g. via createEndpointClient); called once per endpoint and cached. Default: `ai` for all.
   */
  clientFor?: (endpoint: PolicyEndpoint) => AiClient
}

export interface CompletionResult {
  text: string
  model: string
  reason: RouteReason
  /** The model that failed before the fallback answered, if any. */
  fellBackFrom?: string
}

export interface ListedModel {
  model: string
  role: 'vision' | 'base' | 'active' | 'candidate'
  status?: string
  circuitOpen: boolean
}

type Messages = OpenAI.Chat.ChatCompletionMessageParam[]

/**
 * Picks the model for each reply: an image goes to VISION_MODEL; otherwise the active model
 * (captured by the caller at the start of the reply) when one is active and its circuit is
 * closed, else BASE_MODEL. A failing active model (error, timeout, 404 after deletion) opens its
 * circuit for a cool-down and the same reply is retried on BASE_MODEL, so the DM is still answered.
 */
export class ModelRouter {
  private readonly openUntil = new Map<string, number>()
  private readonly clock: () => number
  private readonly clients = new Map<string, AiClient>()

  constructor(private readonly opts: ModelRouterOptions) {
    this.clock = opts.clock ?? Date.now
  }

  select(args: { hasImage: boolean; active: ActiveModel | null }): RouteDecision {
    const { base, vision } = this.opts.config.models
    let d: RouteDecision
    if (args.hasImage) d = { model: vision, reason: 'image' }
    // No active model (or only a control-arm tag over none): the base model answers.
    else if (!args.active?.model) d = { model: base, reason: 'base' }
    else {
      const serving = args.active.policy?.servingModel ?? args.active.model
      if (this.circuitOpen(serving)) d = { model: base, reason: 'circuit-open' }
      else d = { model: serving, reason: 'active', policy: args.active.policy }
    }
    this.logSelected(d, args.active)
    return d
  }

  /** Completes `messages` on the selected model, falling back to BASE_MODEL if the active one fails. */
  async complete(args: {
    messages: Messages
    hasImage: boolean
    active: ActiveModel | null
    mid?: string
  }): Promise<CompletionResult> {
    const d = this.select(args)
    const base = this.opts.config.models.base
    const onDefault = !d.policy?.endpoint
    if (d.reason !== 'active' || (d.model === base && onDefault)) {
      return { text: await this.call(d.model, args.messages, {}, d.policy?.endpoint), ...d }
    }
    try {
      return {
        text: await this.call(
          d.model,
          args.messages,
          {
            timeoutMs: this.opts.fineTunedTimeoutMs ?? 20_000,
            maxRetries: 0,
          },
          d.policy?.endpoint,
        ),
        ...d,
      }
    } catch (err) {
      this.openCircuit(d.model)
      this.opts.metrics?.fallbacks.inc({ from: d.model, to: base })
      this.opts.logger.warn(
        { model: d.model, fallback: base, mid: args.mid, err: errorSummary(err) },
        'model failed; falling back to the base model',
      )
      const fb: RouteDecision = { model: base, reason: 'fallback' }
      this.logSelected(fb, args.active)
      return { text: await this.call(base, args.messages), ...fb, fellBackFrom: d.model }
    }
  }

  circuitOpen(model: string): boolean {
    const until = this.openUntil.get(model)
    if (until === undefined) return false
    if (this.clock() >= until) {
      this.openUntil.delete(model)
      return false
    }
    return true
  }

  openCircuit(model: string): void {
    this.openUntil.set(model, this.clock() + (this.opts.circuitCooldownMs ?? 60_000))
  }

  /** Vision, base, the active model and the candidates (registry), each once. */
  async getAllModels(active: ActiveModel | null): Promise<ListedModel[]> {
    const { base, vision } = this.opts.config.models
    const out: ListedModel[] = [
      { model: vision, role: 'vision', circuitOpen: this.circuitOpen(vision) },
      { model: base, role: 'base', circuitOpen: this.circuitOpen(base) },
    ]
    if (active) out.push({ model: active.model, role: 'active', circuitOpen: this.circuitOpen(active.model) })
    const candidates = await this.opts.registry.listByStatus(['candidate', 'approved_pending'])
    for (const c of candidates)
      out.push({
        model: c.model,
        role: 'candidate',
        status: c.status,
        circuitOpen: this.circuitOpen(c.model),
      })
    const seen = new Set<string>()
    return out.filter((m) => {
      const k = `${m.role}:${m.model}`
      if (seen.has(k)) return false
      seen.add(k)
      return true
    })
  }

  private logSelected(d: RouteDecision, active: ActiveModel | null) {
    this.opts.metrics?.modelSelected.inc({ model: d.model, reason: d.reason })
    const p = active?.policy
    this.opts.logger.info(
      {
        model: d.model,
        reason: d.reason,
        activeVersion: active?.version ?? 0,
        // The policy that answers (null: the base or vision model, no learned policy).
        policy: d.reason === 'active' ? (p?.id ?? null) : null,
        policyVersion: d.reason === 'active' ? (p?.version ?? active?.version ?? null) : null,
        learner: d.reason === 'active' ? (p?.learner ?? null) : 'base',
        exemplarSet: d.reason === 'active' ? (p?.exemplarSetId ?? null) : null,
        // The canary arm this reply is on (null: no canary runs).
        arm: active?.canary?.arm ?? null,
        canaryRun: active?.canary?.runId ?? null,
      },
      'Selected Model',
    )
  }

  /** The client serving `endpoint` (one per endpoint, cached); the process's client by default. */
  private clientOf(endpoint: PolicyEndpoint | null | undefined): AiClient {
    if (!endpoint || !this.opts.clientFor) return this.opts.ai
    const key = endpointKey(endpoint)
    let c = this.clients.get(key)
    if (!c) {
      c = this.opts.clientFor(endpoint)
      this.clients.set(key, c)
    }
    return c
  }

  private async call(
    model: string,
    messages: Messages,
    meta: { timeoutMs?: number; maxRetries?: number } = {},
    endpoint?: PolicyEndpoint | null,
  ): Promise<string> {
    // Explicit values: the SDK rejects an `undefined` per-request timeout.
    const res = await this.clientOf(endpoint).chat(
      {
        model,
        messages,
        ...completionLimit(model, this.opts.maxTokens ?? this.opts.config.gateway.replyMaxTokens),
      },
      {
        purpose: 'reply',
        timeoutMs: meta.timeoutMs ?? this.opts.config.openai.timeoutMs,
        maxRetries: meta.maxRetries ?? this.opts.config.openai.maxRetries,
      },
    )
    const text = res.choices[0]?.message?.content?.trim() ?? ''
    if (!text) throw new EmptyCompletionError(`model ${model} returned an empty reply`)
    return text
  }
}

export class EmptyCompletionError extends Error {
  override name = 'EmptyCompletionError'
}

function errorSummary(err: unknown): string {
  const e = err as { status?: number; message?: string; name?: string }
  return e.status
    ? `${e.status} ${e.message ?? ''}`.trim()
    : `${e.name ?? 'Error'}: ${e.message ?? String(err)}`
}
