import type { JobsOptions } from 'bullmq'
import { z } from 'zod'

/**
 * One contract per queue: name (no ':'), zod payloads per job name, default job options and the
 * deterministic job-id builder. Producers and processors import the same contract.
 */

/** BullMQ forbids ':' in custom ids; ids are otherwise kept readable. */
export function safeJobId(...parts: string[]): string {
  return parts.map((p) => p.replace(/:/g, '_')).join('-')
}

// ── dm (gateway) ─────────────────────────────────────────────────────────────
export const DM_QUEUE = 'dm'
export const DmAttachmentSchema = z.object({
  type: z.enum([
    'image',
    'video',
    'audio',
    'file',
    'share',
    'story_mention',
    'reel',
    'post',
    'sticker',
    'other',
  ]),
  url: z.string().optional(),
  /** Caption/title Meta gives for shares, reels and posts. */
  title: z.string().optional(),
})
/** What Meta delivered with a message besides its text (given to the model as context). */
export const DmContextSchema = z.object({
  /** The earlier message (`mid`) or story (`storyId`/`storyUrl`) the customer replied to. */
  replyTo: z
    .object({ mid: z.string().optional(), storyId: z.string().optional(), storyUrl: z.string().optional() })
    .optional(),
  /** The payload of a tapped quick reply. */
  quickReply: z.string().optional(),
  /** A postback (ice breaker, button): its developer payload. */
  postback: z.string().optional(),
  /** An ad / ig.me link referral. */
  referral: z
    .object({
      source: z.string().optional(),
      type: z.string().optional(),
      ref: z.string().optional(),
      adId: z.string().optional(),
      adTitle: z.string().optional(),
    })
    .optional(),
})
export type DmContext = z.infer<typeof DmContextSchema>
export const DmMessagePayloadSchema = z.object({
  mid: z.string().min(1),
  /** The customer (sender) id. */
  igUserId: z.string().min(1),
  /** Our Instagram account id (the recipient of the customer's message). */
  igAccountId: z.string().min(1),
  text: z.string().default(''),
  attachments: z.array(DmAttachmentSchema).default([]),
  /** `postback`: an ice-breaker or button tap (text = its title). Default `message`. */
  source: z.enum(['message', 'postback']).optional(),
  context: DmContextSchema.optional(),
  /** Meta's timestamp (ms since epoch). */
  timestamp: z.number().int(),
  receivedAt: z.number().int(),
})
export type DmMessagePayload = z.infer<typeof DmMessagePayloadSchema>
/** An echo: a message our account sent (by the gateway, or by staff in the Instagram app). */
export const DmEchoPayloadSchema = z.object({
  mid: z.string().min(1),
  /** The customer (the echo's recipient). */
  igUserId: z.string().min(1),
  igAccountId: z.string().min(1),
  text: z.string().default(''),
  attachments: z.array(DmAttachmentSchema).default([]),
  timestamp: z.number().int(),
  receivedAt: z.number().int(),
})
export type DmEchoPayload = z.infer<typeof DmEchoPayloadSchema>
/** The customer edited (`edit`, with the new text) or unsent (`delete`) one of their messages. */
export const DmChangePayloadSchema = z.object({
  kind: z.enum(['edit', 'delete']),
  mid: z.string().min(1),
  igUserId: z.string().min(1),
  igAccountId: z.string().min(1),
  text: z.string().optional(),
  timestamp: z.number().int(),
  receivedAt: z.number().int(),
})
export type DmChangePayload = z.infer<typeof DmChangePayloadSchema>
export const DmReactionPayloadSchema = z.object({
  mid: z.string().min(1),
  igUserId: z.string().min(1),
  igAccountId: z.string().min(1),
  action: z.enum(['react', 'unreact']),
  reaction: z.string().optional(),
  emoji: z.string().optional(),
  timestamp: z.number().int(),
})
export type DmReactionPayload = z.infer<typeof DmReactionPayloadSchema>
export const DM_JOB = { message: 'message', reaction: 'reaction', echo: 'echo', change: 'change' } as const
export const dmJobId = (mid: string) => safeJobId('dm', mid)
export const dmReactionJobId = (mid: string, action: string, ts: number) =>
  safeJobId('reaction', mid, action, String(ts))
