import type { GoldItemRow } from '@loopdm/models/gold-items'
import { ValidationError } from '@loopdm/platform/errors'
import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import type { GatewayRouteOptions } from '../route-deps.js'

/**
 * The deployment's gold set (README "Gold set"), under /admin behind the bearer hook:
 * - `POST /admin/gold` `{fromMessageId, idealAnswer?, requiredFacts?}` or `{customerText, idealAnswer,
 *   requiredFacts?}` → 201 with the item; the ideal answer defaults to the human answer that followed
 *   the customer turn. 400 names the bad field; 404 an unknown message; 409 a message already gold.
 * - `GET /admin/gold` → `{items, count}`; `DELETE /admin/gold/:id` → the removed item (404 when none).
 * The optional `x-loopdm-actor` header names the operator (`created_by`, default `admin-api`).
 */
const text = (max: number) => z.string().trim().min(1).max(max)
export const AddGoldBodySchema = z
  .object({
    fromMessageId: z.union([
      z.number().int().positive(),
      z
        .string()
        .regex(/^\d{1,18}$/)
        .transform(Number),
    ]),
    customerText: text(4000),
    idealAnswer: text(4000),
    requiredFacts: z.array(text(200)).max(50),
  })
  .partial()
  .strict()
  .refine((b) => (b.fromMessageId === undefined) !== (b.customerText === undefined), {
    message: 'give exactly one of fromMessageId or customerText',
    path: ['fromMessageId'],
  })
  .refine((b) => b.fromMessageId !== undefined || b.idealAnswer !== undefined, {
    message: 'required with customerText',
    path: ['idealAnswer'],
  })
export type AddGoldBody = z.infer<typeof AddGoldBodySchema>

/** Parses with zod; the 400 names the first bad field: `requiredFacts.1: Too small …`. */
export function parseAddGold(body: unknown): AddGoldBody {
  const r = AddGoldBodySchema.safeParse(body ?? {})
  if (r.success) return r.data
  const issue = r.error.issues[0]
  const field = issue?.path.length ? issue.path.join('.') : 'body'
  const message =
    issue?.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue?.message
  throw new ValidationError(`${field}: ${message ?? 'invalid'}`)
}

const view = (r: GoldItemRow) => ({ ...r, createdAt: r.createdAt.toISOString() })

export const goldRoutes: FastifyPluginAsync<GatewayRouteOptions> = async (app, { deps }) => {
  const { gold } = deps
  app.post<{ Headers: { 'x-loopdm-actor'?: string } }>('/gold', async (req, reply) => {
    const body = parseAddGold(req.body)
    const createdBy = req.headers['x-loopdm-actor']?.trim().slice(0, 200) || 'admin-api'
    const row = await gold.add({ ...body, createdBy })
    return reply.code(201).send(view(row))
  })

  app.get('/gold', async () => {
    const items = await gold.list()
    return { items: items.map(view), count: items.length }
  })

  app.delete<{ Params: { id: string } }>('/gold/:id', async (req) => {
    if (!/^\d{1,18}$/.test(req.params.id))
      throw new ValidationError(`id: bad gold item id "${req.params.id}", expected a positive integer`)
    return view(await gold.remove(Number(req.params.id)))
  })
}
