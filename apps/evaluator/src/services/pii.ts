/**
 * PII detection for model output. Until the shared redaction module (packages/shared/src/redaction.ts,
 * issue 7) is on main this is a minimal local check; the evaluator only needs "does this reply
 * contain PII, and of which kinds".
 */
const RULES: Array<[type: string, re: RegExp]> = [
  ['EMAIL', /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/],
  ['URL', /\b(?:https?:\/\/|www\.)\S+|\b[a-z0-9-]+\.(?:com|de|net|org|io|shop|eu|co)\b/i],
  ['HANDLE', /(?:^|[\s(])@[A-Za-z0-9_.]{2,30}\b/],
  ['PHONE', /(?:\+|00)\d[\d\s().-]{7,}\d|\b0\d{2,4}[\s/.-]?\d{3,}[\s.-]?\d{2,}\b/],
  ['IBAN', /\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){3,7}\b/],
  ['CARD', /\b(?:\d[ -]?){13,19}\b/],
]

export function detectPII(text: string): string[] {
  return RULES.filter(([, re]) => re.test(text)).map(([t]) => t)
}
