import type { FastifyInstance } from 'fastify'
import { modelNotFound, OpenAIApiError } from '../errors.js'
import { BASE_MODELS, baseModel } from '../model/catalog.js'
import type { FineTunedModelRecord } from '../state/store.js'
import { isRetired, type LoraAdapterRecord, type RouteContext } from './context.js'

const baseObject = (m: (typeof BASE_MODELS)[number]) => ({
  id: m.id,
  object: 'model' as const,
  created: m.created,
  owned_by: 'system',
})
const ftObject = (m: FineTunedModelRecord) => ({
  id: m.id,
  object: 'model' as const,
  created: m.created,
  owned_by: m.owned_by,
})
/** vLLM lists a LoRA adapter with its path as `root` and the base as `parent`. */
const adapterObject = (m: LoraAdapterRecord) => ({ ...ftObject(m), root: m.path, parent: m.base })

export function modelRoutes(app: FastifyInstance, ctx: RouteContext) {
  app.get('/v1/models', async () => ({
    object: 'list',
    data: [
      ...BASE_MODELS.filter((m) => !isRetired(ctx, m.id)).map(baseObject),
      ...[...ctx.store.models.values()].map(ftObject),
      ...[...ctx.loraAdapters.values()].map(adapterObject),
    ],
  }))

  app.get<{ Params: { id: string } }>('/v1/models/:id', async (req) => {
    const base = baseModel(req.params.id)
    if (base && isRetired(ctx, base.id)) throw modelNotFound(base.id)
    if (base) return baseObject(base)
    const adapter = ctx.loraAdapters.get(req.params.id)
    if (adapter) return adapterObject(adapter)
    const ft = ctx.store.models.get(req.params.id)
    if (!ft) throw modelNotFound(req.params.id)
    return ftObject(ft)
  })

  app.delete<{ Params: { id: string } }>('/v1/models/:id', async (req) => {
    const { id } = req.params
    if (baseModel(id)) {
      throw new OpenAIApiError(
        403,
        `You have insufficient permissions to delete the model \`${id}\`: only your fine-tuned models can be deleted.`,
        {
          param: 'model',
          code: 'insufficient_permissions',
        },
      )
    }
    if (!ctx.store.deleteModel(id)) throw modelNotFound(id)
    ctx.logger?.info({ model: id }, 'fine-tuned model deleted')
    return { id, object: 'model', deleted: true }
  })
}
