import { randomUUID } from 'node:crypto'
import { ValidationError } from '@loopdm/platform/errors'
import {
  CLEANUP_JOB,
  CLEANUP_JOB_OPTIONS,
  CleanupPayloadSchema,
  EVALUATE_JOB_OPTIONS,
  EvaluatePayloadSchema,
  EXPORT_JOB_OPTIONS,
  ExportPayloadSchema,
  evaluateJobId,
  safeJobId,
  TUNE_JOB,
  TUNE_JOB_OPTIONS,
  TunePayloadSchema,
} from '@loopdm/queues/contracts'
import type { JobsOptions } from 'bullmq'
import type { FastifyPluginAsync } from 'fastify'
import type { z } from 'zod'
import type { GatewayRouteOptions } from '../route-deps.js'

interface ManualJobSpec {
  schema: z.ZodType
  names: readonly string[]
  options: JobsOptions
  /** Deterministic id where the queue contract derives one from the payload; else a unique one. */
  jobId: (payload: Record<string, unknown>, queue: string) => string
}

const unique = (_p: Record<string, unknown>, queue: string) => safeJobId(queue, 'manual', randomUUID())

export const MANUAL_JOBS: Record<'export' | 'tune' | 'evaluate' | 'cleanup', ManualJobSpec> = {
  export: { schema: ExportPayloadSchema, names: ['export'], options: EXPORT_JOB_OPTIONS, jobId: unique },
  tune: { schema: TunePayloadSchema, names: [TUNE_JOB.tune], options: TUNE_JOB_OPTIONS, jobId: unique },
  evaluate: {
    schema: EvaluatePayloadSchema,
    names: ['evaluate'],
    options: EVALUATE_JOB_OPTIONS,
    jobId: (p) => evaluateJobId(String(p.candidate)),
  },
  cleanup: {
    schema: CleanupPayloadSchema,
    names: [CLEANUP_JOB.retention, CLEANUP_JOB.retireModels],
    options: CLEANUP_JOB_OPTIONS,
    jobId: unique,
  },
}

/**
 * POST /admin/jobs/:queue — enqueue a manual job on export|tune|evaluate|cleanup. The body is the
 * payload, validated by the queue's shared zod schema (`trigger` defaults to `manual`); `?name=`
 * picks the job name where a queue has several (cleanup: retention | retire-models).
 */
export const jobsRoutes: FastifyPluginAsync<GatewayRouteOptions> = async (app, { deps }) => {
  app.post<{ Params: { queue: keyof typeof MANUAL_JOBS }; Querystring: { name?: string }; Body: unknown }>(
    '/jobs/:queue',
    {
      schema: {
        params: {
          type: 'object',
          required: ['queue'],
          properties: { queue: { type: 'string', enum: Object.keys(MANUAL_JOBS) } },
        },
        querystring: { type: 'object', properties: { name: { type: 'string' } } },
        response: {
          202: {
            type: 'object',
            properties: { queue: { type: 'string' }, name: { type: 'string' }, jobId: { type: 'string' } },
          },
        },
      },
    },
    async (req, reply) => {
      const spec = MANUAL_JOBS[req.params.queue]
      const name = req.query.name ?? spec.names[0] ?? req.params.queue
      if (!spec.names.includes(name))
        throw new ValidationError(`name: expected one of ${spec.names.join('|')}, got "${name}"`)
      const body = req.body ?? {}
      const parsed = spec.schema.safeParse({ trigger: 'manual', ...(typeof body === 'object' ? body : {}) })
      if (!parsed.success || typeof body !== 'object' || Array.isArray(body)) {
        const issue = parsed.success ? undefined : parsed.error.issues[0]
        throw new ValidationError(
          issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'body: expected a JSON object',
        )
      }
      const payload = parsed.data as Record<string, unknown>
      const jobId = spec.jobId(payload, req.params.queue)
      await deps.queues[req.params.queue].add(name, payload, { ...spec.options, jobId })
      req.log.info({ queue: req.params.queue, name, jobId }, 'manual job enqueued')
      return reply.code(202).send({ queue: req.params.queue, name, jobId })
    },
  )
}
