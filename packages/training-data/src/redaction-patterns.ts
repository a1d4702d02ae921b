/**
 * Patterns and checks behind redaction.ts: every regex is compiled once at module load. No `u`
 * flag (it makes V8's matcher slower): non-ASCII letters are the ranges in `UNI`, which leave out
 * punctuation, symbols, CJK punctuation and surrogates (emoji), so "…", "’", "€", "。" and 😊
 * still end a word, while "ü", "ñ", "д", "中", "み" are letters of it.
 */

/** Non-ASCII letter ranges, for use inside a character class. */
export const UNI =
  '\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u1FFF\\u2C00-\\u2DFF\\u3040-\\uD7FF\\uF900-\\uFDCF\\uFE70-\\uFEFC\\uFF21-\\uFF3A\\uFF41-\\uFF5A\\uFF66-\\uFFDC'
const AL = `A-Za-z0-9${UNI}`
/** A DNS label: letters (any script) and digits, inner hyphens ("xn--bcher-kva" included). */
const LABEL = `[${AL}](?:[${AL}-]{0,61}[${AL}])?`
/** A TLD after an '@' or '//': any ASCII TLD, a punycode TLD, or one in another script. */
const ANY_TLD = `(?:[A-Za-z]{2,24}|xn--[A-Za-z0-9-]{2,59}|[${UNI}]{2,24})`

/** Every URL, email and domain has a dot followed by a letter; prices and times do not. */
export const DOT_LETTER_RE = new RegExp(`\\.[A-Za-z${UNI}]`)

export const EMAIL_RE = new RegExp(
  `(?<![\\w.%+\\-${UNI}])[${AL}][${AL}._%+\\-]*@${LABEL}(?:\\.${LABEL})*\\.${ANY_TLD}(?![\\w\\-${UNI}])`,
  'g',
)

