import type {
  DmChangePayload,
  DmContext,
  DmEchoPayload,
  DmMessagePayload,
  DmReactionPayload,
} from '@loopdm/queues/contracts'
import { z } from 'zod'
import { plainMessageEvent } from './webhook-fast-path.js'

/**
 * Instagram messaging webhooks (`object: "instagram"`, `entry[].messaging[]`), Instagram Login and
 * Facebook Login alike. Meta redelivers any non-2xx for up to 36 h and unsubscribes an app that
 * keeps failing, so every signed, well-formed JSON body is accepted: another object (`page`),
 * `changes[]` deliveries (the dashboard's Test button, comments), standby/handover, reads and
 * referrals are counted as skipped; one malformed event is skipped without failing its batch.
 */
const Id = z.union([z.string().min(1), z.number()]).transform(String)
const Party = z.object({ id: Id })
const Base = z.object({ sender: Party, recipient: Party, timestamp: z.number().optional() })

const AttachmentSchema = z.object({
  type: z.string(),
  payload: z
    .object({ url: z.string().optional(), title: z.string().optional() })
    .partial()
    .passthrough()
    .nullish(),
})
const ReferralSchema = z
  .object({
    ref: z.string().optional(),
    source: z.string().optional(),
    type: z.string().optional(),
    ad_id: z.union([z.string(), z.number()]).transform(String).optional(),
    ads_context_data: z.object({ ad_title: z.string().optional() }).partial().passthrough().optional(),
  })
  .passthrough()
const MessageSchema = z.object({
  mid: z.string().min(1),
  text: z.string().optional(),
  is_echo: z.boolean().optional(),
  is_self: z.boolean().optional(),
  is_deleted: z.boolean().optional(),
  is_unsupported: z.boolean().optional(),
  attachments: z.array(AttachmentSchema).optional(),
  quick_reply: z.object({ payload: z.string() }).optional(),
  reply_to: z
    .object({
      mid: z.string().optional(),
      story: z.object({ id: Id.optional(), url: z.string().optional() }).partial().optional(),
    })
    .partial()
    .optional(),
  referral: ReferralSchema.optional(),
})
const MessageEvent = Base.extend({ message: MessageSchema })
export type MessageEventData = z.infer<typeof MessageEvent>
/** The schema a message event is checked against (the fast path agrees with it; see its test). */
export const MessageEventSchema = MessageEvent
const ReactionEvent = Base.extend({
  reaction: z.object({
    mid: z.string().min(1),
    action: z.enum(['react', 'unreact']),
    reaction: z.string().optional(),
    emoji: z.string().optional(),
  }),
})
const PostbackEvent = Base.extend({
  postback: z.object({
    mid: z.string().min(1),
    title: z.string().optional(),
    payload: z.string().optional(),
  }),
})
const EditEvent = Base.extend({
  message_edit: z.object({ mid: z.string().min(1), text: z.string().optional() }),
})

export interface ParsedWebhook {
  messages: DmMessagePayload[]
  reactions: DmReactionPayload[]
  /** Messages our account sent: the gateway's own replies, or staff replying in the Instagram app. */
  echoes: DmEchoPayload[]
  /** The customer edited or unsent a message. */
  changes: DmChangePayload[]
  /** Events seen but not handled (reads, referrals, standby, other objects, malformed events). */
  skipped: number
  /** Events that did not match Meta's documented shape (skipped; logged by the route). */
  malformed: number
}

type Attachment = DmMessagePayload['attachments'][number]
const ATTACHMENT_TYPES: Record<string, Attachment['type']> = {
  image: 'image',
  animated_image: 'image',
  video: 'video',
  audio: 'audio',
  file: 'file',
  share: 'share',
  story_mention: 'story_mention',
  reel: 'reel',
  ig_reel: 'reel',
  ig_post: 'post',
  post: 'post',
  sticker: 'sticker',
}

function attachmentsOf(raw: z.infer<typeof AttachmentSchema>[] | undefined): Attachment[] {
  return (raw ?? []).map((a) => ({
    type: ATTACHMENT_TYPES[a.type] ?? 'other',
    ...(a.payload?.url ? { url: a.payload.url } : {}),
    ...(a.payload?.title ? { title: a.payload.title } : {}),
  }))
}

function contextOf(msg: z.infer<typeof MessageSchema>): DmContext | undefined {
  const ctx: DmContext = {}
  const rt = msg.reply_to
  if (rt?.mid || rt?.story)
    ctx.replyTo = {
      ...(rt.mid ? { mid: rt.mid } : {}),
      ...(rt.story?.id ? { storyId: rt.story.id } : {}),
      ...(rt.story?.url ? { storyUrl: rt.story.url } : {}),
    }
  if (msg.quick_reply) ctx.quickReply = msg.quick_reply.payload
  if (msg.referral) ctx.referral = referralOf(msg.referral)
  return Object.keys(ctx).length > 0 ? ctx : undefined
}

function referralOf(r: z.infer<typeof ReferralSchema>): NonNullable<DmContext['referral']> {
  return {
    ...(r.source ? { source: r.source } : {}),
    ...(r.type ? { type: r.type } : {}),
    ...(r.ref ? { ref: r.ref } : {}),
    ...(r.ad_id ? { adId: r.ad_id } : {}),
    ...(r.ads_context_data?.ad_title ? { adTitle: r.ads_context_data.ad_title } : {}),
  }
}

