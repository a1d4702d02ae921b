import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { validateFineTuneFile } from '../fine-tune/validate.js'
import type { RouteContext } from '../routes/context.js'

/**
 * vLLM's runtime LoRA API (`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`): `POST /v1/load_lora_adapter
 * {lora_name, lora_path, load_inplace?}` and `POST /v1/unload_lora_adapter {lora_name}`, also
 * served without the `/v1` prefix. Success is plain text like vLLM's; errors are vLLM's
 * `{"error":{message,type,param,code}}` with a numeric code. A loaded adapter is listed in
 * `/v1/models` (`root` = its path, `parent` = the base) and answers `/v1/chat/completions` by
 * nearest neighbour over its training file. Convention: openai-local's "adapter" is the training
 * JSONL the tiny test trainer writes as `<lora_path>/train.jsonl`.
 */
export const ADAPTER_TRAINING_FILE = 'train.jsonl'
/** The base vLLM serves adapters on (shown as each adapter's `parent`). */
export const VLLM_BASE_MODEL = 'Qwen/Qwen2.5-1.5B-Instruct'

function vllmError(reply: FastifyReply, status: 400 | 404, message: string) {
  const type = status === 404 ? 'NotFoundError' : 'BadRequestError'
  return reply.code(status).send({ error: { message, type, param: null, code: status } })
}

/** The adapter's training pairs, or why it cannot be loaded (vLLM's messages). */
function readAdapter(name: string, path: string) {
  let content: Buffer
  try {
    content = readFileSync(join(path, ADAPTER_TRAINING_FILE))
  } catch {
    return {
      ok: false as const,
      status: 404 as const,
      message: `Loading lora ${name} failed: No adapter found for ${path}`,
    }
  }
  const r = validateFineTuneFile(content, { tokenLimit: 32_768, model: name, minExamples: 1 })
  if (!r.ok)
    return {
      ok: false as const,
      status: 400 as const,
      message: `Loading lora ${name} failed: ${r.error.message}`,
    }
  return { ok: true as const, pairs: r.pairs }
}

export function vllmLoraRoutes(app: FastifyInstance, ctx: RouteContext) {
  for (const prefix of ['/v1', '']) {
    app.post(`${prefix}/load_lora_adapter`, async (req, reply) => {
      const b = (req.body ?? {}) as Record<string, unknown>
      const name = b.lora_name
      const path = b.lora_path
      if (typeof name !== 'string' || name === '' || typeof path !== 'string' || path === '')
        return vllmError(reply, 400, "Both 'lora_name' and 'lora_path' must be provided.")
      if (ctx.loraAdapters.has(name) && b.load_inplace !== true)
        return vllmError(reply, 400, `The lora adapter '${name}' has already been loaded.`)
      const a = readAdapter(name, path)
      if (!a.ok) return vllmError(reply, a.status, a.message)
      ctx.loraAdapters.set(name, {
        id: name,
        object: 'model',
        created: Math.floor(ctx.now() / 1000),
        owned_by: 'vllm',
        base: VLLM_BASE_MODEL,
        jobId: `lora:${name}`,
        callableAt: 0,
        pairs: a.pairs,
        path,
      })
      ctx.logger?.info({ adapter: name, path, pairs: a.pairs.length }, 'lora adapter loaded')
      return reply
        .type('text/plain; charset=utf-8')
        .send(`Success: LoRA adapter '${name}' added successfully.`)
    })
    app.post(`${prefix}/unload_lora_adapter`, async (req, reply) => {
      const name = ((req.body ?? {}) as Record<string, unknown>).lora_name
      if (typeof name !== 'string' || name === '')
        return vllmError(reply, 400, "'lora_name' needs to be provided to unload a LoRA adapter.")
      if (!ctx.loraAdapters.delete(name))
        return vllmError(reply, 404, `The lora adapter '${name}' cannot be found.`)
      ctx.logger?.info({ adapter: name }, 'lora adapter unloaded')
      return reply
        .type('text/plain; charset=utf-8')
        .send(`Success: LoRA adapter '${name}' removed successfully.`)
    })
  }
}
