import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { invalidRequest, notFound } from '../errors.js'
import { TOGETHER_TOKEN_LIMIT } from '../fine-tune/runner.js'
import { validateFineTuneFile } from '../fine-tune/validate.js'
import { nowSec, type RouteContext } from '../routes/context.js'
import type { FileRecord } from '../state/store.js'

/**
 * Together's Files API under `/together/v1`: the SDK's two-step upload (`POST /files` form →
 * 302 to an upload URL + `x-together-file-id`, then `PUT` of the bytes), the documented one-step
 * `POST /files/upload` (multipart `file`, `file_name`, `purpose`, `file_type`), retrieve, list,
 * delete, content. A `fine-tune` upload is checked on arrival (as Together does); the verdict is
 * the file's `validation_report` and fine-tune creation refuses an invalid file naming the line.
 */
const PURPOSES = new Set(['fine-tune', 'eval', 'eval-sample', 'eval-output', 'eval-summary', 'batch-api'])

export const noSuchTogetherFile = (id: string) => notFound(`File ${id} not found`, 'id')

/** Together's view of a file. */
export function togetherFileView(f: FileRecord) {
  const v = f.validation ?? { valid: true }
  return {
    id: f.id,
    object: 'file' as const,
    created_at: f.created_at,
    filename: f.filename,
    bytes: f.bytes,
    purpose: f.purpose,
    Processed: true,
    FileType: 'jsonl',
    LineCount: v.examples ?? 0,
    processing_status: v.valid ? 'COMPLETED' : 'INVALID_FORMAT',
    validation_report: v.valid
      ? { valid: true, dataset_format: 'conversation' }
      : { valid: false, error: v.error, error_type: 'INVALID_FORMAT' },
  }
}

function checkMeta(purpose: unknown, fileName: unknown, fileType: unknown) {
  if (typeof purpose !== 'string' || !PURPOSES.has(purpose))
    throw invalidRequest(`Invalid purpose ${JSON.stringify(purpose ?? null)}.`, 'purpose')
  if (typeof fileName !== 'string' || fileName === '')
    throw invalidRequest("Missing required parameter: 'file_name'.", 'file_name')
  const type = fileType ?? 'jsonl'
  // openai-local reads JSONL only; Together also takes parquet and csv.
  if (type !== 'jsonl' || !/\.jsonl$/i.test(fileName))
    throw invalidRequest('File type must be .jsonl (openai-local emulates JSONL uploads only).', 'file_type')
  return { purpose, fileName }
}

function storeFile(ctx: RouteContext, id: string, meta: { purpose: string; fileName: string }, data: Buffer) {
  let validation: FileRecord['validation'] = { valid: true }
  if (meta.purpose === 'fine-tune') {
    const r = validateFineTuneFile(data, {
      tokenLimit: TOGETHER_TOKEN_LIMIT,
      model: 'together',
      minExamples: 1,
    })
    validation = r.ok ? { valid: true, examples: r.examples } : { valid: false, error: r.error.message }
  }
  const rec: FileRecord = {
    id,
    object: 'file',
    bytes: data.length,
    created_at: nowSec(ctx),
    filename: meta.fileName,
    purpose: meta.purpose,
    status: 'processed',
    status_details: null,
    expires_at: null,
    provider: 'together',
    validation,
  }
  ctx.store.putFile(rec, data)
  ctx.logger?.info({ file: id, bytes: rec.bytes, valid: validation.valid }, 'together file uploaded')
  return rec
}

const togetherFile = (ctx: RouteContext, id: string) => {
  const f = ctx.store.files.get(id)
  if (f?.provider !== 'together') throw noSuchTogetherFile(id)
  return f
}

export function togetherFileRoutes(app: FastifyInstance, ctx: RouteContext) {
  /** Uploads announced by `POST /files` and not yet `PUT`. */
  const pending = new Map<string, { purpose: string; fileName: string }>()
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(String(body)))),
  )
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  )

  app.post('/together/v1/files', async (req: FastifyRequest, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>
    const meta = checkMeta(b.purpose, b.file_name, b.file_type)
    const id = `file-${randomUUID()}`
    pending.set(id, meta)
    const origin = `${req.protocol}://${req.headers.host ?? req.hostname}`
    return reply
      .code(302)
      .header('location', `${origin}/together/upload/${id}`)
      .header('x-together-file-id', id)
      .send()
  })

  app.put<{ Params: { id: string } }>('/together/upload/:id', async (req, reply) => {
    const meta = pending.get(req.params.id)
    if (!meta) throw noSuchTogetherFile(req.params.id)
    const data = Buffer.isBuffer(req.body) ? req.body : Buffer.from(String(req.body ?? ''))
    pending.delete(req.params.id)
    storeFile(ctx, req.params.id, meta, data)
    return reply.code(200).send()
  })

  app.post('/together/v1/files/upload', async (req) => {
    if (!req.isMultipart()) throw invalidRequest("The request must be multipart/form-data with 'file'.")
    const fields: Record<string, string> = {}
    let data: Buffer | undefined
    let partName: string | undefined
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        const buf = await part.toBuffer()
        if (part.fieldname === 'file') [data, partName] = [buf, part.filename]
      } else fields[part.fieldname] = String(part.value)
    }
    if (!data) throw invalidRequest("Missing required parameter: 'file'.", 'file')
    const meta = checkMeta(fields.purpose, fields.file_name ?? partName, fields.file_type)
    return togetherFileView(storeFile(ctx, `file-${randomUUID()}`, meta, data))
  })

  app.get<{ Params: { id: string } }>('/together/v1/files/:id', async (req) =>
    togetherFileView(togetherFile(ctx, req.params.id)),
  )
  app.get('/together/v1/files', async () => ({
    data: [...ctx.store.files.values()].filter((f) => f.provider === 'together').map(togetherFileView),
  }))
  app.get<{ Params: { id: string } }>('/together/v1/files/:id/content', async (req, reply) => {
    togetherFile(ctx, req.params.id)
    return reply.type('application/octet-stream').send(ctx.store.fileContent(req.params.id))
  })
  app.delete<{ Params: { id: string } }>('/together/v1/files/:id', async (req) => {
    togetherFile(ctx, req.params.id)
    ctx.store.deleteFile(req.params.id)
    return { id: req.params.id, deleted: true }
  })
}
