/** Instagram rejects message texts over 1000 characters. */
export const IG_MAX_CHARS = 1000

/**
 * Splits a reply into parts of at most `max` characters (UTF-16 units, which never undercounts
 * Instagram's limit), preferring paragraph, then sentence, then word boundaries; a single word
 * longer than `max` is cut without splitting a surrogate pair. Parts are trimmed; empty ones dropped.
 */
export function splitReply(text: string, max = IG_MAX_CHARS): string[] {
  const parts: string[] = []
  let rest = text.trim()
  while (rest.length > max) {
    const window = rest.slice(0, max + 1)
    const cut =
      lastBoundary(window, /\n\s*\n/g, max) ??
      lastBoundary(window, /[.!?…。！？]["'”’)\]]*\s+/g, max) ??
      lastBoundary(window, /\s+/g, max) ??
      hardCut(rest, max)
    parts.push(rest.slice(0, cut).trim())
    rest = rest.slice(cut).trim()
  }
  if (rest.length > 0) parts.push(rest)
  return parts.filter((p) => p.length > 0)
}

/** Where to cut: after the last boundary (its punctuation kept) that leaves a part of ≤ max, or null. */
function lastBoundary(window: string, re: RegExp, max: number): number | null {
  let best: number | null = null
  for (const m of window.matchAll(re)) {
    const cut = m.index + m[0].trimEnd().length
    // Keep parts meaningful: never cut before a quarter of the limit.
    if (cut <= max && cut >= max / 4) best = cut
  }
  return best
}

function hardCut(s: string, max: number): number {
  const code = s.charCodeAt(max - 1)
  // Do not separate a high surrogate from its low surrogate.
  return code >= 0xd800 && code <= 0xdbff ? max - 1 : max
}
