import { randomUUID } from 'node:crypto'
import { ValidationError } from '@loopdm/platform/errors'
import {
  EVALUATE_JOB,
  EVALUATE_JOB_OPTIONS,
  EvaluatePayloadSchema,
  EXPORT_JOB,
  EXPORT_JOB_OPTIONS,
  ExportPayloadSchema,
  evaluateJobId,
  manualJobId,
  type QueueName,
  RETENTION_JOB,
  RETENTION_JOB_OPTIONS,
  RETENTION_QUEUE,
  RETIREMENT_JOB,
  RETIREMENT_JOB_OPTIONS,
  RETIREMENT_QUEUE,
  RetentionPayloadSchema,
  RetirementPayloadSchema,
  TUNE_JOB,
  TUNE_JOB_OPTIONS,
  TunePayloadSchema,
} from '@loopdm/queues/contracts'
import { fileInsideExportDir } from '@loopdm/training-data/export-layout'
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

const unique = (_p: Record<string, unknown>, queue: string) => manualJobId(queue, randomUUID())

type ManualQueue = 'export' | 'tune' | 'evaluate' | typeof RETENTION_QUEUE | typeof RETIREMENT_QUEUE

export const MANUAL_JOBS: Record<ManualQueue, ManualJobSpec> = {
  export: {
    schema: ExportPayloadSchema,
    names: [EXPORT_JOB.export],
    options: EXPORT_JOB_OPTIONS,
    jobId: unique,
  },
  tune: { schema: TunePayloadSchema, names: [TUNE_JOB.tune], options: TUNE_JOB_OPTIONS, jobId: unique },
  evaluate: {
    schema: EvaluatePayloadSchema,
    names: [EVALUATE_JOB.evaluate],
    options: EVALUATE_JOB_OPTIONS,
    jobId: (p) => evaluateJobId(String(p.candidate)),
  },
  retention: {
    schema: RetentionPayloadSchema,
    names: [RETENTION_JOB.retention],
    options: RETENTION_JOB_OPTIONS,
    jobId: unique,
  },
  retirement: {
    schema: RetirementPayloadSchema,
    names: [RETIREMENT_JOB.retireModels],
    options: RETIREMENT_JOB_OPTIONS,
    jobId: unique,
  },
}

/**
 * `cleanup` is the old name of the monthly clean-up, kept as an alias: it enqueues on both the
 * `retention` and the `retirement` queue (`?name=retention|retire-models` picks one).
 */
export const CLEANUP_ALIAS = 'cleanup'
const CLEANUP_TARGETS: ReadonlyArray<{ queue: ManualQueue; name: string }> = [
  { queue: RETENTION_QUEUE, name: RETENTION_JOB.retention },
  { queue: RETIREMENT_QUEUE, name: RETIREMENT_JOB.retireModels },
]

type RequestedQueue = ManualQueue | typeof CLEANUP_ALIAS
type Enqueued = { queue: string; name: string; jobId: string }

function parsePayload(spec: ManualJobSpec, body: unknown): Record<string, unknown> {
  const b = body ?? {}
  const parsed = spec.schema.safeParse({ trigger: 'manual', ...(typeof b === 'object' ? b : {}) })
  if (!parsed.success || typeof b !== 'object' || Array.isArray(b)) {
    const issue = parsed.success ? undefined : parsed.error.issues[0]
    throw new ValidationError(
      issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'body: expected a JSON object',
    )
  }
  return parsed.data as Record<string, unknown>
}

/**
 * `POST /admin/jobs/tune {"file"}` reads only files under EXPORT_DIR: anything else (`..`, an
 * absolute path elsewhere, a symlink out) is a 400 naming the file, and nothing is enqueued.
 */
function confineTrainingFile(payload: Record<string, unknown>, exportDir: string): void {
  if (typeof payload.file !== 'string') return
  const inside = fileInsideExportDir(exportDir, payload.file)
  if (!inside)
    throw new ValidationError(`file: "${payload.file}" is not inside EXPORT_DIR (${exportDir}); refused`)
  payload.file = inside
}

/** The (queue, job name) pairs a request enqueues; a name the queue lacks is a 400. */
function targetsOf(
  queue: RequestedQueue,
  name: string | undefined,
): Array<{ queue: ManualQueue; name: string }> {
  if (queue === CLEANUP_ALIAS) {
    const all = CLEANUP_TARGETS.map((t) => t.name)
    if (name !== undefined && !all.includes(name))
      throw new ValidationError(`name: expected one of ${all.join('|')}, got "${name}"`)
    return CLEANUP_TARGETS.filter((t) => name === undefined || t.name === name)
  }
  const spec = MANUAL_JOBS[queue]
  const picked = name ?? spec.names[0] ?? queue
  if (!spec.names.includes(picked))
    throw new ValidationError(`name: expected one of ${spec.names.join('|')}, got "${picked}"`)
  return [{ queue, name: picked }]
}

const enqueuedSchema = {
  type: 'object',
  properties: { queue: { type: 'string' }, name: { type: 'string' }, jobId: { type: 'string' } },
} as const

/**
 * POST /admin/jobs/:queue — enqueue a manual job on export|tune|evaluate|retention|retirement, or
 * on `cleanup` (an alias: retention and retirement both). The body is the payload, validated by
 * the queue's shared zod schema (`trigger` defaults to `manual`); `?name=` picks the job name where
 * a request has several (cleanup: retention | retire-models). The answer names the requested queue
 * and the first job; `jobs` lists every job enqueued.
 */
export const jobsRoutes: FastifyPluginAsync<GatewayRouteOptions> = async (app, { deps }) => {
  app.post<{ Params: { queue: RequestedQueue }; Querystring: { name?: string }; Body: unknown }>(
    '/jobs/:queue',
    {
      schema: {
        params: {
          type: 'object',
          required: ['queue'],
          properties: { queue: { type: 'string', enum: [...Object.keys(MANUAL_JOBS), CLEANUP_ALIAS] } },
        },
        querystring: { type: 'object', properties: { name: { type: 'string' } } },
        response: {
          202: {
            type: 'object',
            properties: { ...enqueuedSchema.properties, jobs: { type: 'array', items: enqueuedSchema } },
          },
        },
      },
    },
    async (req, reply) => {
      // Every payload is validated before anything is enqueued, so a bad body enqueues nothing.
      const planned = targetsOf(req.params.queue, req.query.name).map((t) => {
        const spec = MANUAL_JOBS[t.queue]
        const payload = parsePayload(spec, req.body)
        if (t.queue === 'tune') confineTrainingFile(payload, deps.config.export.dir)
        return { ...t, spec, payload }
      })
      const jobs: Enqueued[] = []
      for (const t of planned) {
        const jobId = t.spec.jobId(t.payload, t.queue)
        await deps.queues[t.queue as QueueName].add(t.name, t.payload, { ...t.spec.options, jobId })
        req.log.info({ queue: t.queue, name: t.name, jobId }, 'manual job enqueued')
        jobs.push({ queue: t.queue, name: t.name, jobId })
      }
      const first = jobs[0] as Enqueued
      return reply.code(202).send({ queue: req.params.queue, name: first.name, jobId: first.jobId, jobs })
    },
  )
}
