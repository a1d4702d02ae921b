/**
 * PII redaction for training data: emails, phone numbers, URLs (with or without scheme, bare
 * domains), Instagram @handles, payment cards (Luhn-checked) and IBANs (mod-97 checked) become
 * typed placeholders. Precision matters as much as recall — the model must still learn prices,
 * times, dates, order numbers, sizes, versions and filenames — so every pattern is narrow and
 * numeric candidates are confirmed by a checksum or a phone-shape rule before they are replaced.
 *
 * Every regex is compiled once at module load; cheap character tests skip passes that cannot
 * match, so clean text costs a few `indexOf`s. Order matters: emails before handles and URLs (an
 * email contains both shapes), IBANs and cards before phones (both are digit runs).
 */

export type PiiType = 'EMAIL' | 'PHONE' | 'URL' | 'HANDLE' | 'CARD' | 'IBAN'
export type PiiCounts = Partial<Record<PiiType, number>>

export interface RedactionResult {
  text: string
  counts: PiiCounts
}

import {
  BARE_DOMAIN_RE,
  CARD_RE,
  compactLength,
  DOMAIN_SIGN_RE,
  DOT_LETTER_RE,
  digitCount,
  digitScan,
  EMAIL_OBFUSCATED_RE,
  EMAIL_RE,
  HANDLE_RE,
  IBAN_RE,
  ibanValid,
  isCard,
  isPhone,
  LINK_WORD_RE,
  LOCAL_SEP_RE,
  MAIL_PROVIDERS,
  NOT_CARD_CONTEXT_RE,
  PHONE_CANDIDATE_RE,
  PIECE_SPLIT_RE,
  RISKY_TLDS,
  SCHEME_URL_RE,
  SEPARATOR_RE,
  SPELLED_EMAIL_RE,
  SPELLED_GATE_RE,
  scanDigits,
  strongPhoneShape,
  TIME_LIKE_RE,
} from './redaction-patterns.js'