export const dmEchoJobId = (mid: string) => safeJobId('echo', mid)
export const dmChangeJobId = (kind: string, mid: string, ts: number) => safeJobId(kind, mid, String(ts))
/**
 * A message job's retries are time-based (apps/gateway/src/jobs/dm-retry.ts: capped backoff until
 * the DM is DM_MAX_AGE_MS old, via moveToDelayed, spending no attempt). `attempts` only bounds
 * errors that escape that policy (e.g. Redis gone while the job is being delayed).
 */
export const DM_JOB_OPTIONS: JobsOptions = {
  attempts: 20,
  backoff: { type: 'exponential', delay: 1000 },
  // Meta re-delivers for up to 36 h: a completed job's id must outlive that to deduplicate.
  removeOnComplete: { age: 48 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
}

// ── export (exporter) ────────────────────────────────────────────────────────
export const EXPORT_QUEUE = 'export'
export const ExportPayloadSchema = z.object({
  trigger: z.enum(['cron', 'manual', 'demo']).default('manual'),
  /** ISO-8601; backfill bounds. Without them the run starts at the watermark. */
  since: z.string().datetime({ offset: true }).optional(),
  until: z.string().datetime({ offset: true }).optional(),
  dryRun: z.boolean().default(false),
  /** YYYY-MM-DD of the daily file; default today (TZ). */
  date: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/)
    .optional(),
})
export type ExportPayload = z.infer<typeof ExportPayloadSchema>
export const EXPORT_JOB = { export: 'export' } as const
export const exportJobId = (date: string, suffix = '') => safeJobId('export', date + suffix)
export const EXPORT_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 30_000 },
  removeOnComplete: { age: 30 * 24 * 3600 },
  removeOnFail: { age: 30 * 24 * 3600 },
}

// ── tune (tuner) ─────────────────────────────────────────────────────────────
export const TUNE_QUEUE = 'tune'
export const TunePayloadSchema = z.object({
  trigger: z.enum(['cron', 'manual', 'export', 'demo']).default('manual'),
  /** Explicit training file; default per FT_TRAINING_DATA. */
  file: z.string().optional(),
  dryRun: z.boolean().default(false),
})
export type TunePayload = z.infer<typeof TunePayloadSchema>
export const TunePollPayloadSchema = z.object({ finetuneJobId: z.string().min(1) })
export type TunePollPayload = z.infer<typeof TunePollPayloadSchema>
export const TUNE_JOB = { tune: 'tune', poll: 'poll' } as const
/** The tune an export chains for its date (the tuner then dedupes by the training file's hash). */
export const tuneAfterExportJobId = (date: string) => safeJobId('tune', 'export', date)
/** Deterministic from the training file's sha256: two triggers for the same data → one job. */
export const tuneJobId = (fileSha256: string) => safeJobId('tune', fileSha256)
/** The one poll job of a fine-tune (it re-delays itself until the provider job is terminal). */
export const tunePollJobId = (fileSha256: string) => safeJobId('tune-poll', fileSha256)
export const TUNE_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 90 * 24 * 3600 },
  removeOnFail: { age: 90 * 24 * 3600 },
}

// ── evaluate (evaluator) ─────────────────────────────────────────────────────
export const EVALUATE_QUEUE = 'evaluate'
export const EvaluatePayloadSchema = z.object({
  trigger: z.enum(['tune', 'manual', 'demo']).default('manual'),
  /** Candidate model id (ft:…) or registry id. */
  candidate: z.string().min(1),
})
export type EvaluatePayload = z.infer<typeof EvaluatePayloadSchema>
export const EVALUATE_JOB = { evaluate: 'evaluate' } as const
export const evaluateJobId = (candidate: string) => safeJobId('evaluate', candidate)
export const EVALUATE_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 10_000 },
  removeOnComplete: { age: 90 * 24 * 3600 },
  removeOnFail: { age: 90 * 24 * 3600 },
}