/** "name(at)domain.de", "name [at] domain [dot] de": obfuscated addresses are still addresses. */
export const EMAIL_OBFUSCATED_RE =
  /(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*\s?[[(]at[\])]\s?[A-Za-z0-9-]+(?:(?:\.|\s?[[(]dot[\])]\s?)[A-Za-z0-9-]+)*(?:\.|\s?[[(]dot[\])]\s?)[A-Za-z]{2,24}(?![\w-])/gi

/** What a URL's path may hold: no space, quote or angle bracket, no CJK / full-width punctuation. */
const URL_CHARS = `[^\\s<>"'\`\\u2018-\\u201F\\u3000-\\u303F\\uFF01-\\uFF0F\\uFF1A-\\uFF20]`

/** With a scheme, "www." or a scheme-relative "//host.tld" every host and TLD counts. */
export const SCHEME_URL_RE = new RegExp(
  `\\b(?:https?|ftp):\\/\\/${URL_CHARS}+|(?<![\\w@.\\-${UNI}])www\\.${URL_CHARS}+|(?<![\\w:/.${UNI}])\\/\\/${LABEL}(?:\\.${LABEL})*\\.${ANY_TLD}(?![\\w\\-${UNI}])(?::\\d{2,5})?(?:[/?#]${URL_CHARS}*)?`,
  'gi',
)

/**
 * TLDs recognised in bare domains ("shop.de", "bit.ly/x"). Deliberately leaves out TLDs that are
 * also file extensions or words glued to a full stop (zip, mov, md, py, rs, sh, to, is, no, us,
 * ai, id, my …): "invoice.pdf" and "readme.md" must survive. With a scheme or www. every TLD is
 * caught. `so` and `xxx` are in, but judged (RISKY_TLDS): "ok.so", "thanks.xxx" are no domains.
 */
const TLDS = (
  'com net org info biz edu gov int mil io co uk de at ch fr it es nl be eu pl pt se dk fi ie cz gr hu ' +
  'ro ru ua tr ca au nz br mx ar cl pe ve uy ec jp cn kr tw hk sg th vn ph in pk il za ng ke eg ma tn ' +
  'ae sa qa kw bg hr si sk ba mk al by kz ge az uz su ir me tv ly gl gg ee lt lv li lu ws so tk cc fm ' +
  'vc la nu cx xxx shop store online site website app dev link xyz page blog club fashion boutique ' +
  'travel news media studio design art live life world today tech cloud digital agency email network ' +
  'space top vip wiki one pro name mobi asia tel museum jobs berlin hamburg wien koeln nyc london ' +
  'paris tokyo ninja guru rocks social academy global gallery events photography market stream style ' +
  'beauty clothing jewelry shoes fitness yoga cafe restaurant hotel tours holiday company business ' +
  'solutions services support tools systems center city photos pics video film music games casino ' +
  'poker finance insurance capital legal health clinic dental school college university education ' +
  'training science energy auto cars taxi moda golf bio eco'
)
  .split(' ')
  .sort((a, b) => b.length - a.length)
  .join('|')
/** Country second-level domains: co.il, com.au, org.uk, ac.jp, gob.mx … */
const CC_SLD = '(?:co|com|net|org|gov|gob|edu|ac|or|ne|go|nic|mil|ltd|plc|sch)\\.[a-z]{2}'
/** Internationalised TLDs in their own script (.中国, .みんな, .рф …) and in punycode. */
const IDN_TLDS =
  '中国|中國|香港|台灣|台湾|新加坡|澳門|みんな|コム|世界|公司|网络|網絡|在线|网站|商城|移动|我爱你|中文网|рф|укр|бел|срб|мкд|қаз|онлайн|сайт|орг|ком|москва|дети|한국|닷컴|ไทย|ελ|ευ|xn--[a-z0-9-]{2,59}'
export const RISKY_TLDS = new Set(['so', 'xxx'])
/**
 * "ok.so", "love you guys.xxx" are words glued to a full stop. A bare "name.so" / "name.xxx" is a
 * domain only with a sign of one: a digit or hyphen in the name, a path, a subdomain, or a word
 * that introduces a link right before it ("on notion.so", "website: x.so").
 */
export const DOMAIN_SIGN_RE = /[\d-]|^[^/]*\.[^/]*\.|[/:?#]/
export const LINK_WORD_RE =
  /(?<![A-Za-zÀ-ÿ])(?:on|at|auf|unter|bei|sur|su|op|visit|see|site|website|web|homepage|page|link|check|via|from|url|domain|go to|is|was)\W{0,3}$/i

export const BARE_DOMAIN_RE = new RegExp(
  `(?<![\\w@.\\-/${UNI}])(?:${LABEL}\\.)+(?:${CC_SLD}|${TLDS}|${IDN_TLDS})(?![\\w\\-${UNI}]|\\.[a-z0-9${UNI}])(?::\\d{2,5})?(?:[/?#]${URL_CHARS}*)?`,
  'gi',
)

/**
 * Spelled-out addresses: "anna dot schmidt at gmail dot com", "paul punkt meier at gmx punkt de",
 * "nina.k @ gmail.com". " at " is an everyday word ("look at zara.com"), so a match only counts when
 * the local part has a separator (dot, punkt, '.', '_') or the domain is a mail provider.
 */
const SPELLED_DOT = String.raw`\s(?:dot|punkt)\s`
export const SPELLED_EMAIL_RE = new RegExp(
  String.raw`(?<![\w.%+-])([a-z][a-z0-9._%+-]*(?:${SPELLED_DOT}[a-z0-9_%+-]+)*)\s(?:at|@)\s([a-z0-9-]+)(?:(?:${SPELLED_DOT}|\.)[a-z0-9-]+)*(?:${SPELLED_DOT}|\.)(?:${TLDS})(?![\w-]|\.[a-z0-9])`,
  'gi',
)
export const SPELLED_GATE_RE = /\s(?:at|@)\s/i
export const LOCAL_SEP_RE = /[._]|\s(?:dot|punkt)\s/i
export const MAIL_PROVIDERS = new Set(
  (
    'gmail googlemail gmx web yahoo ymail hotmail outlook live msn icloud aol t-online posteo proton ' +
    'protonmail mailbox freenet arcor online orange free sfr laposte wanadoo libero virgilio tiscali ' +
    'alice ziggo kpnmail telenet skynet bluewin hispeed yandex zoho'
  ).split(' '),
)

/**
 * @handles: letters (any script), digits, '.', '_', at most 30, at least one letter or '_'. Not after
 * a word character or a symbol that censors a word ("f!@kn", "$#@!", "sh*@t"); not before '/'
 * ("@types/node" is a package scope).
 */
export const HANDLE_RE = new RegExp(
  `(?<![\\w@.!#$%&*+=?^~\\\\${UNI}])@(?=[A-Za-z0-9._${UNI}]*[A-Za-z_${UNI}])[A-Za-z0-9._${UNI}]{1,30}(?![\\w@/${UNI}])`,
  'g',
)
export const TIME_LIKE_RE = /^@\d{1,2}(?::\d{2})?(?:am|pm|h|uhr)?$/i

/** Groups of four split by spaces or dashes ("DE89-3704-…"). */
export const IBAN_RE =
  /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]{4}){2,7}(?:[ -]?[A-Za-z0-9]{1,3})?(?![A-Za-z0-9])/g

