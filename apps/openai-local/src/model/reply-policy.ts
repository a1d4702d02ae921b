/**
 * What an openai-local base model "says": a fixed, generic, deterministic reply policy. A few
 * keyword rules pick a canned answer for the last user turn; anything else gets the default. It
 * knows nothing specific about any shop — that is what fine-tuning adds.
 */
export const DEFAULT_REPLY = 'Thanks for your message! A team member will get back to you soon.'

const RULES: ReadonlyArray<{ test: RegExp; reply: string }> = [
  {
    test: /\b(ship|shipping|deliver|delivery|postage|track|tracking)\b/i,
    reply: 'Thanks for asking about delivery! Shipping options and costs are shown at checkout.',
  },
  {
    test: /\b(price|prices|cost|costs|how much|discount|sale)\b/i,
    reply: 'Thanks for your interest! You can find current prices on our website.',
  },
  {
    test: /\b(open|opening|hours|close|closing)\b/i,
    reply: 'Thanks for reaching out! Our opening hours are listed on our profile.',
  },
  {
    test: /\b(return|returns|refund|exchange|broken|damaged)\b/i,
    reply: "Sorry to hear that! Please send us your order number and we'll help you right away.",
  },
  { test: /\b(thanks|thank you|thx)\b/i, reply: "You're welcome! Let us know if there's anything else." },
  { test: /^\s*(hi|hello|hey|hallo|hola|bonjour)\b/i, reply: 'Hi there! How can we help you today?' },
]

export function baseReply(lastUserText: string, opts: { hasImage?: boolean } = {}): string {
  if (opts.hasImage && lastUserText.trim() === '')
    return 'Thanks for the picture! A team member will take a look.'
  for (const r of RULES) if (r.test.test(lastUserText)) return r.reply
  return DEFAULT_REPLY
}