// Replacers live at module scope (no closures per call: this runs on millions of messages);
// `counts` is the current call's tally.
let counts: PiiCounts = {}
const bump = (t: PiiType) => {
  counts[t] = (counts[t] ?? 0) + 1
}
const TRAIL_RE = /[.,;:!?'"]+$/
const AREA_PAREN_RE = /^\(\+?\d{1,5}\)/
const LETTER_BEFORE_RE = /[A-Za-z\u00C0-\u024F\u0370-\u052F]/

/** Where a URL ends: before a closing bracket it did not open ("(see x.com/a)"), then trailing punctuation. */
function urlLength(m: string): number {
  let depth = 0
  let n = m.length
  for (let i = 0; i < m.length; i++) {
    const c = m.charCodeAt(i)
    if (c === 40 || c === 91 || c === 123) depth++
    else if (c === 41 || c === 93 || c === 125) {
      if (depth === 0) {
        n = i
        break
      }
      depth--
    }
  }
  const trail = TRAIL_RE.exec(m.slice(0, n))
  return trail ? n - trail[0].length : n
}

type Match = RegExpExecArray
type Replacer = (m: Match, whole: string) => string
/**
 * `s.replace(re, fn)` for a global `re`: the same matches in the same order, each replaced by what
 * `fn` returns. An exec loop, which V8 runs faster than a replace calling back from the runtime and
 * which builds nothing if nothing changes. Used for the IBAN and card passes only: with more
 * replacers behind this one call site it stops being inlined and the whole got slower (measured).
 */
function replaceEach(s: string, re: RegExp, fn: Replacer): string {
  re.lastIndex = 0
  let res = ''
  let from = 0
  for (;;) {
    const m = re.exec(s)
    if (m === null) return from === 0 ? s : res + s.slice(from)
    if (m[0].length === 0) re.lastIndex++ // as replace does, should a pattern ever match empty
    const rep = fn(m, s)
    if (rep === m[0]) continue
    res += s.slice(from, m.index) + rep
    from = m.index + m[0].length
  }
}

const replaceEmail = () => {
  bump('EMAIL')
  return '[EMAIL]'
}
const replaceUrl = (m: string) => {
  const n = urlLength(m)
  if (n === 0) return m
  bump('URL')
  return `[URL]${m.slice(n)}`
}
/** "ok.so", "love you guys.xxx": for RISKY_TLDS, a bare name needs a sign of a domain. */
const replaceBareUrl = (m: string, offset: number, whole: string) => {
  const tld = m.slice(m.lastIndexOf('.') + 1).toLowerCase()
  if (RISKY_TLDS.has(tld) && !DOMAIN_SIGN_RE.test(m)) {
    if (!LINK_WORD_RE.test(whole.slice(Math.max(0, offset - 20), offset))) return m
  }
  return replaceUrl(m)
}
const replaceIban = (match: Match) => {
  const m = match[0]
  // A trailing word may have been taken as a group: shrink group by group until valid.
  let cand = m
  while (compactLength(cand) >= 15) {
    if (ibanValid(cand)) {
      bump('IBAN')
      return `[IBAN]${m.slice(cand.length)}`
    }
    const cut = Math.max(cand.lastIndexOf(' '), cand.lastIndexOf('-'), cand.length - 4)
    cand = cand.slice(0, cut).replace(/[ -]+$/, '')
  }
  return m
}
const replaceCard = (match: Match, whole: string) => {
  const m = match[0]
  if (!isCard(m.replace(/[ -]/g, ''))) return m
  const offset = match.index
  if (NOT_CARD_CONTEXT_RE.test(whole.slice(Math.max(0, offset - 20), offset))) return m
  bump('CARD')
  return '[CARD]'
}

/**
 * Numbers in a row ("415-555-0132 415-555-0133", "order 12345 555-123-4567", "030 1234567 - 0172
 * 9988776"): from each piece on, the longest run of pieces that is a phone (≤ 15 digits) is one. A
 * run counts if all pieces are phones, or it has a shape that is a phone anywhere ("+…", US, ES),
 * or " - " / " / " set it apart, or the pieces beside it are short numbers; so a long code
 * ("0034 0434 1612 3456 7890") stays whole.
 */
function segmentPhones(cand: string, offset: number, whole: string): string {
  const parts = cand.split(PIECE_SPLIT_RE) // [piece, sep, piece, sep, …, piece]
  const segs: Array<{ span: string; phone: boolean; ok: boolean }> = []
  let pos = offset
  let i = 0
  while (i < parts.length) {
    const before = whole.slice(Math.max(0, pos - 40), pos)
    let joined = ''
    let digits = 0
    let best = -1
    let span = ''
    for (let j = i; j < parts.length && j <= i + 10; j += 2) {
      joined = j === i ? (parts[j] as string) : `${joined}${parts[j - 1]}${parts[j]}`
      digits += digitCount(parts[j] as string)
      if (digits > 15) break
      if (digits >= 7 && isPhone(joined, before)) {
        best = j
        span = joined
      }
    }
    const last = best < 0 ? i : best
    if (best < 0) span = parts[i] as string
    const bounded = (i === 0 || parts[i - 1] !== ' ') && (last + 1 >= parts.length || parts[last + 1] !== ' ')
    segs.push({ span, phone: best >= 0, ok: bounded || strongPhoneShape(span) })
    if (last + 1 < parts.length) segs.push({ span: parts[last + 1] as string, phone: false, ok: true })
    pos += span.length + (parts[last + 1]?.length ?? 0)
    i = last + 2
  }
  const all = segs.every((s, k) => k % 2 === 1 || s.phone)
  let out = ''
  for (let k = 0; k < segs.length; k++) {
    const s = segs[k] as (typeof segs)[number]
    if (s.phone && (all || s.ok || (smallNeighbour(segs, k, -1) && smallNeighbour(segs, k, 1)))) {
      bump('PHONE')
      out += '[PHONE]'
    } else out += s.span
  }
  return out
}
/** The piece beside a run across a plain space, if any, is a short number ("room 12 0151 2345678"). */
function smallNeighbour(segs: Array<{ span: string; phone: boolean }>, k: number, dir: 1 | -1): boolean {
  const sep = segs[k + dir]
  const next = segs[k + 2 * dir]
  return sep?.span !== ' ' || !next || next.phone || digitCount(next.span) <= 3
}

const replacePhone = (m: string, ext: string | undefined, offset: number, whole: string) => {
  // Most candidates are short runs (sizes, prices, dates): a phone has at least 7 digits.
  if (m.length < 7 || digitCount(m) < 7) return m
  let cand = ext ? m.slice(0, m.length - ext.length) : m
  // A candidate may start with '(' that encloses it rather than an area code, and end on a ')'
  // it did not open: both stay text.
  const lead = cand.startsWith('(') && !AREA_PAREN_RE.test(cand) ? '(' : ''
  cand = cand.slice(lead.length)
  const close = cand.endsWith(')') && cand.lastIndexOf('(') < 0 ? ')' : ''
  if (close) cand = cand.slice(0, -1)
  const rest = close + (ext ?? '')
  // Glued to a word ("is415-555-0132") only a number with separators is a phone; after a comma only
  // one with a phone shape ("…4567,555-987-6543", not "1,2345678").
  const prev = offset > 0 ? whole.charAt(offset - 1) : ''
  if (prev === ',' && !strongPhoneShape(cand)) return m
  if (prev && LETTER_BEFORE_RE.test(prev) && !SEPARATOR_RE.test(cand)) return m
  const before = whole.slice(Math.max(0, offset - 40), offset)
  if (isPhone(cand, before)) {
    bump('PHONE')
    return `${lead}[PHONE]${ext && !close ? '' : rest}`
  }
  if (!cand.includes(' ') || digitCount(cand) < 7) return m
  const out = segmentPhones(cand, offset + lead.length, whole)
  return lead + out + (ext && !close && out.endsWith('[PHONE]') ? '' : rest)
}
const replaceSpelledEmail = (m: string, local: string, domain: string) => {
  if (!LOCAL_SEP_RE.test(local) && !MAIL_PROVIDERS.has(domain.toLowerCase())) return m
  bump('EMAIL')
  return '[EMAIL]'
}
const replaceHandle = (m: string) => {
  let h = m
  while (h.endsWith('.')) h = h.slice(0, -1)
  if (h.length < 2 || TIME_LIKE_RE.test(h)) return m
  bump('HANDLE')
  return `[HANDLE]${m.slice(h.length)}`
}

/**
 * `s.replace(PHONE_CANDIDATE_RE, replacePhone)` as replaceEach does it, in a loop of its own (one
 * call site per loop keeps V8's calls inlined), without a call for the short runs (sizes, prices,
 * dates) that make up most candidates: a phone has at least 7 digits.
 */
function replacePhones(s: string): string {
  const re = PHONE_CANDIDATE_RE
  re.lastIndex = 0
  let res = ''
  let from = 0
  for (;;) {
    const m = re.exec(s)
    if (m === null) return from === 0 ? s : res + s.slice(from)
    const match = m[0]
    if (match.length < 7) continue
    const rep = replacePhone(match, m[1], m.index, s)
    if (rep === match) continue
    res += s.slice(from, m.index) + rep
    from = m.index + match.length
  }
}

/**
 * Whether the global `re` matches `s` at all. A replace with a callback costs far more than a test
 * even when nothing matches, and after the earlier passes most texts hold no URL or handle left.
 */
function found(re: RegExp, s: string): boolean {
  re.lastIndex = 0
  const hit = re.test(s)
  re.lastIndex = 0
  return hit
}

/** Redacts PII in `text`, returning the new text and how many of each type were replaced. */
export function redactPII(text: string): RedactionResult {
  counts = {}
  const result: RedactionResult = { text, counts }
  if (text.length === 0) return result
  let out = text
  const hasAt = out.includes('@')
  // Every URL, email and bare domain has a dot followed by a letter; prices and times do not.
  const hasDotWord = DOT_LETTER_RE.test(out)
  if (hasAt && hasDotWord) out = out.replace(EMAIL_RE, replaceEmail)
  if (out.includes('at)') || out.includes('at]')) out = out.replace(EMAIL_OBFUSCATED_RE, replaceEmail)
  if (SPELLED_GATE_RE.test(out)) out = out.replace(SPELLED_EMAIL_RE, replaceSpelledEmail)
  if (hasDotWord && found(SCHEME_URL_RE, out)) out = out.replace(SCHEME_URL_RE, replaceUrl)
  // Phones need ≥ 7 digits, cards ≥ 13, IBANs ≥ 12 (in 15+ characters): count once, skip the rest.
  // A card needs 12 digits and a phone 7 in one run of the characters they are written with
  // (placeholders only shorten runs), so texts whose digits are spread out skip those passes.
  scanDigits(out)
  if (digitScan.digits >= 7) {
    if (digitScan.digits >= 12) {
      out = replaceEach(out, IBAN_RE, replaceIban)
      if (digitScan.cardRun >= 12) out = replaceEach(out, CARD_RE, replaceCard)
    }
    if (digitScan.phoneRun >= 7) out = replacePhones(out)
  }
  if (hasDotWord && found(BARE_DOMAIN_RE, out)) out = out.replace(BARE_DOMAIN_RE, replaceBareUrl)
  if (hasAt && found(HANDLE_RE, out)) out = out.replace(HANDLE_RE, replaceHandle)
  result.text = out
  return result
}

/** Adds `b`'s counts into `a` (for run totals). */
export function addPiiCounts(a: PiiCounts, b: PiiCounts): PiiCounts {
  // for…in, not Object.entries: no array per call for the (usually empty) counts of one text.
  for (const k in b) a[k as PiiType] = (a[k as PiiType] ?? 0) + (b[k as PiiType] ?? 0)
  return a
}