/** 4-4-4(-4(-3)), Amex 4-6-5, or a bare run of 12–19 digits (12 only for Maestro, see isCard). */
export const CARD_RE =
  /(?<![\d+-])(?:\d{4}([ -]?)\d{4}\1\d{4}(?:\1\d{4}(?:\1\d{3})?)?|\d{4}([ -]?)\d{6}\2\d{5}|\d{12,19})(?!\d)/g
const MAESTRO_RE = /^(?:5[06-9]|6)/

/** A Luhn-valid digit run right after "EAN", "SKU", "Sendungsnummer" … is a code, not a card. */
export const NOT_CARD_CONTEXT_RE =
  /(?:ean|gtin|upc|isbn|barcode|sku|art(?:ikel)?\.?[ -]?nr\.?|artikelnummer|tracking|sendung\w*|paket\w*|parcel|colis|order|bestell\w*)\W{0,4}$/i

const EXT = String.raw`,? ?(?:[Ee]xt|[Ee]xtension|EXT|[xX]|[Dd]urchwahl|DW|[Pp]oste|[Nn]ebenstelle)[.:]? ?(?:[Nn]o\.? ?)?\d{1,7}`
/**
 * A run of digits with phone separators, optionally led by '+' or '('; " - " and " / " too
 * ("0211 - 55 66 77", "0152 / 345 678 12"), and an extension ("x12", "ext. 7246433"). A letter may
 * precede it ("is415-555-0132") and so may a comma ("…4567,555-…"), both judged in replacePhone;
 * another digit, '/', '+' or '-' may not.
 */
export const PHONE_CANDIDATE_RE = new RegExp(
  String.raw`(?<![\d_/+-])(?:\+|\(\+?)?\d(?:(?:[ .\-/]{0,2}| [-/] )\(?\d\)?)+(${EXT})?`,
  'g',
)
export const SPACED_SEP_RE = / [-/] /
export const SPACED_SEP_SPLIT_RE = / ([-/]) /g
/** Splits a candidate into pieces and the separators between them: [piece, sep, piece, …]. */
export const PIECE_SPLIT_RE = /( [-/] | )/
export const SEPARATOR_RE = /[ .\-/()]/
/** Phone words; whole words only, so "bestellungen" is no "tel" and "Bestellnummer" no "nummer". */
const PHONE_KEYWORD_RE =
  /(?<![A-Za-zÀ-ÿ])(?:phone|telephone|t[ée]l[ée]phone|tel[ée]fono|telefone|tel|telefon\w*|fax|telefax|fon|call|ring|whats ?app|mobile|mob|mobil\w*|m[óo]vil|cell|cel|celular|handy\w*|natel|tlf|tfn|sms|text me|reach me|my number|number is|(?:ruf|kontakt|festnetz)?nummer|numéro|appelle)\W{0,4}(?:\w+\W{1,3}){0,2}$/i
/** A one-letter label ("T: …", "F. …", "Ph: …") counts right before the number, with its colon or dot. */
const ONE_LETTER_LABEL_RE = /(?<![A-Za-zÀ-ÿ])(?:[tfmp]|ph) ?[:.]\s*$/i
/** "meine Nr", "my no." — a possessive number is a phone number, not an order number. */
const MY_NUMBER_RE =
  /(?<![A-Za-zÀ-ÿ])(?:my|meine?|mi|mon|mijn)\s+(?:nr|no|nummer|number|numéro|número|numero)\.?\s*:?\s*$/i
