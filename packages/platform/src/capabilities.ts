/**
 * What a chat model accepts, by model id. OpenAI's reasoning models (o-series, gpt-5 family)
 * reject `max_tokens` (they take `max_completion_tokens`) and any `temperature` but the default;
 * every current chat model accepts `max_completion_tokens`, so Loop DM always sends that. Used by
 * the router, the promotion probe, the evaluator and the judge so no request is built by hand.
 * An `ft:<base>:…` id has its base's capabilities.
 */
export interface ChatCapabilities {
  /** False: the request must not carry `temperature` (only the default 1 is accepted). */
  temperature: boolean
  reasoning: boolean
}

const REASONING = /^(o\d(-mini|-pro)?|gpt-5(-mini|-nano|-pro)?)(-\d{4}-\d{2}-\d{2})?$/

/** The base model id of a fine-tuned `ft:<base>:<org>:<suffix>:<id>` model (else the id itself). */
export const baseOf = (model: string) => (model.startsWith('ft:') ? (model.split(':')[1] ?? model) : model)

export function chatCapabilities(model: string): ChatCapabilities {
  const reasoning = REASONING.test(baseOf(model))
  return { reasoning, temperature: !reasoning }
}

/**
 * The sampling part of a chat request for `model`: `max_completion_tokens` always, and
 * `temperature` only where the model accepts it.
 */
export function completionLimit(
  model: string,
  maxTokens: number,
  temperature?: number,
): { max_completion_tokens: number; temperature?: number } {
  const caps = chatCapabilities(model)
  return temperature === undefined || !caps.temperature
    ? { max_completion_tokens: maxTokens }
    : { max_completion_tokens: maxTokens, temperature }
}