/** Parses a verified, JSON-decoded webhook body. Never throws: what it cannot use it counts. */
export function parseWebhook(body: unknown, receivedAt = Date.now()): ParsedWebhook {
  const out: ParsedWebhook = {
    messages: [],
    reactions: [],
    echoes: [],
    changes: [],
    skipped: 0,
    malformed: 0,
  }
  const b = body as { object?: unknown; entry?: unknown } | null
  if (!b || typeof b !== 'object' || b.object !== 'instagram' || !Array.isArray(b.entry)) {
    out.skipped++
    return out
  }
  for (const entry of b.entry as Array<Record<string, unknown> | null>) {
    const own =
      entry && (typeof entry.id === 'string' || typeof entry.id === 'number') ? String(entry.id) : null
    const events = entry && Array.isArray(entry.messaging) ? entry.messaging : []
    if (!entry || !Array.isArray(entry.messaging)) out.skipped++ // changes[], standby, malformed entry
    for (const ev of events) parseEvent(ev, own, receivedAt, out)
  }
  return out
}

/** An event's timestamp, or the arrival time (not a closure per event: tsx's keepNames wraps those). */
const tsOf = (t: number | undefined, receivedAt: number) => Math.trunc(t ?? receivedAt)

/** A plain text message (the fast path let no flag, attachment or context through), pushed as below. */
function plainMessage(e: MessageEventData, own: string | null, receivedAt: number, out: ParsedWebhook): void {
  const sender = e.sender.id
  const recipient = e.recipient.id
  if (sender === recipient || (own !== null && sender === own)) {
    out.skipped++
    return
  }
  out.messages.push({
    mid: e.message.mid,
    igUserId: sender,
    igAccountId: recipient,
    timestamp: tsOf(e.timestamp, receivedAt),
    text: e.message.text ?? '',
    attachments: [],
    receivedAt,
  })
}

function parseEvent(ev: unknown, own: string | null, receivedAt: number, out: ParsedWebhook): void {
  if (!ev || typeof ev !== 'object') {
    out.malformed++
    return
  }
  if ('message' in ev) {
    // A plain text message skips the schema (the webhook's hot path); anything else is parsed by it.
    const plain = plainMessageEvent(ev)
    if (plain) {
      plainMessage(plain, own, receivedAt, out)
      return
    }
    const m = MessageEvent.safeParse(ev)
    if (!m.success) {
      out.malformed++
      return
    }
    const { sender, recipient, message: msg } = m.data
    if (msg.is_echo) {
      out.echoes.push({
        mid: msg.mid,
        igUserId: recipient.id,
        igAccountId: sender.id,
        text: msg.text ?? '',
        attachments: attachmentsOf(msg.attachments),
        timestamp: tsOf(m.data.timestamp, receivedAt),
        receivedAt,
      })
      return
    }
    const base = {
      mid: msg.mid,
      igUserId: sender.id,
      igAccountId: recipient.id,
      timestamp: tsOf(m.data.timestamp, receivedAt),
    }
    if (msg.is_deleted) {
      out.changes.push({ kind: 'delete', ...base, receivedAt })
      return
    }
    // Meta's is_self test messages, and anything our own account sent to itself: never answered.
    if (
      msg.is_self ||
      msg.is_unsupported ||
      sender.id === recipient.id ||
      (own !== null && sender.id === own)
    ) {
      out.skipped++
      return
    }
    const context = contextOf(msg)
    out.messages.push({
      ...base,
      text: msg.text ?? '',
      attachments: attachmentsOf(msg.attachments),
      ...(context ? { context } : {}),
      receivedAt,
    })
    return
  }
  parseOtherEvent(ev, own, receivedAt, out)
}

function parseOtherEvent(ev: object, own: string | null, receivedAt: number, out: ParsedWebhook): void {
  if ('reaction' in ev) {
    const r = ReactionEvent.safeParse(ev)
    if (!r.success) return void out.malformed++
    out.reactions.push({
      mid: r.data.reaction.mid,
      igUserId: r.data.sender.id,
      igAccountId: r.data.recipient.id,
      action: r.data.reaction.action,
      reaction: r.data.reaction.reaction,
      emoji: r.data.reaction.emoji,
      timestamp: tsOf(r.data.timestamp, receivedAt),
    })
  } else if ('postback' in ev) {
    const p = PostbackEvent.safeParse(ev)
    if (!p.success) return void out.malformed++
    if (own !== null && p.data.sender.id === own) return void out.skipped++
    out.messages.push({
      mid: p.data.postback.mid,
      igUserId: p.data.sender.id,
      igAccountId: p.data.recipient.id,
      text: p.data.postback.title ?? p.data.postback.payload ?? '',
      attachments: [],
      source: 'postback',
      ...(p.data.postback.payload ? { context: { postback: p.data.postback.payload } } : {}),
      timestamp: tsOf(p.data.timestamp, receivedAt),
      receivedAt,
    })
  } else if ('message_edit' in ev) {
    const e = EditEvent.safeParse(ev)
    if (!e.success) return void out.malformed++
    out.changes.push({
      kind: 'edit',
      mid: e.data.message_edit.mid,
      igUserId: e.data.sender.id,
      igAccountId: e.data.recipient.id,
      text: e.data.message_edit.text ?? '',
      timestamp: tsOf(e.data.timestamp, receivedAt),
      receivedAt,
    })
  } else {
    // read (messaging_seen), delivery, referral (existing thread), standby, pass_thread_control …
    out.skipped++
  }
}

/** Every image URL of a message, in order (all of them go to the vision model). */
export function imageUrlsOf(m: Pick<DmMessagePayload, 'attachments'>): string[] {
  return m.attachments.filter((a) => a.type === 'image' && a.url).map((a) => a.url as string)
}

/** The first image URL of a message, if any. */
export function imageUrlOf(m: Pick<DmMessagePayload, 'attachments'>): string | undefined {
  return imageUrlsOf(m)[0]
}
