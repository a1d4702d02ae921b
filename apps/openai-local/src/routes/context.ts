import type { Logger } from '@loopdm/platform/logger'
import { modelNotFound, OpenAIApiError } from '../errors.js'
import type { FaultInjector } from '../faults.js'
import { baseModel, parseFineTunedId } from '../model/catalog.js'
import type { FineTunedModelRecord, Store } from '../state/store.js'

/** What every route module gets. */
export interface RouteContext {
  store: Store
  faults: FaultInjector
  logger?: Logger | undefined
  /** Epoch ms; injectable for tests. */
  now: () => number
}

export interface ResolvedChatModel {
  id: string
  /** The base model whose policy (and vision support) applies. */
  base: string
  vision: boolean
  fineTuned?: FineTunedModelRecord
}

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
    return { id, base: id, vision: base.vision }
  }
  const ft = ctx.store.models.get(id)
  if (!ft) throw modelNotFound(id)
  if (ctx.now() < ft.callableAt) {
    throw new OpenAIApiError(
      404,
      `The model \`${id}\` is not yet available. Please try again in a few minutes.`,
      {
        param: 'model',
        code: 'model_not_found',
      },
    )
  }
  const parsedBase = ft.base || parseFineTunedId(id)?.base || 'gpt-4o-mini'
  return { id, base: parsedBase, vision: baseModel(parsedBase)?.vision ?? false, fineTuned: ft }
}

export const nowSec = (ctx: RouteContext) => Math.floor(ctx.now() / 1000)