const NOT_PHONE_CONTEXT_RE =
  /(?:(?:order|invoice|tracking|ref|reference|#|no\.|nr\.?|bestell\w*|rechnung\w*|sendung\w*|article|art\.|sku|item|size|code|postcode|zip)\s*(?:number|no\.?|nr\.?|#|id)?|(?:customer|kunden|account)\s*(?:number|no\.?|nr\.?|#|id|nummer))\s*[:#]?\s*$/i
const DATE_LIKE_RE = /^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$/
const US_SHAPE_RE = /^(?:\+?1[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]\d{4}$/
const ES_SHAPE_RE = /^[6-9]\d{2}[ .-]\d{3}[ .-]\d{3}$/
const SEP_RUN_RE = /[ .\-/]{3,}/

export function luhn(digits: string): boolean {
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

/** 13–19 Luhn-valid digits; 12 only with a Maestro prefix (50, 56–69). */
export function isCard(digits: string): boolean {
  if (digits.length < 12 || digits.length > 19) return false
  if (digits.length === 12 && !MAESTRO_RE.test(digits)) return false
  return luhn(digits)
}

export function ibanValid(raw: string): boolean {
  const s = raw.replace(/[ -]/g, '').toUpperCase()
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

/** How many characters of `s` are not ' ' or '-' (its length once those are removed). */
export function compactLength(s: string): number {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 32 || c === 45) n--
  }
  return n
}

export function digitCount(s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 48 && c <= 57) n++
  }
  return n
}

/**
 * Filled by scanDigits: all digits of a text, and the most digits in one run of the characters a
 * phone candidate is written with (digits, space, . - / ( ) +) and a card candidate (digits, space, -).
 */
export const digitScan = { digits: 0, phoneRun: 0, cardRun: 0 }
export function scanDigits(s: string): void {
  let digits = 0
  let phone = 0
  let card = 0
  let phoneRun = 0
  let cardRun = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 48 && c <= 57) {
      digits++
      if (++phone > phoneRun) phoneRun = phone
      if (++card > cardRun) cardRun = card
    } else if (c === 46 || c === 47 || c === 40 || c === 41 || c === 43) card = 0
    else if (c !== 32 && c !== 45) {
      phone = 0
      card = 0
    }
  }
  digitScan.digits = digits
  digitScan.phoneRun = phoneRun
  digitScan.cardRun = cardRun
}

// The context judgement of the last `before` seen: segmentPhones asks about many runs after the
// same context, and these regexes are the costly part of isPhone.
let lastBefore: string | undefined
let lastMine = false
let lastNot = false
let lastKeyword = -1
function judgeContext(before: string): void {
  if (before === lastBefore) return
  lastBefore = before
  const context = before.slice(-40)
  lastMine = MY_NUMBER_RE.test(context)
  lastNot = !lastMine && NOT_PHONE_CONTEXT_RE.test(context)
  lastKeyword = -1
}
function hasPhoneKeyword(before: string): boolean {
  if (lastKeyword < 0) {
    const context = before.slice(-40)
    lastKeyword = PHONE_KEYWORD_RE.test(context) || ONE_LETTER_LABEL_RE.test(context) ? 1 : 0
  }
  return lastKeyword === 1
}

/** A shape that is a phone number wherever it stands: "+…", US "(415) 555-0132", ES "612 345 678". */
export function strongPhoneShape(cand: string): boolean {
  return cand.startsWith('+') || cand.startsWith('(+') || US_SHAPE_RE.test(cand) || ES_SHAPE_RE.test(cand)
}

/** `raw` (no extension) is a phone number given the 40 characters `before` it. */
export function isPhone(raw: string, before: string): boolean {
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
  judgeContext(before)
  if (lastMine) return true
  if (lastNot) return false
  if (cand.startsWith('+') || cand.startsWith('(+'))
    return digits >= 8 && !cand.replace(/^\(?\+?/, '').startsWith('0')
  if (cand.startsWith('00')) return digits >= 10
  if (cand.startsWith('0') || cand.startsWith('(0')) return digits >= 9 && digits <= 13
  if (US_SHAPE_RE.test(cand) || ES_SHAPE_RE.test(cand)) return true
  return hasPhoneKeyword(before)
}
