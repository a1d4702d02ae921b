/** JSON schemas several admin routes share. */

/** `:id` of a candidate / policy (numeric id, model id or policy key). */
export const IdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 300 } },
} as const

/** An optional `{ reason?, actor? }` body (promote, reject, rollback, stop). */
export const ReasonActorBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    reason: { type: 'string', minLength: 1, maxLength: 500 },
    actor: { type: 'string', minLength: 1, maxLength: 100 },
  },
} as const
