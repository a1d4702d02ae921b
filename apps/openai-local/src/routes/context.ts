import type { Logger } from '@loopdm/platform/logger'
import { modelNotFound, OpenAIApiError } from '../errors.js'
import type { FaultInjector } from '../faults.js'
import { baseModel, isShutDown, parseFineTunedId } from '../model/catalog.js'
import type { FineTunedModelRecord, Store } from '../state/store.js'

/** What every route module gets. */
export interface RouteContext {
  store: Store
  faults: FaultInjector
  logger?: Logger | undefined
  /** Epoch ms; injectable for tests. */
  now: () => number
  /** Apply OpenAI's shutdowns (catalog `SHUTDOWNS`) and today's fine-tunable bases; default true. */
  retiredModels: boolean
  /** vLLM LoRA adapters loaded at runtime (`/v1/load_lora_adapter`), by `lora_name`; not persisted. */
  loraAdapters: Map<string, LoraAdapterRecord>
}

/** A vLLM adapter: a model record plus the `lora_path` it was loaded from. */
export interface LoraAdapterRecord extends FineTunedModelRecord {
  path: string
}

export interface ResolvedChatModel {
  id: string
  /** The base model whose policy (and vision support) applies. */
  base: string
  vision: boolean
  /** Reasoning model rules apply (no `max_tokens`, `temperature` only 1). */
  reasoning: boolean
  fineTuned?: FineTunedModelRecord
}

/** Whether base model `id` is gone (404) in this server's world. */
export const isRetired = (ctx: RouteContext, id: string) => ctx.retiredModels && isShutDown(id, ctx.now())

/** The chat model `id` names, or the OpenAI error using it would raise. */
export function resolveChatModel(ctx: RouteContext, id: string): ResolvedChatModel {
  const base = baseModel(id)
  if (base) {
    if (base.kind !== 'chat') {
      throw new OpenAIApiError(
        404,
        'This is not a chat model and thus not supported in the v1/chat/completions endpoint. Did you mean to use v1/embeddings?',
        { param: 'model', code: null },
      )
    }
    if (isRetired(ctx, id)) throw modelNotFound(id)
    return { id, base: id, vision: base.vision, reasoning: base.reasoning === true }
  }
  const adapter = ctx.loraAdapters.get(id)
  if (adapter) return { id, base: adapter.base, vision: false, reasoning: false, fineTuned: adapter }
  const ft = ctx.store.models.get(id)
  if (!ft) throw modelNotFound(id)
  if (ctx.now() < ft.callableAt) {
    throw new OpenAIApiError(
      404,
      `The model \`${id}\` is not yet available. Please try again in a few minutes.`,
      { param: 'model', code: 'model_not_found' },
    )
  }
  const parsedBase = ft.base || parseFineTunedId(id)?.base || 'gpt-4o-mini'
  // A fine-tuned model goes with its base's shutdown.
  if (isRetired(ctx, parsedBase)) throw modelNotFound(id)
  const b = baseModel(parsedBase)
  return {
    id,
    base: parsedBase,
    vision: b?.vision ?? false,
    reasoning: b?.reasoning === true,
    fineTuned: ft,
  }
}

export const nowSec = (ctx: RouteContext) => Math.floor(ctx.now() / 1000)
