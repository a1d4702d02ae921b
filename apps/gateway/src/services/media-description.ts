import type { OpenAI } from '@loopdm/platform/openai'
import type { DmContext, DmMessagePayload } from '@loopdm/queues/contracts'

/**
 * What the model is told about a customer message beyond its text: every image as an image part
 * (the vision model sees all of them), a short description of other media (type and the caption or
 * title Meta gives), and the context Meta delivered (reply_to, quick reply, postback, ad referral).
 */
type Attachment = DmMessagePayload['attachments'][number]

const LABELS: Record<Attachment['type'], string> = {
  image: 'a photo',
  video: 'a video',
  audio: 'a voice message',
  file: 'a file',
  share: 'a shared post',
  story_mention: 'a story that mentions the shop',
  reel: 'a reel',
  post: 'a post',
  sticker: 'a sticker',
  other: 'an attachment',
}

/** "(the customer sent a reel: “Linen in summer”)" for each non-image attachment, or for images the vision model will not see. */
export function describeAttachments(attachments: Attachment[], opts: { imagesShown: boolean }): string[] {
  return attachments
    .filter((a) => !(opts.imagesShown && a.type === 'image' && a.url))
    .map((a) => `(the customer sent ${LABELS[a.type]}${a.title ? `: “${a.title.slice(0, 200)}”` : ''})`)
}

/** One line of context for the model, or null. */
export function describeContext(
  ctx: DmContext | undefined,
  source?: DmMessagePayload['source'],
): string | null {
  const bits: string[] = []
  if (source === 'postback') bits.push('the customer tapped a button / ice breaker')
  if (ctx?.replyTo?.storyId || ctx?.replyTo?.storyUrl)
    bits.push('the customer is replying to one of the shop’s stories')
  else if (ctx?.replyTo?.mid) bits.push('the customer is replying to an earlier message')
  if (ctx?.quickReply) bits.push(`the customer tapped the quick reply “${ctx.quickReply.slice(0, 100)}”`)
  const ref = ctx?.referral
  if (ref)
    bits.push(
      ref.source === 'ADS' || ref.adId
        ? `the customer came from an ad${ref.adTitle ? ` (“${ref.adTitle.slice(0, 100)}”)` : ''}`
        : `the customer came from a link${ref.ref ? ` (ref ${ref.ref.slice(0, 50)})` : ''}`,
    )
  return bits.length > 0 ? `[context: ${bits.join('; ')}]` : null
}

/**
 * The text stored for the turn: the customer's text, else a description of the non-image media
 * they sent (images are stored as `has_image`/`image_url`, and the exporter marks them itself).
 */
export function turnText(p: Pick<DmMessagePayload, 'text' | 'attachments'>): string {
  if (p.text) return p.text
  return describeAttachments(
    p.attachments.filter((a) => a.type !== 'image'),
    { imagesShown: false },
  ).join(' ')
}

/**
 * The user message given to the model. `imageUrls` are the images still usable (see
 * `usableImageUrls`); with none it is text only.
 */
export function userMessage(
  p: Pick<DmMessagePayload, 'text' | 'attachments' | 'context' | 'source'>,
  imageUrls: string[],
): OpenAI.Chat.ChatCompletionUserMessageParam {
  const lines = [
    describeContext(p.context, p.source),
    p.text || null,
    ...describeAttachments(p.attachments, { imagesShown: imageUrls.length > 0 }),
  ].filter((l): l is string => !!l)
  const text = lines.join('\n') || '(the customer sent an empty message)'
  if (imageUrls.length === 0) return { role: 'user', content: text }
  return {
    role: 'user',
    content: [
      { type: 'text', text },
      ...imageUrls.map((url) => ({ type: 'image_url' as const, image_url: { url } })),
    ],
  }
}

/** Instagram CDN URLs carry their expiry as `oe=<hex unix seconds>`; without it, assume one hour. */
export const IMAGE_URL_DEFAULT_VALIDITY_MS = 3600_000

/** The image URLs whose validity has not run out at `now` (an expired one is answered text-only). */
export function usableImageUrls(
  p: Pick<DmMessagePayload, 'attachments' | 'receivedAt'>,
  now = Date.now(),
): string[] {
  return p.attachments
    .filter((a) => a.type === 'image' && a.url)
    .map((a) => a.url as string)
    .filter((url) => imageUrlExpiry(url, p.receivedAt) > now)
}

export function imageUrlExpiry(url: string, receivedAt: number): number {
  try {
    const oe = new URL(url).searchParams.get('oe')
    if (oe && /^[0-9a-f]+$/i.test(oe)) return Number.parseInt(oe, 16) * 1000
  } catch {}
  return receivedAt + IMAGE_URL_DEFAULT_VALIDITY_MS
}
