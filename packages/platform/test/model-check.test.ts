import { chatCapabilities, completionLimit } from '@loopdm/platform/capabilities'
import { checkConfiguredModels } from '@loopdm/platform/model-check'
import { createOpenAISdk } from '@loopdm/platform/openai'
import { captureLogger } from '@loopdm/testing/capture-logger'
import { testConfig } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/** The start-up models.list check and the request rules, against openai-local's catalog. */
describe('checkConfiguredModels', () => {
  let openai: OpenAILocal
  const run = (env: Record<string, string>, requireFineTuneBase = false) => {
    const config = testConfig({ OPENAI_BASE_URL: openai.baseURL, OPENAI_MAX_RETRIES: '0', ...env })
    const { logger, lines } = captureLogger()
    const sdk = createOpenAISdk({ config })
    return { lines, result: checkConfiguredModels({ sdk, config, logger, requireFineTuneBase }) }
  }
  beforeAll(async () => {
    openai = await startOpenAILocal({ port: 0 })
  })
  afterAll(async () => {
    await openai?.close()
  })

  describe('when every configured model is listed', () => {
    it('reports them all present and warns about nothing', async () => {
      const { lines, result } = run({ LEARNING_BACKEND: 'fine-tune', EVAL_JUDGE_MODEL: 'o4-mini' })
      const r = await result
      expect(r.listed).toBe(true)
      expect(r.checked.map((c) => c.variable)).toEqual([
        'BASE_MODEL',
        'VISION_MODEL',
        'EMBEDDING_MODEL',
        'FT_BASE_MODEL',
        'EVAL_JUDGE_MODEL',
      ])
      expect(r.missing).toEqual([])
      expect(lines.filter((l) => l.level === 40)).toEqual([])
    })
  })

  describe('when a configured model is shut down or unknown', () => {
    it('warns naming the variable and the model, and still lets the process start', async () => {
      const { lines, result } = run({ BASE_MODEL: 'gpt-3.5-turbo-0125', VISION_MODEL: 'gpt-4o-vision-typo' })
      const r = await result
      expect(r.missing).toEqual([
        { variable: 'BASE_MODEL', model: 'gpt-3.5-turbo-0125' },
        { variable: 'VISION_MODEL', model: 'gpt-4o-vision-typo' },
      ])
      const warnings = lines.filter((l) => l.level === 40).map((l) => String(l.msg))
      expect(warnings).toEqual([
        expect.stringMatching(/^BASE_MODEL=gpt-3\.5-turbo-0125 is not offered by the provider/),
        expect.stringMatching(/^VISION_MODEL=gpt-4o-vision-typo is not offered/),
      ])
    })

    it('refuses to start the tuner when LEARNING_BACKEND=fine-tune has no FT_BASE_MODEL to train', async () => {
      const env = { LEARNING_BACKEND: 'fine-tune', FT_BASE_MODEL: 'gpt-3.5-turbo-0125' }
      await expect(run(env, true).result).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
        message: expect.stringMatching(/FT_BASE_MODEL: gpt-3\.5-turbo-0125 is not offered/),
      })
      // The exemplar learner never trains: FT_BASE_MODEL is not even checked.
      const exemplars = await run({ FT_BASE_MODEL: 'gpt-3.5-turbo-0125' }, true).result
      expect(exemplars.checked.map((c) => c.variable)).not.toContain('FT_BASE_MODEL')
    })
  })

  describe('when the provider cannot list its models', () => {
    it('warns and checks nothing instead of failing the start', async () => {
      openai.faults.failNext(1, 500, { paths: '/v1/models' })
      const { lines, result } = run({})
      const r = await result
      expect(r).toEqual({ listed: false, checked: [], missing: [] })
      expect(lines).toContainEqual(
        expect.objectContaining({ level: 40, msg: expect.stringMatching(/models\.list/) }),
      )
    })
  })
})

describe('request rules (capability table)', () => {
  let openai: OpenAILocal
  beforeAll(async () => {
    openai = await startOpenAILocal({ port: 0 })
  })
  afterAll(async () => {
    await openai?.close()
  })

  it('knows the reasoning models and their ft: descendants', () => {
    expect(chatCapabilities('o4-mini')).toEqual({ reasoning: true, temperature: false })
    expect(chatCapabilities('o4-mini-2025-04-16').reasoning).toBe(true)
    expect(chatCapabilities('gpt-5-mini').reasoning).toBe(true)
    expect(chatCapabilities('ft:o4-mini-2025-04-16:shop::x1').reasoning).toBe(true)
    expect(chatCapabilities('gpt-4.1-mini')).toEqual({ reasoning: false, temperature: true })
    expect(completionLimit('gpt-4.1-mini', 50, 0)).toEqual({ max_completion_tokens: 50, temperature: 0 })
    expect(completionLimit('o4-mini', 50, 0)).toEqual({ max_completion_tokens: 50 })
  })

  it('builds requests a reasoning model accepts, where the old shape is refused with OpenAI’s error', async () => {
    const sdk = createOpenAISdk({
      config: testConfig({ OPENAI_BASE_URL: openai.baseURL, OPENAI_MAX_RETRIES: '0' }),
    })
    const messages = [{ role: 'user' as const, content: 'hello' }]
    for (const model of ['o4-mini', 'gpt-5-mini', 'gpt-4.1-mini']) {
      const r = await sdk.chat.completions.create({ model, messages, ...completionLimit(model, 50, 0) })
      expect(r.choices[0]?.message.content).toBeTruthy()
    }
    await expect(
      sdk.chat.completions.create({ model: 'o4-mini', messages, max_tokens: 50 }),
    ).rejects.toMatchObject({
      status: 400,
      param: 'max_tokens',
      code: 'unsupported_parameter',
    })
    await expect(
      sdk.chat.completions.create({ model: 'o4-mini', messages, max_completion_tokens: 50, temperature: 0 }),
    ).rejects.toMatchObject({ status: 400, param: 'temperature', code: 'unsupported_value' })
  })
})
