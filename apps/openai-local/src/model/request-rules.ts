import { invalidRequest } from '../errors.js'

/**
 * Request rules OpenAI applies per model family. Reasoning models (o-series, gpt-5) reject
 * `max_tokens` (they take `max_completion_tokens`) and any `temperature` but the default 1, with
 * these exact messages and codes. gpt-4o and gpt-4.1 still accept `max_tokens` (deprecated, not
 * refused), so older callers keep working.
 */
export function checkReasoningParams(body: { max_tokens?: unknown; temperature?: unknown }): void {
  if (body.max_tokens !== undefined && body.max_tokens !== null)
    throw invalidRequest(
      "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
      'max_tokens',
      'unsupported_parameter',
    )
  const t = body.temperature
  if (t !== undefined && t !== null && t !== 1)
    throw invalidRequest(
      `Unsupported value: 'temperature' does not support ${String(t)} with this model. Only the default (1) value is supported.`,
      'temperature',
      'unsupported_value',
    )
}
