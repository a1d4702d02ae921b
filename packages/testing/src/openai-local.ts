/** openai-local for tests, so app tests need not import another app. */
export { type OpenAILocal, startOpenAILocal } from '@loopdm/openai-local/server'