// ── retention (exporter: data retention of the export directory) ─────────────
export const RETENTION_QUEUE = 'retention'
export const RETENTION_JOB = { retention: 'retention' } as const
export const RetentionPayloadSchema = z.object({
  trigger: z.enum(['cron', 'manual']).default('manual'),
  /** List what would go; change nothing. */
  dryRun: z.boolean().default(false),
})
export type RetentionPayload = z.infer<typeof RetentionPayloadSchema>
export const RETENTION_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 60_000 },
  removeOnComplete: { age: 90 * 24 * 3600 },
  removeOnFail: { age: 90 * 24 * 3600 },
}

// ── retirement (tuner: model retirement + the monthly report) ──────────────
export const RETIREMENT_QUEUE = 'retirement'
export const RETIREMENT_JOB = { retireModels: 'retire-models' } as const
export const RetirementPayloadSchema = z.object({
  trigger: z.enum(['cron', 'manual']).default('manual'),
  /** List what would be deleted; delete nothing (the report is still written). */
  dryRun: z.boolean().default(false),
})
export type RetirementPayload = z.infer<typeof RetirementPayloadSchema>
export const RETIREMENT_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 60_000 },
  removeOnComplete: { age: 90 * 24 * 3600 },
  removeOnFail: { age: 90 * 24 * 3600 },
}

// ── shadow (gateway: a candidate answers a sample of live DMs, never sent) ────
export const SHADOW_QUEUE = 'shadow'
export const SHADOW_JOB = { answer: 'answer' } as const
export const ShadowPayloadSchema = z.object({
  runId: z.number().int().positive(),
  /** The customer message the live reply answered. */
  mid: z.string().min(1),
  igUserId: z.string().min(1),
  /** The conversation as the live reply saw it (system, memory, the customer's message). */
  messages: z.array(
    z.object({
      role: z.enum(['system', 'user', 'assistant']),
      content: z.union([z.string(), z.array(z.any())]),
    }),
  ),
  /** The reply that was sent (the reference the shadow answer is scored against). */
  sentText: z.string(),
})
export type ShadowPayload = z.infer<typeof ShadowPayloadSchema>
export const shadowJobId = (runId: number, mid: string) => safeJobId('shadow', String(runId), mid)
/**
 * A shadow answer is best effort: one retry, then dropped (it never affects a customer). The job
 * holds the conversation's text, so it is removed as soon as it is done (failures are logged).
 */
export const SHADOW_JOB_OPTIONS: JobsOptions = {
  attempts: 2,
  backoff: { type: 'fixed', delay: 5_000 },
  removeOnComplete: true,
  removeOnFail: true,
}

/**
 * A manual job on a queue whose payload gives no natural id (retention, retirement, manual export
 * and tune): unique, so every request runs once.
 */
export const manualJobId = (queue: string, unique: string) => safeJobId(queue, 'manual', unique)

export const ALL_QUEUES = [
  DM_QUEUE,
  EXPORT_QUEUE,
  TUNE_QUEUE,
  EVALUATE_QUEUE,
  RETENTION_QUEUE,
  RETIREMENT_QUEUE,
  SHADOW_QUEUE,
] as const
export type QueueName = (typeof ALL_QUEUES)[number]

/**
 * Scheduler ids: one per name, upserted by the queue's owner in every replica (BullMQ job
 * schedulers are idempotent). `CLEANUP_CRON` drives both retention and retirement.
 */
export const SCHEDULERS = {
  export: 'export-nightly',
  tune: 'tune-weekly',
  retention: 'retention-monthly',
  retireModels: 'retirement-monthly',
} as const
