import {
  type DmMessagePayload,
  DmMessagePayloadSchema,
  type DmReactionPayload,
} from '@loopdm/queues/contracts'
import { z } from 'zod'

/**
 * Instagram messaging webhooks (`object: "instagram"`, `entry[].messaging[]`). Only the outer
 * shape is strict — a payload that is not Instagram's is rejected with a clear reason — while
 * event kinds we do not handle (reads, deliveries, postbacks, edits …) are skipped.
 */
const IdSchema = z.object({ id: z.union([z.string(), z.number()]).transform(String) })

export const WebhookBodySchema = z.object({
  object: z.literal('instagram', { error: 'expected object "instagram"' }),
  entry: z.array(
    z.object({
      id: z.union([z.string(), z.number()]).transform(String).optional(),
      time: z.number().optional(),
      messaging: z.array(z.record(z.string(), z.unknown())).optional(),
    }),
    { error: 'expected entry to be an array' },
  ),
})

const AttachmentSchema = z.object({
  type: z.string(),
  payload: z.object({ url: z.string().optional() }).partial().nullish(),
})
const MessageEventSchema = z.object({
  sender: IdSchema,
  recipient: IdSchema,
  timestamp: z.number().optional(),
  message: z.object({
    mid: z.string().min(1),
    text: z.string().optional(),
    is_echo: z.boolean().optional(),
    is_deleted: z.boolean().optional(),
    is_unsupported: z.boolean().optional(),
    attachments: z.array(AttachmentSchema).optional(),
  }),
})
const ReactionEventSchema = z.object({
  sender: IdSchema,
  recipient: IdSchema,
  timestamp: z.number().optional(),
  reaction: z.object({
    mid: z.string().min(1),
    action: z.enum(['react', 'unreact']),
    reaction: z.string().optional(),
    emoji: z.string().optional(),
  }),
})

export interface ParsedWebhook {
  messages: DmMessagePayload[]
  reactions: DmReactionPayload[]
  /** Events seen but not handled (echoes, reads, deliveries, others). */
  skipped: number
}

const KNOWN_ATTACHMENTS = new Set(['image', 'video', 'audio', 'file', 'share', 'story_mention'])

export class WebhookShapeError extends Error {
  override name = 'WebhookShapeError'
}

/** Parses a verified, JSON-decoded webhook body. Throws WebhookShapeError for a non-Instagram shape. */
export function parseWebhook(body: unknown, receivedAt = Date.now()): ParsedWebhook {
  const outer = WebhookBodySchema.safeParse(body)
  if (!outer.success) {
    const issue = outer.error.issues[0]
    throw new WebhookShapeError(
      `not an Instagram webhook: ${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'bad shape'}`,
    )
  }
  const out: ParsedWebhook = { messages: [], reactions: [], skipped: 0 }
  for (const entry of outer.data.entry) {
    for (const ev of entry.messaging ?? []) {
      if ('message' in ev) {
        const m = MessageEventSchema.safeParse(ev)
        const msg = m.success ? m.data.message : undefined
        if (!m.success || !msg || msg.is_echo || msg.is_deleted || msg.is_unsupported) {
          out.skipped++
          continue
        }
        const attachments = (msg.attachments ?? []).map((a) => ({
          type: (KNOWN_ATTACHMENTS.has(a.type)
            ? a.type
            : 'other') as DmMessagePayload['attachments'][number]['type'],
          ...(a.payload?.url ? { url: a.payload.url } : {}),
        }))
        out.messages.push(
          DmMessagePayloadSchema.parse({
            mid: msg.mid,
            igUserId: m.data.sender.id,
            igAccountId: m.data.recipient.id,
            text: msg.text ?? '',
            attachments,
            timestamp: Math.trunc(m.data.timestamp ?? receivedAt),
            receivedAt,
          }),
        )
      } else if ('reaction' in ev) {
        const r = ReactionEventSchema.safeParse(ev)
        if (!r.success) {
          out.skipped++
          continue
        }
        out.reactions.push({
          mid: r.data.reaction.mid,
          igUserId: r.data.sender.id,
          igAccountId: r.data.recipient.id,
          action: r.data.reaction.action,
          reaction: r.data.reaction.reaction,
          emoji: r.data.reaction.emoji,
          timestamp: Math.trunc(r.data.timestamp ?? receivedAt),
        })
      } else {
        // read, delivery, postback, message_edit, referral …
        out.skipped++
      }
    }
  }
  return out
}

/** The image URL of a message, if it carries one (the router sends it to the vision model). */
export function imageUrlOf(m: Pick<DmMessagePayload, 'attachments'>): string | undefined {
  return m.attachments.find((a) => a.type === 'image' && a.url)?.url
}
