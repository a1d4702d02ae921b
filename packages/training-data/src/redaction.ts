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

const EMAIL_RE =
  /(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])/g

/** "name(at)domain.de", "name [at] domain [dot] de": obfuscated addresses are still addresses. */
const EMAIL_OBFUSCATED_RE =
  /(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*\s?[[(]at[\])]\s?[A-Za-z0-9-]+(?:(?:\.|\s?[[(]dot[\])]\s?)[A-Za-z0-9-]+)*(?:\.|\s?[[(]dot[\])]\s?)[A-Za-z]{2,24}(?![\w-])/gi

const SCHEME_URL_RE = /\b(?:https?|ftp):\/\/[^\s<>"'`]+|(?<![\w@.-])www\.[^\s<>"'`]+/gi

/**
 * TLDs recognised in bare domains ("shop.de", "bit.ly/x"). Deliberately leaves out TLDs that are
 * also file extensions or words glued to a full stop (zip, mov, md, py, rs, sh, to, is, so, no, us,
 * ai …): "invoice.pdf" and "readme.md" must survive. With a scheme or www. every TLD is caught.
 */
const TLDS = [
  'com',
  'net',
  'org',
  'info',
  'biz',
  'edu',
  'gov',
  'io',
  'co',
  'co.uk',
  'uk',
  'de',
  'at',
  'ch',
  'fr',
  'it',
  'es',
  'nl',
  'be',
  'eu',
  'pl',
  'pt',
  'se',
  'dk',
  'fi',
  'ie',
  'cz',
  'gr',
  'hu',
  'ro',
  'ru',
  'ua',
  'tr',
  'ca',
  'au',
  'nz',
  'br',
  'mx',
  'ar',
  'jp',
  'cn',
  'kr',
  'in',
  'me',
  'tv',
  'ly',
  'gl',
  'gg',
  'ee',
  'lt',
  'lv',
  'li',
  'lu',
  'shop',
  'store',
  'online',
  'site',
  'website',
  'app',
  'dev',
  'link',
  'xyz',
  'page',
  'blog',
  'club',
  'fashion',
  'boutique',
]
  .sort((a, b) => b.length - a.length)
  .map((t) => t.replace('.', '\\.'))
  .join('|')

const BARE_DOMAIN_RE = new RegExp(
  `(?<![\\w@.\\-/\\[])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+(?:${TLDS})(?![\\w-]|\\.[a-z0-9])(?::\\d{2,5})?(?:/[^\\s<>"'\`]*)?`,
  'gi',
)

/**
 * Spelled-out addresses: "anna dot schmidt at gmail dot com", "paul punkt meier at gmx punkt de",
 * "nina.k @ gmail.com". " at " is an everyday word ("look at zara.com"), so a match only counts when
 * the local part has a separator (dot, punkt, '.', '_') or the domain is a mail provider.
 */
const SPELLED_DOT = String.raw`\s(?:dot|punkt)\s`
const SPELLED_EMAIL_RE = new RegExp(
  String.raw`(?<![\w.%+-])([a-z][a-z0-9._%+-]*(?:${SPELLED_DOT}[a-z0-9_%+-]+)*)\s(?:at|@)\s([a-z0-9-]+)(?:(?:${SPELLED_DOT}|\.)[a-z0-9-]+)*(?:${SPELLED_DOT}|\.)(?:${TLDS})(?![\w-]|\.[a-z0-9])`,
  'gi',
)
const SPELLED_GATE_RE = /\s(?:at|@)\s/i
const LOCAL_SEP_RE = /[._]|\s(?:dot|punkt)\s/i
const MAIL_PROVIDERS = new Set(
  (
    'gmail googlemail gmx web yahoo ymail hotmail outlook live msn icloud aol t-online posteo proton ' +
    'protonmail mailbox freenet arcor online orange free sfr laposte wanadoo libero virgilio tiscali ' +
    'alice ziggo kpnmail telenet skynet bluewin hispeed yandex zoho'
  ).split(' '),
)

/** Instagram usernames: letters, digits, '.', '_', at most 30; at least one letter or '_'. */
const HANDLE_RE = /(?<![\w@.])@(?=[A-Za-z0-9._]*[A-Za-z_])[A-Za-z0-9._]{1,30}(?![\w@])/g
const TIME_LIKE_RE = /^@\d{1,2}(?::\d{2})?(?:am|pm|h|uhr)?$/i

const IBAN_RE =
  /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?(?![A-Za-z0-9])/g

const CARD_RE =
  /(?<![\d+-])(?:\d{4}([ -]?)\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?|\d{4}([ -]?)\d{6}\2\d{5}|\d{13,19})(?!\d)/g

/** A Luhn-valid digit run right after "EAN", "SKU", "Sendungsnummer" … is a code, not a card. */
const NOT_CARD_CONTEXT_RE =
  /(?:ean|gtin|upc|isbn|barcode|sku|art(?:ikel)?\.?[ -]?nr\.?|artikelnummer|tracking|sendung\w*|paket\w*|parcel|colis|order|bestell\w*)\W{0,4}$/i

/**
 * A run of digits with phone separators, optionally led by '+' or '('; " - " and " / " too
 * ("0211 - 55 66 77", "0152 / 345 678 12").
 */
const PHONE_CANDIDATE_RE = /(?<![\w,/+-])(?:\+|\(\+?)?\d(?:(?:[ .\-/]{0,2}| [-/] )\(?\d\)?)+/g
const SPACED_SEP_RE = / [-/] /
const SPACED_SEP_SPLIT_RE = / ([-/]) /g
/** Phone words; whole words only, so "bestellungen" is no "tel" and "Bestellnummer" no "nummer". */
const PHONE_KEYWORD_RE =
  /(?<![A-Za-zÀ-ÿ])(?:phone|tel|telefon\w*|call|ring|whats ?app|mobile|mobil\w*|cell|handy\w*|natel|sms|text me|reach me|my number|number is|(?:ruf|kontakt|festnetz)?nummer|numéro|appelle)\W{0,4}(?:\w+\W{1,3}){0,2}$/i
/** "meine Nr", "my no." — a possessive number is a phone number, not an order number. */
const MY_NUMBER_RE =
  /(?<![A-Za-zÀ-ÿ])(?:my|meine?|mi|mon|mijn)\s+(?:nr|no|nummer|number|numéro|número|numero)\.?\s*:?\s*$/i
const NOT_PHONE_CONTEXT_RE =
  /(?:(?:order|invoice|tracking|ref|reference|#|no\.|nr\.?|bestell\w*|rechnung\w*|sendung\w*|article|art\.|sku|item|size|code|postcode|zip)\s*(?:number|no\.?|nr\.?|#|id)?|(?:customer|kunden|account)\s*(?:number|no\.?|nr\.?|#|id|nummer))\s*[:#]?\s*$/i
const DATE_LIKE_RE = /^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$/
const US_SHAPE_RE = /^(?:\+?1[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]\d{4}$/
const ES_SHAPE_RE = /^[6-9]\d{2}[ .-]\d{3}[ .-]\d{3}$/
const SEP_RUN_RE = /[ .\-/]{3,}/

function luhn(digits: string): boolean {
  let sum = 0
  let double = false
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48
    if (double) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
    double = !double
  }
  return sum % 10 === 0
}

function ibanValid(raw: string): boolean {
  const s = raw.replace(/ /g, '').toUpperCase()
  if (s.length < 15 || s.length > 34) return false
  const re = s.slice(4) + s.slice(0, 4)
  let rem = 0
  for (let i = 0; i < re.length; i++) {
    const c = re.charCodeAt(i)
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97
    else return false
  }
  return rem === 1
}

function digitCount(s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 48 && c <= 57) n++
  }
  return n
}

function isPhone(raw: string, before: string): boolean {
  let cand = raw
  if (SPACED_SEP_RE.test(raw)) {
    // "01.03.26 - 05.03.26" is a date range, not one number.
    if (raw.split(SPACED_SEP_SPLIT_RE).some((p) => DATE_LIKE_RE.test(p))) return false
    cand = raw.replace(SPACED_SEP_SPLIT_RE, '$1')
  }
  if (SEP_RUN_RE.test(cand)) return false
  const digits = digitCount(cand)
  if (digits < 7 || digits > 15) return false
  if (DATE_LIKE_RE.test(cand)) return false
  const context = before.slice(-40)
  if (MY_NUMBER_RE.test(context)) return true
  if (NOT_PHONE_CONTEXT_RE.test(context)) return false
  const bare = cand.replace(/^\(?\+?/, '')
  if (cand.startsWith('+') || cand.startsWith('(+')) return digits >= 8 && !bare.startsWith('0')
  if (cand.startsWith('00')) return digits >= 10
  if (cand.startsWith('0') || cand.startsWith('(0')) return digits >= 9 && digits <= 13
  if (US_SHAPE_RE.test(cand) || ES_SHAPE_RE.test(cand)) return true
  return PHONE_KEYWORD_RE.test(context)
}

// Replacers live at module scope (no closures per call: this runs on millions of messages);
// `counts` is the current call's tally.
let counts: PiiCounts = {}
const bump = (t: PiiType) => {
  counts[t] = (counts[t] ?? 0) + 1
}
const TRAIL_RE = /[.,;:!?)\]'"]+$/
const DOT_LETTER_RE = /\.[A-Za-z]/

const replaceEmail = () => {
  bump('EMAIL')
  return '[EMAIL]'
}
const replaceUrl = (m: string) => {
  const trail = TRAIL_RE.exec(m)?.[0] ?? ''
  bump('URL')
  return `[URL]${trail}`
}
const replaceIban = (m: string) => {
  // A trailing word may have been taken as a group: shrink group by group until valid.
  let cand = m
  while (cand.replace(/ /g, '').length >= 15) {
    if (ibanValid(cand)) {
      bump('IBAN')
      return `[IBAN]${m.slice(cand.length)}`
    }
    const cut = Math.max(cand.lastIndexOf(' '), cand.length - 4)
    cand = cand.slice(0, cut).trimEnd()
  }
  return m
}
const replaceCard = (m: string, ...rest: unknown[]) => {
  const digits = m.replace(/[ -]/g, '')
  if (digits.length < 13 || digits.length > 19 || !luhn(digits)) return m
  // (match, group 1, group 2, offset, whole)
  const offset = rest[2] as number
  const whole = rest[3] as string
  if (NOT_CARD_CONTEXT_RE.test(whole.slice(Math.max(0, offset - 20), offset))) return m
  bump('CARD')
  return '[CARD]'
}
const replacePhone = (m: string, offset: number, whole: string) => {
  // A candidate ends on a digit or ')'; drop a dangling ')' we did not open.
  let cand = m
  if (cand.endsWith(')') && !cand.slice(0, -1).includes('(')) cand = cand.slice(0, -1)
  const tail = m.slice(cand.length)
  if (!SPACED_SEP_RE.test(cand)) {
    if (!isPhone(cand, whole.slice(Math.max(0, offset - 40), offset))) return m
    bump('PHONE')
    return `[PHONE]${tail}`
  }
  // Pieces joined by " - " / " / ": one number ("0211 - 55 66 77"), two ("030 1234567 - 0172 9988776")
  // or none ("01.03.26 - 05.03.26"). From each piece on, the longest run of up to 3 pieces that is a
  // phone wins (at most 15 digits), so this stays linear.
  const parts = cand.split(SPACED_SEP_SPLIT_RE) // [piece, sep, piece, sep, …, piece]
  let out = ''
  let pos = offset
  let i = 0
  while (i < parts.length) {
    const before = whole.slice(Math.max(0, pos - 40), pos)
    let joined = ''
    let digits = 0
    let best = -1
    for (let j = i; j < parts.length && j <= i + 4; j += 2) {
      joined = j === i ? (parts[j] as string) : `${joined} ${parts[j - 1]} ${parts[j]}`
      digits += digitCount(parts[j] as string)
      if (digits > 15) break
      if (digits >= 7 && isPhone(joined, before)) best = j
    }
    const last = best < 0 ? i : best
    let span = parts[i] as string
    for (let j = i + 2; j <= last; j += 2) span += ` ${parts[j - 1]} ${parts[j]}`
    if (best < 0) out += span
    else {
      bump('PHONE')
      out += '[PHONE]'
    }
    pos += span.length
    if (last + 1 < parts.length) {
      out += ` ${parts[last + 1]} `
      pos += 3
    }
    i = last + 2
  }
  return out + tail
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
  if (hasDotWord) out = out.replace(SCHEME_URL_RE, replaceUrl)
  // Phones need ≥ 7 digits, cards ≥ 13, IBANs ≥ 12 (in 15+ characters): count once, skip the rest.
  const digits = digitCount(out)
  if (digits >= 7) {
    if (digits >= 12) {
      out = out.replace(IBAN_RE, replaceIban)
      out = out.replace(CARD_RE, replaceCard)
    }
    out = out.replace(PHONE_CANDIDATE_RE, replacePhone)
  }
  if (hasDotWord) out = out.replace(BARE_DOMAIN_RE, replaceUrl)
  if (hasAt) out = out.replace(HANDLE_RE, replaceHandle)
  result.text = out
  return result
}

/** Adds `b`'s counts into `a` (for run totals). */
export function addPiiCounts(a: PiiCounts, b: PiiCounts): PiiCounts {
  for (const [k, v] of Object.entries(b) as Array<[PiiType, number]>) a[k] = (a[k] ?? 0) + v
  return a
}
