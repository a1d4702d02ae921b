import { redactPII } from '@loopdm/shared/redaction'

/**
 * PII in model output, by the same rules the exporter redacts training data with
 * (packages/shared/src/redaction.ts): the kinds found, empty when the reply is clean.
 */
export function detectPII(text: string): string[] {
  const { counts } = redactPII(text)
  return Object.entries(counts)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([t]) => t)
}
