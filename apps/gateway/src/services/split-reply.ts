/** The Send API rejects a text over 1000 bytes of UTF-8 (not characters). */
export const IG_MAX_BYTES = 1000
/** @deprecated the limit is in bytes: use IG_MAX_BYTES. */
export const IG_MAX_CHARS = IG_MAX_BYTES

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8')

/**
 * Splits a reply into parts of at most `maxBytes` UTF-8 bytes, preferring paragraph, then
 * sentence, then word boundaries; a single word longer than the limit is cut between code points,
 * never inside a multi-byte character or a surrogate pair. Parts are trimmed; empty ones dropped.
 */
export function splitReply(text: string, maxBytes = IG_MAX_BYTES): string[] {
  const parts: string[] = []
  let rest = text.trim()
  while (utf8(rest) > maxBytes) {
    const fit = fittingPrefix(rest, maxBytes)
    const window = rest.slice(0, fit)
    const cut =
      lastBoundary(window, /\n\s*\n/g, fit) ??
      lastBoundary(window, /[.!?…。！？]["'”’)\]]*\s+/g, fit) ??
      lastBoundary(window, /\s+/g, fit) ??
      fit
    parts.push(rest.slice(0, cut).trim())
    rest = rest.slice(cut).trim()
  }
  if (rest.length > 0) parts.push(rest)
  return parts.filter((p) => p.length > 0)
}

/** UTF-16 length of the longest prefix of whole code points that fits in `maxBytes` (≥ 1 code point). */
function fittingPrefix(s: string, maxBytes: number): number {
  let bytes = 0
  let i = 0
  for (const cp of s) {
    const b = utf8(cp)
    if (bytes + b > maxBytes) break
    bytes += b
    i += cp.length
  }
  return Math.max(i, s.codePointAt(0)! > 0xffff ? 2 : 1)
}

/** Where to cut: after the last boundary (its punctuation kept) inside the window, or null. */
function lastBoundary(window: string, re: RegExp, fit: number): number | null {
  let best: number | null = null
  // The window may end mid-boundary; a boundary match must end at or before the window's end.
  for (const m of window.matchAll(re)) {
    const cut = m.index + m[0].trimEnd().length
    // Keep parts meaningful: never cut before a quarter of the window.
    if (cut <= fit && cut >= fit / 4 && cut > 0) best = cut
  }
  return best
}
