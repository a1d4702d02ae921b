import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { invalidRequest, notFound } from '../errors.js'
import type { FileRecord } from '../state/store.js'
import { nowSec, type RouteContext } from './context.js'
import { page } from './paging.js'

const PURPOSES = new Set(['fine-tune', 'assistants', 'batch', 'vision', 'user_data', 'evals'])

export const newFileId = () =>
  `file-${randomBytes(16).toString('base64url').replace(/[-_]/g, 'x').slice(0, 22)}`

const noSuchFile = (id: string) => notFound(`No such File object: ${id}`, 'id')

/** Files API: upload (multipart), list, retrieve, delete, download. */
export function fileRoutes(app: FastifyInstance, ctx: RouteContext) {
  app.post('/v1/files', async (req) => {
    if (!req.isMultipart())
      throw invalidRequest("The request must be multipart/form-data with 'file' and 'purpose'.")
    let purpose: string | undefined
    let file: { filename: string; data: Buffer } | undefined
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'file') {
          await part.toBuffer()
          continue
        }
        file = { filename: part.filename, data: await part.toBuffer() }
      } else if (part.fieldname === 'purpose') {
        purpose = String(part.value)
      }
    }
    if (!purpose) throw invalidRequest("Missing required parameter: 'purpose'.", 'purpose')
    if (!PURPOSES.has(purpose))
      throw invalidRequest(
        `'${purpose}' is not one of ${[...PURPOSES].map((p) => `'${p}'`).join(', ')} - 'purpose'`,
        'purpose',
      )
    if (!file) throw invalidRequest("Missing required parameter: 'file'.", 'file')
    if (purpose === 'fine-tune' && !/\.jsonl$/i.test(file.filename))
      throw invalidRequest('Invalid file format for Fine-Tuning API. Must be .jsonl', 'file')
    const rec: FileRecord = {
      id: newFileId(),
      object: 'file',
      bytes: file.data.length,
      created_at: nowSec(ctx),
      filename: file.filename,
      purpose,
      status: 'processed',
      status_details: null,
      expires_at: null,
    }
    ctx.store.putFile(rec, file.data)
    ctx.logger?.info({ file: rec.id, bytes: rec.bytes, purpose }, 'file uploaded')
    return rec
  })

  app.get<{ Querystring: { purpose?: string; after?: string; limit?: string; order?: string } }>(
    '/v1/files',
    async (req) => {
      const q = req.query
      let files = [...ctx.store.files.values()].filter((f) => !f.provider)
      if (q.purpose) files = files.filter((f) => f.purpose === q.purpose)
      return page(files, { after: q.after, limit: q.limit, order: q.order, defaultLimit: 10_000 })
    },
  )

  app.get<{ Params: { id: string } }>('/v1/files/:id', async (req) => {
    const f = ctx.store.files.get(req.params.id)
    if (!f || f.provider) throw noSuchFile(req.params.id)
    return f
  })

  app.get<{ Params: { id: string } }>('/v1/files/:id/content', async (req, reply) => {
    const content = ctx.store.fileContent(req.params.id)
    if (!content) throw noSuchFile(req.params.id)
    return reply.type('application/octet-stream').send(content)
  })

  app.delete<{ Params: { id: string } }>('/v1/files/:id', async (req) => {
    if (!ctx.store.deleteFile(req.params.id)) throw noSuchFile(req.params.id)
    return { id: req.params.id, object: 'file', deleted: true }
  })
}
