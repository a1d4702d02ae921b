import type { ActiveModel } from '@loopdm/models/registry'
import type { Logger } from '@loopdm/platform/logger'
import type { OpenAI } from '@loopdm/platform/openai'
import type { DmMessagePayload } from '@loopdm/queues/contracts'
import { userMessage } from '../services/media-description.js'
import type { CompletionResult, ModelRouter } from '../services/model-router.js'

/**
 * The completion for a reply whose last message is the customer's. With images, a provider 400
 * (it could not download an image: the CDN URL expired or is unreachable) is answered again
 * without the images — the customer gets a text-only answer rather than no answer.
 */
export async function completeWithImageFallback(
  deps: { router: Pick<ModelRouter, 'complete'>; logger: Logger },
  args: {
    messages: OpenAI.Chat.ChatCompletionMessageParam[]
    images: string[]
    active: ActiveModel | null
    p: DmMessagePayload
  },
): Promise<CompletionResult> {
  const { messages, images, active, p } = args
  try {
    return await deps.router.complete({ messages, hasImage: images.length > 0, active, mid: p.mid })
  } catch (err) {
    if (images.length === 0 || (err as { status?: number }).status !== 400) throw err
    deps.logger.warn(
      { mid: p.mid, images: images.length, err: (err as Error).message },
      'the provider could not use the image(s); answering text-only',
    )
    const textOnly = [...messages.slice(0, -1), userMessage(p, [])]
    return deps.router.complete({ messages: textOnly, hasImage: false, active, mid: p.mid })
  }
}
