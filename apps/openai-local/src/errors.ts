/**
 * OpenAI-shaped errors: every failure answers `{"error":{"message","type","param","code"}}` with
 * the status OpenAI uses, so the SDK raises the same error classes it would against the real API.
 */
export class OpenAIApiError extends Error {
  readonly statusCode: number
  readonly type: string
  readonly param: string | null
  readonly code: string | null
  constructor(
    statusCode: number,
    message: string,
    opts: { type?: string; param?: string | null; code?: string | null } = {},
  ) {
    super(message)
    this.name = 'OpenAIApiError'
    this.statusCode = statusCode
    this.type = opts.type ?? defaultType(statusCode)
    this.param = opts.param ?? null
    this.code = opts.code ?? null
  }

  toBody() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}

function defaultType(status: number): string {
  if (status === 401) return 'invalid_request_error'
  if (status === 429) return 'requests'
  if (status >= 500) return 'server_error'
  return 'invalid_request_error'
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new OpenAIApiError(400, message, { param, code })

export const modelNotFound = (model: string) =>
  new OpenAIApiError(404, `The model \`${model}\` does not exist or you do not have access to it.`, {
    code: 'model_not_found',
    param: 'model',
  })

export const notFound = (message: string, param: string | null = null) =>
  new OpenAIApiError(404, message, { param })
