import { redactPII } from '@loopdm/training-data/redaction'

/**
 * PII in model output, by the same rules the exporter redacts training data with
 * (packages/training-data/src/redaction.ts): the kinds found, empty when the reply is clean.
 */
export function detectPII(text: string): string[] {
  const { counts } = redactPII(text)
  return Object.entries(counts)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([t]) => t)
}
